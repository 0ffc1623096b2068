"""Fixtures of the forwarder drift tests: a real credit model trained by driftloop.train, settings."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from drift_stream import RULES_YAML, SECRET, Scorer

from driftloop.datasets import make_credit
from driftloop.drift.notify import WebhookSettings
from driftloop.registry import Registry
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.settings import BusSettings
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_model
from driftloop_forwarder.settings import DriftSettings, ForwarderSettings, ForwardSettings


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """credit@1: a linear model trained and registered by driftloop.train (max_trials 2)."""
    root = tmp_path_factory.mktemp("drift-registry")
    config = TrainConfig(target="default", time_budget=10, max_trials=2, families=["linear"], seed=0)
    train_model(pd.DataFrame(make_credit(4000, seed=100)), config=config, name="credit", registry=Registry(root))
    return root


@pytest.fixture
def registry(trained_registry: Path, tmp_path: Path) -> Registry:
    shutil.copytree(trained_registry, tmp_path / "registry")
    return Registry(tmp_path / "registry")


@pytest.fixture
def scorer(registry: Registry) -> Scorer:
    return Scorer(registry.resolve("credit", 1))


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    return path


@pytest.fixture
def make_settings(registry: Registry, rules_file: Path, tmp_path: Path) -> Callable[..., ForwarderSettings]:
    """Forwarder settings on an embedded bus and a SQLite store in tmp_path; keywords override groups."""

    def make(webhook_url: str = "http://127.0.0.1:9/v1/retrain", **groups: Any) -> ForwarderSettings:
        fields: dict[str, Any] = {
            "registry": {"path": registry.root},
            "bus": BusSettings(
                url=f"sqlite:///{tmp_path / 'bus.db'}", spill_path=tmp_path / "spill", poll_timeout_ms=20
            ),
            "store": StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
            "forward": ForwardSettings(batch_size=500),
            "drift": DriftSettings(rules=str(rules_file), retrain_poll_s=0.1, flush_interval_s=0.1),
            "webhook": WebhookSettings(url=webhook_url, secret=SECRET, initial_backoff=0.05, max_backoff=0.2),
        }
        return ForwarderSettings(**{**fields, **groups})

    return make
