"""Training sets from source data and a real SQLite store: strategies, holdout, snapshot, quality gate."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from features_store import LABELLED_ROWS, SOURCE_ROWS, START, TARGET, fill_store
from sqlalchemy import Engine

from driftloop.errors import InvalidInputError
from driftloop.registry import Registry
from driftloop.train.dataset import infer_contract
from driftloop_features.datasets import Datasets, QualityGateError
from driftloop_features.strategy import DatasetRequest, QualityGate, Strategy


def _create(datasets: Datasets, **strategy: Any) -> dict[str, Any]:
    return datasets.create(DatasetRequest.model_validate({"model": "credit", "strategy": strategy}))


def _frames(manifest: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(manifest["train_path"]), pd.read_parquet(manifest["holdout_path"])


def _rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples (income, savings and age identify a synthetic record)."""
    return list(frame[["loan_amount", "interest_rate", "age"]].itertuples(index=False, name=None))


def test_recent_trains_on_the_newest_labels_and_holds_out_the_last(
    datasets: Datasets, labelled_frame: pd.DataFrame
) -> None:
    manifest = _create(datasets, kind="recent", recent=300, holdout=200)
    train, holdout = _frames(manifest)

    assert manifest["state"] == "ready"
    assert manifest["rows"] == {"train": 300, "holdout": 200}
    # The holdout is the 200 newest labelled records; the training set the 300 before them.
    assert _rows(holdout) == _rows(labelled_frame.iloc[-200:])
    assert _rows(train) == _rows(labelled_frame.iloc[-500:-200])
    assert holdout[TARGET].tolist() == labelled_frame[TARGET].iloc[-200:].tolist()
    assert not set(_rows(train)) & set(_rows(holdout))


def test_source_plus_recent_weighted_by_duplication(
    datasets: Datasets, source_frame: pd.DataFrame, labelled_frame: pd.DataFrame
) -> None:
    manifest = _create(datasets, kind="source+recent", recent=100, weight=3, holdout_share=0.1)
    train, holdout = _frames(manifest)

    assert len(holdout) == LABELLED_ROWS // 10
    assert len(train) == SOURCE_ROWS + 3 * 100
    recent = labelled_frame.iloc[-200:-100]
    assert _rows(train.iloc[:SOURCE_ROWS]) == _rows(source_frame)
    assert _rows(train.iloc[SOURCE_ROWS:]) == _rows(recent) * 3
    assert not set(_rows(train)) & set(_rows(holdout))
    assert manifest["quality"]["duplicates"] == 0  # the intended repetition is not a data problem


def test_source_plus_recent_weighted_by_a_column(datasets: Datasets) -> None:
    manifest = _create(datasets, kind="source+recent", recent=100, weighting="column", weight=2.5, holdout=100)
    train, _ = _frames(manifest)

    assert train["sample_weight"].value_counts().to_dict() == {1.0: SOURCE_ROWS, 2.5: 100}


def test_source_only_still_holds_out_recent_labels(datasets: Datasets, labelled_frame: pd.DataFrame) -> None:
    manifest = _create(datasets, kind="source", holdout=150)
    train, holdout = _frames(manifest)

    assert len(train) == SOURCE_ROWS
    assert _rows(holdout) == _rows(labelled_frame.iloc[-150:])
    assert manifest["quality"]["holdout_origin"] == "labelled"


def test_without_labels_the_holdout_is_a_seeded_stratified_draw_of_the_source(
    champion: tuple[Path, Path], empty_store: Engine, tmp_path: Path, gate: QualityGate, source_frame: pd.DataFrame
) -> None:
    registry, source = champion
    datasets = Datasets(Registry(registry), empty_store, {"credit": source}, tmp_path / "sets", gate)
    manifest = _create(datasets, kind="source+recent", holdout_share=0.2)
    train, holdout = _frames(manifest)

    assert manifest["quality"]["holdout_origin"] == "source"
    assert len(holdout) == 300
    assert _rows(holdout) != _rows(source_frame.iloc[-300:])  # not the file's tail
    assert sorted(_rows(train) + _rows(holdout)) == sorted(_rows(source_frame))
    assert not set(_rows(train)) & set(_rows(holdout))
    shares = source_frame[TARGET].value_counts(normalize=True)
    assert holdout[TARGET].value_counts(normalize=True).sub(shares).abs().max() < 0.005  # stratified
    # Seeded: the same request gives the same set, another seed another holdout.
    assert _create(datasets, kind="source+recent", holdout_share=0.2)["id"] == manifest["id"]
    reseeded = _frames(_create(datasets, kind="source+recent", holdout_share=0.2, seed=1))[1]
    assert _rows(reseeded) != _rows(holdout)


