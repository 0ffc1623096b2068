"""profile.json: what the drift detector reads with numpy alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftloop.train.profile import numeric_summary
from driftloop.train.run import TrainResult


def test_numeric_bins_reproduce_with_numpy_searchsorted(credit_result: TrainResult) -> None:
    profile = json.loads(json.dumps(credit_result.documents["profile"]))  # plain JSON, nothing else
    income = profile["columns"]["income"]
    assert income["kind"] == "numeric"
    edges, frequencies = np.array(income["edges"]), np.array(income["frequencies"])
    assert len(frequencies) == len(edges) + 1
    assert np.all(np.diff(edges) > 0)
    assert frequencies.sum() == pytest.approx(1.0)
    assert 0.0 < income["missing_rate"] < 0.1  # make_credit blanks about 4% of incomes
    sample = np.array(income["sample"])
    assert len(sample) == 1000
    assert np.all((sample >= income["min"]) & (sample <= income["max"]))
    # The documented rule: bin = searchsorted(edges, x, side="right"). Applied to the sample, it
    # must give roughly the reference frequencies (deciles: about 10% each).
    sample_frequencies = np.bincount(np.searchsorted(edges, sample, side="right"), minlength=len(edges) + 1)
    assert np.abs(sample_frequencies / len(sample) - frequencies).max() < 0.06


def test_categorical_and_prediction_distributions(credit_result: TrainResult) -> None:
    profile = credit_result.documents["profile"]
    assert profile["rows"] == credit_result.documents["metrics"]["sweep"]["train_rows"]
    employment = profile["columns"]["employment_type"]
    assert employment["kind"] == "categorical"
    assert set(employment["frequencies"]) == {"salaried", "self_employed", "contract", "unemployed"}
    assert sum(employment["frequencies"].values()) == pytest.approx(1.0)
    assert 0.0 < employment["missing_rate"] < 0.1
    predictions = profile["predictions"]
    assert predictions["kind"] == "class"
    assert set(predictions["class_frequencies"]) == {"0", "1"}
    assert sum(predictions["class_frequencies"].values()) == pytest.approx(1.0)
    assert predictions["rows"] == credit_result.documents["metrics"]["holdout"]["rows"]
    score = predictions["positive_score"]
    assert 0.0 <= score["min"] <= score["max"] <= 1.0


def test_regression_predictions_are_value_bins(diabetes_result: TrainResult) -> None:
    predictions = diabetes_result.documents["profile"]["predictions"]
    assert predictions["kind"] == "value"
    assert sum(predictions["frequencies"]) == pytest.approx(1.0)
    assert len(predictions["sample"]) == predictions["rows"]  # fewer than 1,000 holdout rows


def test_multiclass_prediction_shares(wine_result: TrainResult) -> None:
    predictions = wine_result.documents["profile"]["predictions"]
    assert set(predictions["class_frequencies"]) == {"0", "1", "2"}
    assert "positive_score" not in predictions


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(-1e9, 1e9, allow_nan=False), st.just(float("nan"))), min_size=1, max_size=300),
    seed=st.integers(0, 10),
)
def test_numeric_summary_is_consistent_for_any_values(values: list[float], seed: int) -> None:
    array = np.asarray(values, dtype=np.float64)
    summary = numeric_summary(array, np.random.default_rng(seed))
    present = array[~np.isnan(array)]
    assert summary["count"] == present.size
    if present.size == 0:
        assert summary["edges"] == []
        assert summary["frequencies"] == []
        return
    edges, frequencies = np.asarray(summary["edges"]), np.asarray(summary["frequencies"])
    assert np.all(np.diff(edges) > 0)
    assert len(frequencies) == len(edges) + 1
    # The documented rule reproduces the frequencies exactly from the values themselves.
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    np.testing.assert_allclose(counts / present.size, frequencies)
    assert len(summary["sample"]) == min(1000, present.size)
    assert set(summary["sample"]) <= set(present.tolist())
