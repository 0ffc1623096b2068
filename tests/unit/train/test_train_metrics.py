"""Task metrics and how the sweep compares scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from driftloop.contract import Task
from driftloop.train.metrics import better, sort_key, task_metrics


def test_multiclass_auc_is_macro_one_vs_rest() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    probabilities = rng.dirichlet([1, 1, 1], 300)
    probabilities[np.arange(300), y] += 0.5
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    metrics = task_metrics(Task.MULTICLASS, y, probabilities)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, probabilities, multi_class="ovr", average="macro"))
    assert 0.0 < metrics["log_loss"] < np.log(3)
    assert 0.0 <= metrics["f1"] <= 1.0


def test_binary_metrics_use_the_positive_class() -> None:
    y = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    metrics = task_metrics(Task.BINARY, y, probabilities)
    assert metrics["roc_auc"] == 1.0
    assert metrics["f1"] == 1.0
    assert metrics["accuracy"] == 1.0


def test_regression_metrics() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    metrics = task_metrics(Task.REGRESSION, y, np.array([1.0, 2.0, 3.0, 6.0]))
    assert metrics["mae"] == pytest.approx(0.5)
    assert metrics["rmse"] == pytest.approx(1.0)
    assert metrics["r2"] == pytest.approx(1 - 4 / 5)


def test_better_knows_which_way_each_metric_goes() -> None:
    assert better("roc_auc", 0.8, 0.7)
    assert not better("roc_auc", 0.7, 0.7)  # ties keep the earlier trial
    assert better("rmse", 1.0, 2.0)
    assert not better("log_loss", 0.5, 0.4)
    assert better("r2", 0.1, None)
    assert not better("r2", float("nan"), None)
    assert sorted([0.2, 0.9, 0.5], key=lambda s: sort_key("roc_auc", s)) == [0.9, 0.5, 0.2]
    assert sorted([0.2, 0.9, float("nan")], key=lambda s: sort_key("mae", s))[:2] == [0.2, 0.9]
