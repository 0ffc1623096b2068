"""The parity gate: the exported ONNX graph must give what the scikit-learn pipeline gives.

Both run on the same holdout rows. Classification: the largest absolute difference of any class
probability, and label agreement. A label may differ only where scikit-learn's two best classes
are within the tolerance of each other (a tie that float32 arithmetic may break either way);
any other flip fails the gate whatever the probabilities say. Regression: the largest difference
relative to ``max(1, |value|)``, since float32 carries about 7 significant digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from driftloop.contract import DataContract
from driftloop.train.frame import onnx_feeds

_WORST_ROWS = 5


@dataclass(frozen=True)
class ParityReport:
    rows: int
    tolerance: float
    max_abs_diff: float
    """Probability (classification) or relative value difference (regression)."""
    label_agreement: float | None
    label_flips: int
    unexplained_flips: int
    """Flips where scikit-learn's top two classes were not tied within the tolerance."""
    worst_rows: list[Any]
    """Row labels of the data (0-based data row numbers for a file) with the largest differences."""

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.unexplained_flips == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "tolerance": self.tolerance,
            "max_abs_diff": float(self.max_abs_diff),
            "label_agreement": self.label_agreement,
            "label_flips": self.label_flips,
            "unexplained_flips": self.unexplained_flips,
            "worst_rows": self.worst_rows,
            "passed": self.passed,
        }

    def describe(self) -> str:
        verdict = "passed" if self.passed else "failed"
        flips = f", {self.label_flips} label flips ({self.unexplained_flips} not ties)" if self.label_flips else ""
        return (
            f"{verdict}: max difference {self.max_abs_diff:.3g} (tolerance {self.tolerance:g}){flips}"
            f" over {self.rows} rows; worst rows {self.worst_rows}"
        )


def onnx_session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_output(session: ort.InferenceSession, frame: pd.DataFrame, contract: DataContract) -> np.ndarray:
    """Probabilities ``[N, K]`` or values ``[N]`` from the graph, as float64."""
    name = "probabilities" if contract.task.is_classification else "variable"
    (output,) = session.run([name], onnx_feeds(frame, contract))
    values = np.asarray(output, dtype=np.float64)
    return values if contract.task.is_classification else values.reshape(-1)


def check_parity(
    reference: np.ndarray, session: ort.InferenceSession, frame: pd.DataFrame, contract: DataContract, tolerance: float
) -> ParityReport:
    """Compare scikit-learn's ``reference`` output on ``frame`` with the ONNX graph's."""
    produced = onnx_output(session, frame, contract)
    if contract.task.is_classification:
        per_row = np.abs(produced - reference).max(axis=1)
        expected_labels, produced_labels = reference.argmax(axis=1), produced.argmax(axis=1)
        flipped = expected_labels != produced_labels
        top_two = np.sort(reference, axis=1)[:, -2:]
        tied = (top_two[:, 1] - top_two[:, 0]) <= tolerance
        agreement: float | None = float(1.0 - flipped.mean())
        flips, unexplained = int(flipped.sum()), int((flipped & ~tied).sum())
        # A flip is the worst kind of difference: list those rows first.
        ranking = np.lexsort((-per_row, ~flipped))
    else:
        per_row = np.abs(produced - reference) / np.maximum(1.0, np.abs(reference))
        agreement, flips, unexplained = None, 0, 0
        ranking = np.argsort(-per_row, kind="stable")
    worst = [_plain(frame.index[i]) for i in ranking[:_WORST_ROWS] if per_row[i] > 0 or flips]
    return ParityReport(
        rows=len(frame),
        tolerance=tolerance,
        max_abs_diff=float(per_row.max()) if len(per_row) else 0.0,
        label_agreement=agreement,
        label_flips=flips,
        unexplained_flips=unexplained,
        worst_rows=worst,
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
