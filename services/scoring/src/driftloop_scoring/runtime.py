"""The model runtime: one bundle's ONNX session, tuned for one-row latency, with everything per model precomputed.

Like an MLServer runtime it has ``load()``, ``predict()`` and ``ready``. ``load`` checks that the
graph's inputs and outputs are the ones the contract promises (driftloop.contract conventions),
so that a bundle which would fail on the first request is refused before it serves anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from driftloop.contract import ColumnKind, DataContract
from driftloop.registry import Bundle

from .errors import BundleRefusedError
from .validation import RecordValidator

log = logging.getLogger(__name__)

_ONNX_TYPES = {
    ColumnKind.NUMERIC: "tensor(float)",
    ColumnKind.BOOLEAN: "tensor(float)",
    ColumnKind.CATEGORICAL: "tensor(string)",
}


@dataclass(frozen=True)
class Prediction:
    """The raw outputs of one batch: class indices and probabilities, or regression values."""

    labels: np.ndarray | None
    probabilities: np.ndarray | None
    values: np.ndarray | None


def session_options() -> ort.SessionOptions:
    """One thread, sequential execution, every graph optimisation: the lowest latency for small batches.

    One request's rows are few; spreading them over threads costs more in hand-offs than it
    saves, and the event loop's thread is the one that runs them (more workers scale out).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


class ModelRuntime:
    """One loaded model version. Immutable once ``load`` has returned: swapping models swaps runtimes."""

    def __init__(
        self,
        bundle: Bundle,
        *,
        max_records: int = 1000,
        extra_columns: Literal["reject", "ignore"] = "reject",
        max_details: int = 20,
    ) -> None:
        self.bundle = bundle
        self.name = bundle.name
        self.version = bundle.version
        self.contract: DataContract = bundle.contract
        self.task = self.contract.task
        self.class_labels: list[Any] = list(self.contract.class_labels or [])
        # JSON object keys are text: probabilities are keyed by each label's text form.
        self.class_keys: list[str] = [str(label) for label in self.class_labels]
        self.input_names: list[str] = self.contract.column_names
        self.input_set = frozenset(self.input_names)
        self.output_names: list[str] = ["label", "probabilities"] if self.task.is_classification else ["variable"]
        self.validator = RecordValidator(
            self.contract, max_records=max_records, extra_columns=extra_columns, max_details=max_details
        )
        self._session: ort.InferenceSession | None = None

    @property
    def ready(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        """Open the session, check it against the contract, and warm it up; raises BundleRefusedError."""
        try:
            session = ort.InferenceSession(
                str(self.bundle.model_path), sess_options=session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises several types for an unreadable graph
            raise BundleRefusedError(f"{self.bundle.ref}: the ONNX graph cannot be loaded: {exc}") from exc
        self._check_signature(session)
        self._session = session
        self._warm_up()

    def predict(self, feeds: dict[str, np.ndarray]) -> Prediction:
        session = self._session
        if session is None:
            raise RuntimeError(f"{self.bundle.ref} is not loaded")
        outputs = session.run(self.output_names, feeds)
        if self.task.is_classification:
            return Prediction(labels=outputs[0], probabilities=outputs[1], values=None)
        return Prediction(labels=None, probabilities=None, values=outputs[0])

    def example_record(self) -> dict[str, Any]:
        """A plausible record built from the contract (OpenAPI examples and warm-up)."""
        return self.contract.example_record()

    def _check_signature(self, session: ort.InferenceSession) -> None:
        inputs = {item.name: item.type for item in session.get_inputs()}
        expected = {spec.name: _ONNX_TYPES[spec.kind] for spec in self.contract.columns}
        if inputs != expected:
            raise BundleRefusedError(
                f"{self.bundle.ref}: the graph's inputs {inputs} do not match the contract's columns {expected}"
            )
        outputs = {item.name for item in session.get_outputs()}
        missing = [name for name in self.output_names if name not in outputs]
        if missing:
            raise BundleRefusedError(f"{self.bundle.ref}: the graph has no output {missing} for a {self.task} model")
        if self.task.is_classification and not self.class_labels:
            raise BundleRefusedError(f"{self.bundle.ref}: a classifier's contract must list its class labels")

    def _warm_up(self) -> None:
        """Run a few batches so that the first real request does not pay for lazy allocations."""
        record = self.example_record()
        for size in sorted({1, min(16, self.validator.max_records)}):
            batch = self.validator.validate([record] * size)
            prediction = self.predict(batch.feeds)
            rows = len(prediction.labels if prediction.labels is not None else prediction.values)  # type: ignore[arg-type]
            if rows != size:
                raise BundleRefusedError(f"{self.bundle.ref}: warm-up returned {rows} rows for {size} records")
        log.info("model %s loaded and warmed up", self.bundle.ref, extra={"model": self.name, "version": self.version})


def check_compatible(current: DataContract, candidate: DataContract) -> list[str]:
    """Why ``candidate`` cannot replace ``current`` for the same callers (empty when it can).

    Callers keep sending the records they send today: the task must not change, and every
    column the new model requires must be one they already send, of the same kind.
    """
    problems = []
    if candidate.task is not current.task:
        problems.append(f"task changes from {current.task} to {candidate.task}")
    known = {spec.name: spec for spec in current.columns}
    for spec in candidate.columns:
        old = known.get(spec.name)
        if old is None and not spec.nullable:
            problems.append(f"new required column {spec.name!r}")
        elif old is not None and old.kind is not spec.kind:
            problems.append(f"column {spec.name!r} changes from {old.kind} to {spec.kind}")
    return problems
