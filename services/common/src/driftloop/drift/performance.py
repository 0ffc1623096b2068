"""Task metrics over the labelled part of a window, in numpy/scipy (the forwarder has no scikit-learn).

The definitions follow ``driftloop.train.metrics`` (which uses scikit-learn at training time), so
that a window's figure is comparable with the holdout figure recorded in metrics.json: binary F1
on the positive class (index 1), macro F1 over the classes for multiclass, one-vs-rest macro ROC
AUC over the classes present.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from driftloop.contract import Task
from driftloop.drift.reference import LOWER_IS_BETTER

# Each task's metrics, the first being the default when metrics.json names none.
TASK_METRICS: dict[Task, tuple[str, ...]] = {
    Task.BINARY: ("roc_auc", "accuracy", "f1"),
    Task.MULTICLASS: ("roc_auc", "accuracy", "f1"),
    Task.REGRESSION: ("rmse", "mae"),
}


def roc_auc_binary(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann–Whitney U statistic over average ranks (ties count one half)."""
    positives = y_true == 1
    n_pos = int(positives.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1_binary(y_true: np.ndarray, predicted: np.ndarray, positive: int = 1) -> float:
    true_pos = float(np.sum((predicted == positive) & (y_true == positive)))
    denominator = float(np.sum(predicted == positive) + np.sum(y_true == positive))
    return 2 * true_pos / denominator if denominator else 0.0


def classification_metrics(
    y_true: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray | None
) -> dict[str, float]:
    """Accuracy, F1 and (with probabilities) ROC AUC of class indices ``y_true`` vs ``predicted``."""
    n_classes = probabilities.shape[1] if probabilities is not None else int(max(y_true.max(), predicted.max()) + 1)
    metrics = {"accuracy": float(np.mean(predicted == y_true))}
    if n_classes <= 2:
        metrics["f1"] = f1_binary(y_true, predicted)
    else:
        metrics["f1"] = float(np.mean([f1_binary(y_true, predicted, k) for k in range(n_classes)]))
    if probabilities is not None:
        if n_classes <= 2:
            metrics["roc_auc"] = roc_auc_binary(y_true, probabilities[:, -1])
        else:
            present = np.unique(y_true)
            aucs = [roc_auc_binary((y_true == k).astype(np.int64), probabilities[:, k]) for k in present]
            metrics["roc_auc"] = float(np.mean(aucs)) if len(present) > 1 else float("nan")
    return metrics


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted.astype(np.float64) - y_true.astype(np.float64)
    return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}


def degradation(metric: str, holdout: float, current: float) -> float:
    """How much worse the window is than the holdout, relative to the holdout (positive = worse).

    Relative so that one threshold means the same for an AUC and an RMSE: 0.05 is "5 % worse".
    """
    if not np.isfinite(holdout) or not np.isfinite(current) or holdout == 0:
        return float("nan")
    worse = current - holdout if metric in LOWER_IS_BETTER else holdout - current
    return float(worse / abs(holdout))
