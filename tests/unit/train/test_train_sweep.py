"""The sweep end to end on bundled and synthetic data: real fits, real ONNX sessions."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from train_helpers import SMALL, credit_frame

from driftloop.contract import Task
from driftloop.registry import Registry
from driftloop.train.config import FAMILY_NAMES, TrainConfig
from driftloop.train.parity import onnx_output, onnx_session
from driftloop.train.run import TrainResult, train_model


@pytest.mark.parametrize(
    ("fixture", "task", "metric", "floor"),
    [
        ("cancer_result", Task.BINARY, "roc_auc", 0.95),
        ("wine_result", Task.MULTICLASS, "roc_auc", 0.95),
        ("diabetes_result", Task.REGRESSION, "r2", 0.2),
        ("credit_result", Task.BINARY, "roc_auc", 0.65),
    ],
)
def test_every_task_trains_a_model_that_predicts_on_the_holdout(
    request: pytest.FixtureRequest, fixture: str, task: Task, metric: str, floor: float
) -> None:
    result: TrainResult = request.getfixturevalue(fixture)
    metrics = result.documents["metrics"]
    assert result.contract.task is task
    assert result.metric == metric
    # Well above chance: the pipeline learned something, and the ONNX graph carries it.
    assert metrics["holdout"][metric] > floor
    assert result.winner.parity_status == "passed"
    assert metrics["parity"]["passed"] is True
    assert metrics["parity"]["rows"] == metrics["sweep"]["holdout_rows"]
    families = {row["family"] for row in metrics["leaderboard"]}
    assert families == set(FAMILY_NAMES)


def test_leaderboard_lists_every_candidate_best_first(credit_result: TrainResult) -> None:
    leaderboard = credit_result.documents["metrics"]["leaderboard"]
    assert len(leaderboard) == SMALL.max_trials
    for row in leaderboard:
        assert {"family", "params", "cv_mean", "cv_std", "fit_seconds", "parity", "status"} <= set(row)
    complete = [row["cv_mean"] for row in leaderboard if row["status"] == "ok"]
    assert complete == sorted(complete, reverse=True)
    assert leaderboard[0]["trial"] == credit_result.winner.index or leaderboard[0]["parity"] == "failed"
    assert len(credit_result.winner.fold_scores) == SMALL.folds


def test_holdout_metrics_of_each_task(cancer_result: TrainResult, wine_result: TrainResult, diabetes_result) -> None:  # type: ignore[no-untyped-def]
    assert set(cancer_result.holdout_metrics) >= {"roc_auc", "log_loss", "f1"}
    assert set(wine_result.holdout_metrics) >= {"roc_auc", "log_loss", "f1"}
    assert set(diabetes_result.holdout_metrics) == {"r2", "rmse", "mae"}
    assert diabetes_result.holdout_metrics["rmse"] >= diabetes_result.holdout_metrics["mae"]


def test_the_same_seed_gives_the_same_winner_and_metrics() -> None:
    frame = credit_frame(800, seed=3)
    config = TrainConfig(max_trials=5, time_budget=600, folds=3, seed=11)
    first = train_model(frame, "default", config=config)
    second = train_model(frame, "default", config=config)
    assert first.winner.family == second.winner.family
    assert first.winner.params == second.winner.params
    assert first.winner.fold_scores == second.winner.fold_scores
    assert first.holdout_metrics == second.holdout_metrics
    board = [(t.index, t.family, t.params, t.fold_scores) for t in first.leaderboard]
    assert board == [(t.index, t.family, t.params, t.fold_scores) for t in second.leaderboard]
    assert first.documents["profile"] == second.documents["profile"]
    # Another seed draws other folds: the scores cannot all be equal.
    other = train_model(frame, "default", config=config.with_overrides(seed=12))
    assert other.winner.fold_scores != first.winner.fold_scores


def test_the_optimised_metric_is_selectable() -> None:
    frame = credit_frame(600, seed=4)
    result = train_model(frame, "default", config=TrainConfig(max_trials=2, folds=3, metric="log_loss"))
    assert result.metric == "log_loss"
    losses = [t.cv_mean for t in result.leaderboard if t.status == "ok"]
    assert losses == sorted(losses)  # smaller is better for a loss


def test_registered_bundle_holds_the_model_and_its_documents(credit_result: TrainResult, registry: Registry) -> None:
    bundle = registry.resolve("credit", "champion")
    assert bundle.version == credit_result.bundle.version  # type: ignore[union-attr]
    for name in ("model.onnx", "contract.json", "profile.json", "metrics.json", "lineage.json"):
        assert (bundle.path / name).is_file()
    # The registered graph gives the recorded holdout metrics' predictions: same bytes as trained.
    assert bundle.model_path.read_bytes() == credit_result.model
    metrics = orjson.loads((bundle.path / "metrics.json").read_bytes())
    assert metrics["winner"]["trial"] == credit_result.winner.index


def test_lineage_records_dataset_code_parameters_and_trigger(credit_result: TrainResult, registry: Registry) -> None:
    lineage = registry.resolve("credit", "champion").document("lineage")
    assert len(lineage["dataset"]["sha256"]) == 64
    assert lineage["dataset"]["rows"] == 1500
    assert lineage["dataset"]["columns"] == 17
    assert lineage["trigger"] == "test"
    assert lineage["parameters"]["seed"] == SMALL.seed
    assert lineage["parameters"]["target"] == "default"
    assert lineage["code_version"].startswith("0.")
    assert lineage["version"] == 1
    assert lineage["parent_version"] is None
    assert lineage["time"].endswith("+00:00")


def test_onnx_model_handles_unknown_categories_and_missing_values(credit_result: TrainResult) -> None:
    contract = credit_result.contract
    session = onnx_session(credit_result.model)
    frame = credit_frame(4, seed=99).drop(columns=["default"])
    frame.loc[0, "purpose"] = "a purpose never seen in training"
    frame.loc[1, "region"] = ""
    frame.loc[2, "income"] = np.nan
    frame.loc[3, "home_ownership"] = None
    from driftloop.train.frame import model_frame

    probabilities = onnx_output(session, model_frame(frame, contract), contract)
    assert probabilities.shape == (4, 2)
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_file_lineage_hashes_the_file_bytes(write_csv, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    from driftloop.train.run import train_file

    path = write_csv(credit_frame(400, seed=5))
    result = train_file(path, "default", config=TrainConfig(max_trials=1, folds=3))
    assert result.documents["lineage"]["dataset"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.documents["lineage"]["dataset"]["hashed"] == "file bytes"


def test_a_budget_too_small_for_one_trial_still_completes_the_first() -> None:
    result = train_model(credit_frame(400, seed=6), "default", config=TrainConfig(time_budget=1e-9, folds=3))
    sweep = result.documents["metrics"]["sweep"]
    assert sweep["trials"] == 1
    assert sweep["stopped_by"] == "time_budget"
    assert result.winner.status == "ok"
    assert len(result.winner.fold_scores) == 3


def test_a_trial_past_the_deadline_stops_after_its_fold_and_cannot_win() -> None:
    from driftloop.train.dataset import infer_contract
    from driftloop.train.families import trial_sequence
    from driftloop.train.frame import encode_target, model_frame
    from driftloop.train.sweep import Trial, _cross_validate, cv_splits

    frame = credit_frame(300, seed=8)
    contract = infer_contract(frame, "default")
    x, y = model_frame(frame, contract), encode_target(frame["default"], contract)
    spec = next(trial_sequence(["linear"], seed=0))
    trial = Trial(spec.index, spec.family, spec.params)
    splits = cv_splits(y, contract.task, 3, 0)
    _cross_validate(trial, spec, x, y, contract, splits, "roc_auc", 0, 2, None, 1, deadline=0.0)
    assert trial.status == "timeout"
    assert len(trial.fold_scores) == 1
    assert not trial.eligible
