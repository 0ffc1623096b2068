"""The policy file's ``retrain`` block: defaults, every mistake naming its field, and the dataset request it makes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from driftloop.errors import ConfigError, InvalidInputError
from driftloop.policy import load_policy, parse_policy
from driftloop_controller.retrain_request import dataset_plan

POLICY = """\
rules:
  - {name: performance-drop, statistic: performance_drop, threshold: 0.1, action: retrain}
retrain:
  dataset: {kind: source+recent, recent: 2000, weighting: column, weight: 2.5, holdout: 300, min_rows: 800}
  quality: {min_train_rows: 400, min_holdout_rows: 100}
  training: {time_budget: 30, max_trials: 12, families: [linear, hist_gradient_boosting], seed: 7}
  gate: {margin: 0.01, bootstrap: 500, confidence: 0.9, guardrail: 0.05}
"""


def test_a_policy_file_sets_every_part_of_a_retrain(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    retrain = load_policy(path).retrain
    assert (retrain.dataset.kind, retrain.dataset.weight, retrain.dataset.holdout) == ("source+recent", 2.5, 300)
    assert retrain.quality is not None
    assert retrain.quality.min_holdout_rows == 100
    assert retrain.training.families == ["linear", "hist_gradient_boosting"]
    assert (retrain.training.time_budget, retrain.training.max_trials, retrain.training.seed) == (30, 12, 7)
    assert (retrain.gate.margin, retrain.gate.bootstrap, retrain.gate.confidence, retrain.gate.guardrail) == (
        0.01,
        500,
        0.9,
        0.05,
    )


def test_without_a_file_the_packaged_defaults_apply() -> None:
    policy = load_policy(None)
    assert policy.rules  # the packaged rules
    assert policy.retrain.dataset.kind == "source+recent"
    assert policy.retrain.quality is None
    assert (policy.retrain.training.time_budget, policy.retrain.gate.bootstrap) == (60, 1000)


@pytest.mark.parametrize(
    ("retrain", "field", "reason"),
    [
        ("{dataset: {kind: newest}}", "retrain.dataset.kind", "Input should be"),
        ("{dataset: {kind: since_change}}", "retrain.dataset", "chosen by the controller"),
        ("{dataset: {kind: source+recent, weight: 1.5}}", "retrain.dataset", "whole-number weight"),
        ("{dataset: {older_weight: 2}}", "retrain.dataset.older_weight", "less than or equal to 1"),
        ("{quality: {min_holdout_rows: 0}}", "retrain.quality.min_holdout_rows", "greater than or equal to 1"),
        ("{training: {time_budget: 0}}", "retrain.training.time_budget", "greater than 0"),
        ("{training: {families: [xgboost]}}", "retrain.training.families", "unknown families ['xgboost']"),
        ("{training: {families: []}}", "retrain.training.families", "at least one family"),
        ("{gate: {bootstrap: 10}}", "retrain.gate.bootstrap", "greater than or equal to 100"),
        ("{gate: {confidence: 1.5}}", "retrain.gate.confidence", "less than 1"),
        ("{gate: {bootstrap_resamples: 500}}", "retrain.gate.bootstrap_resamples", "Extra inputs"),
        ("{cooldown_seconds: 600}", "retrain.cooldown_seconds", "Extra inputs"),
    ],
)
def test_a_mistake_names_the_field(retrain: str, field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy(f"retrain: {retrain}", source="policy.yaml")
    assert caught.value.message.startswith(f"policy.yaml is invalid: {field}: ")
    assert reason in caught.value.message
    assert caught.value.details[0]["field"] == field


def test_a_trigger_without_a_change_point_gets_the_default_strategy() -> None:
    retrain = parse_policy(POLICY).retrain
    for request in ({"model": "credit"}, {"model": "credit", "change_point": None}):
        plan = dataset_plan(retrain, request)
        assert plan.change_point is None
        assert plan.body["strategy"]["kind"] == "source+recent"
        assert plan.body["strategy"]["weight"] == 2.5
        assert plan.body["gate"]["min_holdout_rows"] == 100


def test_a_change_point_makes_the_set_follow_the_change() -> None:
    retrain = parse_policy(POLICY).retrain
    request = {"model": "credit", "change_point": {"time": "2026-03-01T13:00:00+01:00", "labelled": 640}}
    plan = dataset_plan(retrain, request)
    strategy = plan.body["strategy"]
    assert strategy["kind"] == "since_change"
    assert datetime.fromisoformat(strategy["since"]) == datetime(2026, 3, 1, 12, tzinfo=UTC)
    # The default's holdout, floor and seed carry over; what only other kinds use does not.
    assert (strategy["holdout"], strategy["min_rows"], strategy["older_weight"]) == (300, 800, 0.25)
    assert "recent" not in strategy
    assert "640 labelled records since" in plan.describe()


def test_a_malformed_change_point_names_the_field() -> None:
    retrain = parse_policy(POLICY).retrain
    with pytest.raises(InvalidInputError) as caught:
        dataset_plan(retrain, {"model": "credit", "change_point": {"time": "2026-03-01T13:00:00"}})
    assert caught.value.details == {"field": "change_point.time"}
