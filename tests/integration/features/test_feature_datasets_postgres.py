"""A training set materialised from PostgreSQL (JSONB records, timezone-aware times), as in a cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from driftloop.registry import Registry
from driftloop.store import StoreSettings, make_engine, upgrade
from driftloop_features.datasets import Datasets
from driftloop_features.strategy import DatasetRequest, QualityGate

# The unit tests' builders of a registered champion and a filled store are shared, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "features"))
from features_store import TARGET, credit_frame, fill_store, register_credit


def test_recent_set_from_postgres(fresh_database: str, tmp_path: Path) -> None:
    source = credit_frame(500, seed=1)
    register_credit(tmp_path / "registry", source)
    labelled = credit_frame(400, seed=2, drift="concept")
    engine = make_engine(StoreSettings(url=fresh_database))
    try:
        upgrade(engine)
        fill_store(engine, labelled)
        datasets = Datasets(
            Registry(tmp_path / "registry"), engine, {}, tmp_path / "sets", QualityGate(min_train_rows=100)
        )
        request = DatasetRequest.model_validate(
            {"model": "credit", "strategy": {"kind": "recent", "recent": 300, "holdout": 100}}
        )
        manifest = datasets.create(request)
    finally:
        engine.dispose()

    train = pd.read_parquet(manifest["train_path"])
    holdout = pd.read_parquet(manifest["holdout_path"])
    assert manifest["rows"] == {"train": 300, "holdout": 100}
    columns = ["loan_amount", "interest_rate"]
    assert holdout[columns].to_numpy().tolist() == labelled[columns].iloc[-100:].to_numpy().tolist()
    assert train[TARGET].tolist() == labelled[TARGET].iloc[:300].tolist()
