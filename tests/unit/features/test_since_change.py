"""The change-following strategy on a real SQLite store, and the holdout of a source file sorted by class.

The store holds 400 labelled records before a concept change (a day of traffic from START) and
600 after it (from the change point on); each record's stored time is its prediction's time.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from features_store import SOURCE_ROWS, START, credit_frame, fill_store
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression
from sqlalchemy import Engine

from driftloop.registry import Registry
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.pipeline import build_pipeline
from driftloop_features.datasets import Datasets
from driftloop_features.strategy import DatasetRequest, QualityGate

CHANGE = START + timedelta(days=1)
BEFORE, AFTER = 400, 600


@pytest.fixture(scope="module")
def before() -> pd.DataFrame:
    return credit_frame(BEFORE, seed=7)


@pytest.fixture(scope="module")
def after() -> pd.DataFrame:
    return credit_frame(AFTER, seed=8, drift="concept")


@pytest.fixture
def changed(
    champion: tuple[Path, Path], empty_store: Engine, tmp_path: Path, gate: QualityGate,
    before: pd.DataFrame, after: pd.DataFrame,
) -> Datasets:  # fmt: skip
    fill_store(empty_store, before, start=START, prefix="before")
    fill_store(empty_store, after, start=CHANGE, prefix="after")
    registry, source = champion
    return Datasets(Registry(registry), empty_store, {"credit": source}, tmp_path / "sets", gate)


def _since(datasets: Datasets, **strategy: Any) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    body = {"kind": "since_change", "since": CHANGE.isoformat(), **strategy}
    manifest = datasets.create(DatasetRequest.model_validate({"model": "credit", "strategy": body}))
    return manifest, pd.read_parquet(manifest["train_path"]), pd.read_parquet(manifest["holdout_path"])


def _rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return list(frame[["loan_amount", "interest_rate", "age"]].itertuples(index=False, name=None))


def test_only_post_change_rows_are_trained_on_and_the_newest_are_held_out(
    changed: Datasets, before: pd.DataFrame, after: pd.DataFrame
) -> None:
    manifest, train, holdout = _since(changed, min_rows=300, holdout=100)

    assert manifest["quality"]["holdout_origin"] == "since_change"
    assert _rows(holdout) == _rows(after.iloc[-100:])  # the newest post-change labels judge the challenger
    assert _rows(train) == _rows(after.iloc[:-100])
    assert not set(_rows(train)) & set(_rows(before))
    assert "sample_weight" not in train.columns  # nothing older to weigh down
    rows = manifest["quality"]["rows"]
    assert (rows["since_change"], rows["fill_labelled"], rows["fill_source"]) == (AFTER, 0, 0)
    assert manifest["strategy"]["since"] == CHANGE.isoformat().replace("+00:00", "Z")


def test_the_floor_is_filled_with_the_newest_pre_change_labels_weighted_down(
    changed: Datasets, before: pd.DataFrame, after: pd.DataFrame
) -> None:
    manifest, train, holdout = _since(changed, min_rows=700, holdout=100, older_weight=0.25)

    assert len(train) == 700
    older, newer = train[train["sample_weight"] == 0.25], train[train["sample_weight"] == 1.0]
    assert _rows(older) == _rows(before.iloc[-200:])  # the 200 newest records before the change
    assert _rows(newer) == _rows(after.iloc[:-100])
    assert _rows(holdout) == _rows(after.iloc[-100:])
    assert manifest["quality"]["rows"]["fill_labelled"] == 200


def test_past_the_pre_change_labels_the_floor_takes_a_seeded_draw_of_source_rows(
    changed: Datasets, source_frame: pd.DataFrame, before: pd.DataFrame
) -> None:
    manifest, train, _ = _since(changed, min_rows=1200, holdout=100)

    rows = manifest["quality"]["rows"]
    assert (rows["fill_labelled"], rows["fill_source"]) == (BEFORE, 300)
    older = train[train["sample_weight"] == 0.25]
    from_source = [row for row in _rows(older) if row not in set(_rows(before))]
    assert len(from_source) == 300
    assert set(from_source) <= set(_rows(source_frame))
    assert from_source != _rows(source_frame.iloc[-300:])  # drawn, not the file's tail
    assert len(train) == 1200


def test_older_all_trains_on_every_older_row_weighing_a_share_of_the_post_change_rows(
    changed: Datasets, source_frame: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame
) -> None:
    manifest, train, holdout = _since(changed, min_rows=300, holdout=100, older="all", older_share=0.2)

    rows = manifest["quality"]["rows"]
    assert (rows["fill_labelled"], rows["fill_source"]) == (BEFORE, len(source_frame))
    newer = train[train["sample_weight"] == 1.0]
    older = train[train["sample_weight"] < 1.0]
    assert _rows(newer) == _rows(after.iloc[:-100])
    assert len(older) == BEFORE + len(source_frame)
    # Together the older rows weigh a fifth of the 500 post-change rows they train beside.
    assert older["sample_weight"].sum() == pytest.approx(0.2 * (AFTER - 100))
    assert _rows(holdout) == _rows(after.iloc[-100:])  # the judge is the new concept's alone


def test_an_older_weight_of_one_writes_no_weight_column(changed: Datasets) -> None:
    _, train, _ = _since(changed, min_rows=700, holdout=100, older_weight=1)
    assert len(train) == 700
    assert "sample_weight" not in train.columns


def test_too_few_post_change_labels_draw_the_holdout_from_the_whole_set(changed: Datasets) -> None:
    # 600 post-change records cannot give 400 to the holdout and as many to training.
    manifest, train, holdout = _since(changed, min_rows=500, holdout=400)

    assert manifest["quality"]["holdout_origin"] == "random"
    assert len(holdout) == 400
    assert len(train) == 500  # the floor counts after the holdout is taken
    assert not set(_rows(train)) & set(_rows(holdout))


def test_the_holdout_is_at_least_the_quality_gate_s_minimum(changed: Datasets, after: pd.DataFrame) -> None:
    # holdout_share would hold out 60 of 600; the service's gate asks for at least 20, a request's for 150.
    request = {
        "model": "credit",
        "strategy": {"kind": "since_change", "since": CHANGE.isoformat(), "holdout_share": 0.1},
        "gate": {"min_train_rows": 100, "min_holdout_rows": 150},
    }
    manifest = changed.create(DatasetRequest.model_validate(request))
    holdout = pd.read_parquet(manifest["holdout_path"])
    assert _rows(holdout) == _rows(after.iloc[-150:])


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"kind": "since_change"}, "needs 'since'"),
        ({"kind": "since_change", "since": "2026-01-02T00:00:00"}, "timezone"),
        ({"kind": "recent", "since": "2026-01-02T00:00:00Z"}, "applies to kind 'since_change' only"),
        ({"kind": "since_change", "since": "2026-01-02T00:00:00Z", "older_weight": 0}, "greater than 0"),
        ({"kind": "since_change", "since": "2026-01-02T00:00:00Z", "min_rows": 0}, "greater than or equal to 1"),
    ],
)
def test_a_bad_change_following_request_is_refused(strategy: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DatasetRequest.model_validate({"model": "credit", "strategy": strategy})


SPECIES = ["Adelie", "Chinstrap", "Gentoo"]


def penguins_sorted_by_species(rows_per_class: tuple[int, int, int] = (150, 70, 120)) -> pd.DataFrame:
    """Penguin-like measurements, the file sorted by the target as such CSVs often are."""
    rng = np.random.default_rng(11)
    frames = []
    for index, (species, count) in enumerate(zip(SPECIES, rows_per_class, strict=True)):
        frames.append(
            pd.DataFrame(
                {
                    "bill_length_mm": rng.normal(39 + 7 * index, 2.5, count),
                    "bill_depth_mm": rng.normal(18.5 - 2 * (index == 2), 1.0, count),
                    "flipper_length_mm": rng.normal(190 + 12 * index, 6, count),
                    "island": rng.choice(["Biscoe", "Dream", "Torgersen"], count),
                    "species": species,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_a_source_sorted_by_class_passes_the_quality_gate(tmp_path: Path, empty_store: Engine) -> None:
    frame = penguins_sorted_by_species()
    source = tmp_path / "penguins.csv"
    frame.to_csv(source, index=False)
    contract = infer_contract(frame, "species")
    pipeline = build_pipeline(contract, LogisticRegression(max_iter=500), scale=True)
    pipeline.fit(model_frame(frame, contract), encode_target(frame["species"], contract))
    registry = Registry(tmp_path / "registry")
    registry.register(
        "penguins", export_onnx(pipeline, contract), contract, {"profile": {}, "metrics": {}, "lineage": {}}
    )
    datasets = Datasets(registry, empty_store, {"penguins": source}, tmp_path / "sets", QualityGate())
    request = DatasetRequest.model_validate({"model": "penguins", "strategy": {"kind": "source", "holdout": 60}})

    manifest = datasets.create(request)

    assert manifest["quality"]["gate"]["passed"], manifest["quality"]["gate"]["reasons"]
    balance = manifest["quality"]["label_balance"]
    assert set(balance["train"]) == set(balance["holdout"]) == set(SPECIES)
    shares = frame["species"].value_counts(normalize=True)
    assert all(abs(balance["holdout"][s] - shares[s]) < 0.02 for s in SPECIES)
    assert manifest["rows"] == {"train": len(frame) - 60, "holdout": 60}


def test_sources_without_a_time_order_are_not_mistaken_for_one(
    champion: tuple[Path, Path], empty_store: Engine, tmp_path: Path, gate: QualityGate
) -> None:
    # No labelled records at all: since_change trains on the floor's source draw and holds out a random draw.
    registry, source = champion
    datasets = Datasets(Registry(registry), empty_store, {"credit": source}, tmp_path / "sets", gate)
    manifest, train, holdout = _since(datasets, min_rows=500, holdout=100)

    assert manifest["quality"]["holdout_origin"] == "random"
    assert (len(train), len(holdout)) == (500, 100)
    assert manifest["quality"]["rows"]["fill_source"] == 600
    assert len(train) + len(holdout) <= SOURCE_ROWS


def test_by_default_the_older_rows_where_the_inputs_moved_away_are_trained_on_too(
    champion: tuple[Path, Path], empty_store: Engine, tmp_path: Path, gate: QualityGate, before: pd.DataFrame
) -> None:
    # After the change the traffic comes from older applicants only: the younger ones' older rows
    # are the only evidence about them, and nothing says their concept changed.
    pool = credit_frame(4000, seed=9, drift="concept")
    after = pool[pool["age"] >= 50].iloc[:AFTER]
    fill_store(empty_store, before, start=START, prefix="before")
    fill_store(empty_store, after, start=CHANGE, prefix="after")
    registry, source = champion
    datasets = Datasets(Registry(registry), empty_store, {"credit": source}, tmp_path / "sets", gate)

    manifest, train, holdout = _since(datasets, min_rows=300, holdout=100)

    newer, older = train[train["sample_weight"] == 1.0], train[train["sample_weight"] == 0.25]
    assert _rows(newer) == _rows(after.iloc[:-100])
    assert _rows(holdout) == _rows(after.iloc[-100:])
    young = before[before["age"] < 35]
    assert set(_rows(young)) <= set(_rows(older))  # where the post-change rows never go
    assert not set(_rows(before[before["age"] >= 55])) & set(_rows(older))  # where they decide
    rows = manifest["quality"]["rows"]
    assert 0 < rows["fill_labelled"] < BEFORE
    assert rows["fill_source"] > 0