def test_too_few_labels_for_a_holdout_take_it_from_the_source(
    champion: tuple[Path, Path], empty_store: Engine, tmp_path: Path, gate: QualityGate, labelled_frame: pd.DataFrame
) -> None:
    fill_store(empty_store, labelled_frame.iloc[:50])  # 10 would be held out: fewer than the gate's 20
    registry, source = champion
    datasets = Datasets(Registry(registry), empty_store, {"credit": source}, tmp_path / "sets", gate)
    train, holdout = _frames(manifest := _create(datasets, kind="source+recent", holdout_share=0.2))

    assert manifest["quality"]["holdout_origin"] == "source"
    assert len(holdout) == 300  # a fifth of the source
    assert len(train) == SOURCE_ROWS - 300 + 50  # every labelled record is trained on
    assert _rows(train.iloc[-50:]) == _rows(labelled_frame.iloc[:50])


def test_the_snapshot_is_immutable_and_named_by_its_hash(datasets: Datasets) -> None:
    first = _create(datasets, kind="recent", recent=400, holdout=100)
    train_path, holdout_path = Path(first["train_path"]), Path(first["holdout_path"])
    content = hashlib.sha256(train_path.read_bytes() + b"\0" + holdout_path.read_bytes()).hexdigest()
    modified = train_path.stat().st_mtime_ns

    again = _create(datasets, kind="recent", recent=400, holdout=100)

    assert first["id"] == first["sha256"] == content == again["id"]
    assert train_path.parent.name == content
    assert again["created"] == first["created"]  # the existing snapshot is handed out, not rewritten
    assert train_path.stat().st_mtime_ns == modified
    assert not os.access(train_path, os.W_OK) or os.geteuid() == 0
    assert train_path.stat().st_mode & 0o222 == 0
    assert datasets.get(first["id"]) == first
    assert _create(datasets, kind="recent", recent=401, holdout=100)["id"] != first["id"]


def test_the_training_set_keeps_the_contract_types(datasets: Datasets, champion: tuple[Path, Path]) -> None:
    train, _ = _frames(_create(datasets, kind="source+recent", holdout=100))
    contract = Registry(champion[0]).resolve("credit").contract

    retrained = infer_contract(train, TARGET)

    assert [(c.name, c.kind) for c in retrained.columns] == [(c.name, c.kind) for c in contract.columns]
    assert retrained.class_labels == contract.class_labels


def _refusal(datasets: Datasets, **strategy: Any) -> tuple[list[str], dict[str, Any]]:
    with pytest.raises(QualityGateError) as caught:
        _create(datasets, **strategy)
    details = caught.value.details
    assert caught.value.status_code == 422
    manifest = datasets.get(details["dataset_id"])
    assert manifest["state"] == "failed"
    assert manifest["train_path"] is None
    return details["reasons"], details["quality"]


def test_too_few_rows_are_refused(datasets: Datasets) -> None:
    reasons, quality = _refusal(datasets, kind="recent", recent=50, holdout=10)
    assert "too few training rows: 50 < 100" in reasons
    assert "too few holdout rows: 10 < 20" in reasons
    assert quality["rows"]["train"] == 50


def _store_with(engine: Engine, labelled: pd.DataFrame) -> None:
    fill_store(engine, labelled, start=START.replace(year=2027), prefix="late")


