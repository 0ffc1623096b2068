"""Fixtures of the feature-engineering tests: source data, a registered champion, a filled SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from features_store import LABELLED_ROWS, SOURCE_ROWS, credit_frame, fill_store, register_credit, store_engine
from sqlalchemy import Engine

from driftloop.registry import Registry
from driftloop.store import StoreSettings
from driftloop_features.datasets import Datasets
from driftloop_features.settings import FeaturesGroup, FeaturesSettings
from driftloop_features.strategy import QualityGate


@pytest.fixture(scope="session")
def source_frame() -> pd.DataFrame:
    return credit_frame(SOURCE_ROWS, seed=1)


@pytest.fixture(scope="session")
def labelled_frame() -> pd.DataFrame:
    """Production traffic after a concept drift, in the order it was scored."""
    return credit_frame(LABELLED_ROWS, seed=2, drift="concept")


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory, source_frame: pd.DataFrame) -> tuple[Path, Path]:
    """(registry path, source CSV path), built once: a real model registered from the source data."""
    root = tmp_path_factory.mktemp("champion")
    source_path = root / "credit.csv"
    source_frame.to_csv(source_path, index=False)
    register_credit(root / "registry", source_frame)
    return root / "registry", source_path


@pytest.fixture
def empty_store(tmp_path: Path) -> Iterator[Engine]:
    engine = store_engine(tmp_path / "store.db")
    yield engine
    engine.dispose()


@pytest.fixture
def store(empty_store: Engine, labelled_frame: pd.DataFrame) -> Engine:
    fill_store(empty_store, labelled_frame)
    return empty_store


@pytest.fixture
def gate() -> QualityGate:
    return QualityGate(min_train_rows=100, min_holdout_rows=20)


@pytest.fixture
def datasets(champion: tuple[Path, Path], store: Engine, tmp_path: Path, gate: QualityGate) -> Datasets:
    registry, source = champion
    return Datasets(Registry(registry), store, {"credit": source}, tmp_path / "datasets", gate)


@pytest.fixture
def settings(champion: tuple[Path, Path], tmp_path: Path, gate: QualityGate) -> FeaturesSettings:
    registry, source = champion
    return FeaturesSettings(
        registry={"path": registry},
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        features=FeaturesGroup(sources={"credit": source}, datasets_dir=tmp_path / "datasets", gate=gate),
        log={"json_logs": False},
    )
