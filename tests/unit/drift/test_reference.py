"""profile.json and metrics.json, as the training side writes them, read into numpy once per version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from drift_helpers import CreditModel

from driftloop.drift.reference import ReferenceCache, ReferenceProfile, parse_profile
from driftloop.errors import InvalidInputError
from driftloop.registry import Registry
from driftloop.train.export import export_onnx


def test_the_training_profile_parses_into_arrays(credit_model: CreditModel) -> None:
    reference = credit_model.reference
    assert len(reference.numeric) == 12
    assert set(reference.categorical) == {"home_ownership", "purpose", "region", "employment_type"}
    credit_score = reference.numeric["credit_score"]
    assert len(credit_score.frequencies) == len(credit_score.edges) + 1
    assert credit_score.frequencies.sum() == pytest.approx(1.0)
    assert np.all(np.diff(credit_score.sample_sorted) >= 0)
    purpose = reference.categorical["purpose"]
    assert purpose.frequencies[-1] == 0.0  # the slot for unseen categories
    assert reference.predictions is not None
    assert reference.predictions.labels == ["0", "1"]
    assert reference.predictions.values is not None  # the positive-class score
    assert reference.primary_metric == "roc_auc"
    assert reference.holdout_metrics["roc_auc"] == credit_model.metrics["holdout"]["roc_auc"]
    assert "rows" not in reference.holdout_metrics


def test_a_registered_bundle_is_parsed_once_per_version(credit_model: CreditModel, tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    model = export_onnx(credit_model.pipeline, credit_model.contract)
    documents: dict[str, dict[str, Any]] = {
        "profile": credit_model.profile,
        "metrics": credit_model.metrics,
        "lineage": {},
    }
    first = registry.register("credit", model, credit_model.contract, documents)
    second = registry.register("credit", model, credit_model.contract, documents)
    cache = ReferenceCache(capacity=1)
    reference = cache.get(first)
    assert isinstance(reference, ReferenceProfile)
    assert cache.get(first) is reference
    assert reference.class_labels == ["0", "1"]
    cache.get(second)  # evicts the first version
    assert cache.get(first) is not reference


@pytest.mark.parametrize(
    ("profile", "metrics", "message"),
    [
        ({}, {"task": "binary"}, "profile.json has no 'columns'"),
        ({"columns": {}}, {}, "no task"),
        (
            {"columns": {"x": {"kind": "numeric", "edges": [1.0, 2.0], "frequencies": [0.5, 0.5]}}},
            {"task": "regression"},
            "column 'x': 2 inner edges need 3 frequencies, not 2",
        ),
        ({"columns": {"x": {"kind": "text"}}}, {"task": "binary"}, "column 'x' has unknown kind 'text'"),
        (
            {"columns": {"c": {"kind": "categorical", "frequencies": [0.5]}}},
            {"task": "binary"},
            "must map each category",
        ),
    ],
)
def test_a_malformed_profile_is_a_clear_error(profile: dict[str, Any], metrics: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_profile(profile, metrics)
