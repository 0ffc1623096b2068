"""Real sweeps on small data, run once per session and shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from train_helpers import SMALL, credit_frame

from driftloop.registry import Registry
from driftloop.train.run import TrainResult, train_model


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def credit_result(registry: Registry) -> TrainResult:
    """Binary, with categoricals and missing values, registered as ``credit``."""
    return train_model(credit_frame(), "default", config=SMALL, name="credit", registry=registry, trigger="test")


@pytest.fixture(scope="session")
def cancer_result() -> TrainResult:
    frame = load_breast_cancer(as_frame=True).frame
    return train_model(frame, "target", config=SMALL)


@pytest.fixture(scope="session")
def wine_result() -> TrainResult:
    frame = load_wine(as_frame=True).frame
    return train_model(frame, "target", config=SMALL)


@pytest.fixture(scope="session")
def diabetes_result() -> TrainResult:
    frame = load_diabetes(as_frame=True).frame
    return train_model(frame, "target", config=SMALL)


@pytest.fixture
def write_csv(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(frame: pd.DataFrame, name: str = "data.csv") -> Path:
        path = tmp_path / name
        frame.to_csv(path, index=False)
        return path

    return write
