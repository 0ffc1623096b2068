"""Task metrics, computed from encoded targets and predicted probabilities or values."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, log_loss, mean_absolute_error, mean_squared_error, r2_score, roc_auc_score

from driftloop.contract import Task

# Metrics where a smaller value is better; the sweep compares scores through ``better``.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


def task_metrics(task: Task, y_true: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """Every metric of the task. ``output``: class probabilities ``[N, K]`` or values ``[N]``."""
    if not task.is_classification:
        values = np.asarray(output, dtype=np.float64).reshape(-1)
        return {
            "r2": float(r2_score(y_true, values)),
            "rmse": float(np.sqrt(mean_squared_error(y_true, values))),
            "mae": float(mean_absolute_error(y_true, values)),
        }
    probabilities = np.asarray(output, dtype=np.float64)
    n_classes = probabilities.shape[1]
    labels = np.arange(n_classes)
    predicted = probabilities.argmax(axis=1)
    if task is Task.BINARY:
        auc = roc_auc_score(y_true, probabilities[:, 1]) if len(np.unique(y_true)) == 2 else float("nan")
        f1 = f1_score(y_true, predicted, pos_label=1, zero_division=0.0)
    else:
        present = np.unique(y_true)
        # One-vs-rest AUC needs every class present; a fold missing one scores the classes it has.
        auc = (
            roc_auc_score(
                y_true, _renormalised(probabilities, present), multi_class="ovr", average="macro", labels=present
            )
            if len(present) > 1
            else float("nan")
        )
        f1 = f1_score(y_true, predicted, average="macro", labels=labels, zero_division=0.0)
    clipped = np.clip(probabilities, 1e-15, 1.0)
    return {
        "roc_auc": float(auc),
        "log_loss": float(log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=labels)),
        "f1": float(f1),
        "accuracy": float(np.mean(predicted == y_true)),
    }


def better(metric: str, candidate: float, incumbent: float | None) -> bool:
    """Whether ``candidate`` beats ``incumbent`` (strictly: ties keep the earlier trial)."""
    if incumbent is None or np.isnan(incumbent):
        return not np.isnan(candidate)
    return candidate < incumbent if metric in LOWER_IS_BETTER else candidate > incumbent


def sort_key(metric: str, score: float) -> float:
    """Ascending sort key: best first."""
    if np.isnan(score):
        return float("inf")
    return score if metric in LOWER_IS_BETTER else -score


def _renormalised(probabilities: np.ndarray, present: np.ndarray) -> np.ndarray:
    subset = probabilities[:, present]
    total = subset.sum(axis=1, keepdims=True)
    return np.asarray(subset / np.where(total > 0, total, 1.0))