def test_a_single_class_is_refused(datasets: Datasets, store: Engine, labelled_frame: pd.DataFrame) -> None:
    _store_with(store, labelled_frame.assign(**{TARGET: 0}).iloc[:400])
    reasons, quality = _refusal(datasets, kind="recent", recent=300, holdout=100)
    assert "the train set has a single class (0)" in reasons
    assert "the holdout set has a single class (0)" in reasons
    assert quality["label_balance"]["train"] == {"0": 1.0}


def test_a_column_missing_everywhere_is_refused(
    datasets: Datasets, store: Engine, labelled_frame: pd.DataFrame
) -> None:
    _store_with(store, labelled_frame.drop(columns=["savings"]).iloc[:400])
    reasons, quality = _refusal(datasets, kind="recent", recent=300, holdout=100)
    assert "columns entirely missing in the training set: ['savings']" in reasons
    assert quality["missing_rates"]["savings"] == 1.0


def test_schema_violations_above_the_threshold_are_refused(
    datasets: Datasets, store: Engine, labelled_frame: pd.DataFrame
) -> None:
    broken = labelled_frame.iloc[:400].copy()
    broken["income"] = broken["income"].astype(object)
    broken.iloc[:40, broken.columns.get_loc("income")] = "n/a"  # 10% of the newest records
    broken.iloc[40:45, broken.columns.get_loc(TARGET)] = 7  # not a class of the model
    _store_with(store, broken)

    reasons, quality = _refusal(datasets, kind="recent", recent=300, holdout=100)

    assert any("break the contract" in r for r in reasons)
    assert quality["schema"]["by_column"] == {"income": 40, TARGET: 5}
    assert quality["schema"]["examples"][0]["reason"] == "expected a number, got 'n/a'"
    assert quality["rows"]["dropped"] == 45


def test_a_few_violating_rows_are_dropped_not_refused(
    datasets: Datasets, store: Engine, labelled_frame: pd.DataFrame
) -> None:
    broken = labelled_frame.iloc[:400].copy()
    broken["income"] = broken["income"].astype(object)
    broken.iloc[:3, broken.columns.get_loc("income")] = "n/a"
    _store_with(store, broken)

    manifest = _create(datasets, kind="recent", recent=397, holdout=100)

    assert manifest["quality"]["rows"]["dropped"] == 3
    assert manifest["rows"]["train"] == 397 - 3


def test_source_columns_missing_from_the_contract_are_refused(
    champion: tuple[Path, Path], store: Engine, tmp_path: Path, gate: QualityGate, source_frame: pd.DataFrame
) -> None:
    source = tmp_path / "narrow.parquet"
    source_frame.drop(columns=["age"]).to_parquet(source)
    datasets = Datasets(Registry(champion[0]), store, {"credit": source}, tmp_path / "sets", gate)

    reasons, _ = _refusal(datasets, kind="source", holdout=100)

    assert "columns of the contract absent from the data: ['age']" in reasons


def test_a_request_without_a_strategy_gets_the_configured_one(
    champion: tuple[Path, Path], store: Engine, tmp_path: Path, gate: QualityGate
) -> None:
    default = Strategy(kind="recent", recent=250, holdout=50)
    datasets = Datasets(Registry(champion[0]), store, {}, tmp_path / "sets", gate, default)

    manifest = datasets.create(DatasetRequest(model="credit"))

    assert manifest["rows"] == {"train": 250, "holdout": 50}
    assert manifest["strategy"]["kind"] == "recent"


def test_recent_without_labels_is_refused_and_source_needs_a_source(
    champion: tuple[Path, Path], empty_store: Engine, tmp_path: Path, gate: QualityGate
) -> None:
    datasets = Datasets(Registry(champion[0]), empty_store, {}, tmp_path / "sets", gate)

    reasons, _ = _refusal(datasets, kind="recent")
    assert reasons[:2] == ["too few training rows: 0 < 100", "too few holdout rows: 0 < 20"]

    with pytest.raises(InvalidInputError, match="no source data is configured for model 'credit'"):
        _create(datasets, kind="source+recent")
