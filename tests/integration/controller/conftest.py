"""Fixtures of the controller's integration tests: a real champion, the stand-ins on 127.0.0.1, a running controller."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from controller_harness import ADMIN, KUBE_TOKEN, SECRET, write_policy
from standins import FeaturesStandIn, KubernetesStandIn, serve

from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.store.settings import StoreSettings
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_model
from driftloop_controller.settings import ControllerSettings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def champion_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """credit@1, the champion, trained before the concept shift."""
    root = tmp_path_factory.mktemp("champion")
    config = TrainConfig(target="default", time_budget=5, max_trials=2, families=["linear"], seed=0)
    train_model(pd.DataFrame(make_credit(1000, seed=1)), config=config, name="credit", registry=Registry(root))
    return root


@pytest.fixture
def registry(champion_registry: Path, tmp_path: Path) -> Registry:
    shutil.copytree(champion_registry, tmp_path / "registry")
    return Registry(tmp_path / "registry")


@pytest.fixture
def after_shift() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recent labelled data after the concept shift: a training set and a disjoint holdout."""
    return pd.DataFrame(make_credit(2500, seed=2, drift="concept")), pd.DataFrame(
        make_credit(800, seed=3, drift="concept")
    )


@pytest.fixture
def shuffled(after_shift: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    train = after_shift[0]
    return train.assign(default=np.random.default_rng(0).permutation(train["default"].to_numpy()))


@pytest.fixture
def features(tmp_path: Path) -> Iterator[tuple[FeaturesStandIn, str]]:
    directory = tmp_path / "datasets"
    directory.mkdir()
    stand_in = FeaturesStandIn(directory)
    with serve(stand_in.app()) as url:
        yield stand_in, url


@pytest.fixture
def kube() -> Iterator[tuple[KubernetesStandIn, str]]:
    stand_in = KubernetesStandIn(token=KUBE_TOKEN)
    with serve(stand_in.app()) as url:
        yield stand_in, url


@pytest.fixture
def settings(registry: Registry, features: tuple[FeaturesStandIn, str], tmp_path: Path) -> ControllerSettings:
    return ControllerSettings(
        registry={"path": registry.root},
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        webhook={"secret": SECRET},
        auth={"admin_token": ADMIN},
        features={"url": features[1], "poll_seconds": 0.05},
        policy=write_policy(tmp_path / "policy.yaml"),
    )
