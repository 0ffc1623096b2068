"""The promotion gate: challenger vs champion on the same holdout, with a paired bootstrap CI.

Both bundles' ONNX graphs (what scoring would run) score the same rows of recent labelled data.
The gain of the challenger on the optimised metric (ROC AUC for binary classifiers, accuracy for
multiclass ones, RMSE for regressors; signed so that positive is better) is resampled with the
same row indices for both models (paired), which cancels the noise the two share; the challenger
is promoted only when the lower bound of the interval exceeds the margin (for a binary
classifier: on ROC AUC or on accuracy, the labels it serves, and significantly worse on neither)
and the guardrail metric (log loss / MAE, lower is better) is not worse than the champion's by
more than the tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from driftloop.contract import DataContract, Task
from driftloop.errors import DataError
from driftloop.policy import GatePolicy
from driftloop.registry import Bundle
from driftloop.train.frame import encode_target
from driftloop.train.parity import onnx_output, onnx_session

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    function: Metric
    greater_is_better: bool


def _auc(y: np.ndarray, output: np.ndarray) -> float:
    scores = output[:, 1]
    positives = y == 1
    n_pos = int(positives.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)  # Mann-Whitney U: average ranks handle ties as sklearn's AUC does
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _accuracy(y: np.ndarray, output: np.ndarray) -> float:
    return float(np.mean(output.argmax(axis=1) == y))


def _log_loss(y: np.ndarray, output: np.ndarray) -> float:
    picked = np.clip(output[np.arange(len(y)), y], 1e-15, 1.0)
    return float(-np.mean(np.log(picked)))


def _rmse(y: np.ndarray, output: np.ndarray) -> float:
    return float(np.sqrt(np.mean((output - y) ** 2)))


def _mae(y: np.ndarray, output: np.ndarray) -> float:
    return float(np.mean(np.abs(output - y)))


PRIMARY = {
    Task.BINARY: MetricSpec("roc_auc", _auc, True),
    Task.MULTICLASS: MetricSpec("accuracy", _accuracy, True),
    Task.REGRESSION: MetricSpec("rmse", _rmse, False),
}
SERVED = {Task.BINARY: MetricSpec("accuracy", _accuracy, True)}
"""What the served labels get right, where it differs from the primary metric."""
GUARDRAIL = {
    Task.BINARY: MetricSpec("log_loss", _log_loss, False),
    Task.MULTICLASS: MetricSpec("log_loss", _log_loss, False),
    Task.REGRESSION: MetricSpec("mae", _mae, False),
}


def model_output(bundle: Bundle, holdout: pd.DataFrame, labels: list[Any] | None) -> np.ndarray:
    """The bundle's ONNX output on ``holdout``; class probabilities reordered to ``labels``."""
    contract = bundle.contract
    output = onnx_output(onnx_session(bundle.model_path.read_bytes()), holdout, contract)
    if labels is None or contract.class_labels == labels:
        return output
    own = {label: i for i, label in enumerate(contract.class_labels or [])}
    # A class the bundle never saw gets probability 0 from it.
    columns = [output[:, own[label]] if label in own else np.zeros(len(output)) for label in labels]
    return np.column_stack(columns)


