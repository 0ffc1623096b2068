"""Window metrics in numpy against scikit-learn (which training uses for the holdout figures)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, roc_auc_score

from driftloop.drift import performance


def test_binary_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1).round(2)  # rounded: ties must count one half
    probabilities = np.column_stack([1 - score, score])
    predicted = (score > 0.5).astype(int)
    metrics = performance.classification_metrics(y, predicted, probabilities)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert metrics["f1"] == pytest.approx(f1_score(y, predicted))


def test_multiclass_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3)) + np.eye(3)[y]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    metrics = performance.classification_metrics(y, predicted, probabilities)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, probabilities, multi_class="ovr", average="macro"))
    assert metrics["f1"] == pytest.approx(f1_score(y, predicted, average="macro"))


def test_regression_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    y, predicted = rng.normal(size=300), rng.normal(size=300)
    metrics = performance.regression_metrics(y, predicted)
    assert metrics["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, predicted)))
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y, predicted))


def test_degradation_is_relative_and_positive_when_worse() -> None:
    assert performance.degradation("roc_auc", 0.8, 0.72) == pytest.approx(0.1)
    assert performance.degradation("rmse", 2.0, 2.5) == pytest.approx(0.25)
    assert performance.degradation("accuracy", 0.7, 0.77) == pytest.approx(-0.1)
    assert np.isnan(performance.degradation("roc_auc", 0.8, float("nan")))