def compare(
    champion: Bundle, challenger: Bundle, holdout: pd.DataFrame, policy: GatePolicy, *, seed: int = 0
) -> dict[str, Any]:
    """The decision and its evidence, as JSON-ready data (``promote`` says what to do)."""
    contract: DataContract = challenger.contract
    labelled = holdout[holdout[contract.target].notna()] if contract.target in holdout else holdout.iloc[:0]
    if len(labelled) < 10:
        raise DataError(
            f"the holdout has {len(labelled)} labelled rows of {contract.target!r}: at least 10 are needed "
            "to compare challenger and champion",
            details={"column": contract.target},
        )
    y = encode_target(labelled[contract.target], contract)
    labels = contract.class_labels if contract.task.is_classification else None
    champion_out = model_output(champion, labelled, labels)
    challenger_out = model_output(challenger, labelled, labels)
    primary, guardrail = PRIMARY[contract.task], GUARDRAIL[contract.task]
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(policy.bootstrap)]
    alpha = (1.0 - policy.confidence) / 2.0

    def interval(metric: MetricSpec) -> tuple[float, float, float, int]:
        """The challenger's gain on ``metric`` (signed: positive is better), its CI and the resamples
        that had a value, over the same paired draws for every metric."""
        sign = 1.0 if metric.greater_is_better else -1.0

        def gain(index: np.ndarray) -> float:
            yy = y[index]
            return sign * (metric.function(yy, challenger_out[index]) - metric.function(yy, champion_out[index]))

        resampled = np.array([gain(index) for index in draws])
        resampled = resampled[np.isfinite(resampled)]  # a resample with one class has no AUC
        if not len(resampled):
            return gain(np.arange(len(y))), float("nan"), float("nan"), 0
        low, high = (float(np.quantile(resampled, q)) for q in (alpha, 1.0 - alpha))
        return gain(np.arange(len(y))), low, high, len(resampled)

    total, low, high, resamples = interval(primary)
    if resamples < policy.bootstrap // 2:
        raise DataError(
            f"the holdout's {len(y)} rows cannot tell the models apart on {primary.name} "
            "(e.g. every label is the same class): the challenger was not promoted",
            details={"column": contract.target},
        )
    # A binary classifier serves labels, not rankings: a moved decision boundary leaves the ROC AUC
    # as it was and costs accuracy (SEA's concept change does exactly that), so accuracy counts too.
    served = interval(SERVED[contract.task]) if contract.task in SERVED else None

    champion_guard = guardrail.function(y, champion_out)
    challenger_guard = guardrail.function(y, challenger_out)
    allowed = champion_guard * (1.0 + policy.guardrail)
    guard_ok = challenger_guard <= allowed

    reasons = []
    better = low > policy.margin or (served is not None and served[1] > policy.margin)
    worse = [name for name, ci_high in [(primary.name, high), *([("accuracy", served[2])] if served else [])]
             if ci_high < -policy.margin]  # fmt: skip
    if not better:
        also = f", accuracy's [{served[1]:.4f}, {served[2]:.4f}]" if served else ""
        reasons.append(
            f"the {policy.confidence:.0%} CI of the {primary.name} gain is [{low:.4f}, {high:.4f}]{also}: "
            f"no lower bound exceeds the margin {policy.margin}"
        )
    if worse:
        reasons.append(f"the challenger is significantly worse on {', '.join(worse)}")
    if not guard_ok:
        reasons.append(
            f"guardrail {guardrail.name} got worse: {challenger_guard:.4f} vs the champion's "
            f"{champion_guard:.4f} (allowed up to {allowed:.4f})"
        )
    promote = not reasons
    if promote:
        also = f"; accuracy gain {served[0]:+.4f}, CI [{served[1]:.4f}, {served[2]:.4f}]" if served else ""
        reasons.append(
            f"{primary.name} gain {total:+.4f}, {policy.confidence:.0%} CI [{low:.4f}, {high:.4f}]{also}; "
            f"a lower bound above the margin {policy.margin}; {guardrail.name} within tolerance"
        )
    return {
        "promote": promote,
        "outcome": "promoted" if promote else "rejected",
        "reasons": reasons,
        "champion_version": champion.version,
        "challenger_version": challenger.version,
        "holdout_rows": len(y),
        "metric": primary.name,
        "greater_is_better": primary.greater_is_better,
        "champion_score": primary.function(y, champion_out),
        "challenger_score": primary.function(y, challenger_out),
        "gain": total,
        "ci": [low, high],
        "served_metric": {"metric": "accuracy", "gain": served[0], "ci": [served[1], served[2]]} if served else None,
        "confidence": policy.confidence,
        "resamples": resamples,
        "margin": policy.margin,
        "guardrail": {
            "metric": guardrail.name,
            "champion": champion_guard,
            "challenger": challenger_guard,
            "tolerance": policy.guardrail,
            "passed": bool(guard_ok),
        },
    }
