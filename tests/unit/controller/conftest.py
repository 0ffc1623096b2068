"""Fixtures of the controller's unit tests: a registry with a real tiny champion, a migrated SQLite store.

The API tests drive the real routes over ASGITransport with a controller whose job queue is not
consumed, so that submitted jobs stay queued and the request-side rules (signature, idempotency,
coalescing, admin token) are tested without a training run racing them.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from controller_support import ADMIN, SECRET, TINY
from sqlalchemy import Engine

from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.store.engine import make_engine
from driftloop.store.migrate import upgrade
from driftloop.store.settings import StoreSettings
from driftloop.train.run import train_model
from driftloop_controller.app import create_app
from driftloop_controller.controller import Controller
from driftloop_controller.settings import AuthSettings, ControllerSettings, WebhookSecretSettings


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding ``credit`` versions 1 (champion) and 2 (a second real model, not champion)."""
    root = tmp_path_factory.mktemp("registry")
    registry = Registry(root)
    train_model(pd.DataFrame(make_credit(600, seed=1)), config=TINY, name="credit", registry=registry)
    train_model(pd.DataFrame(make_credit(600, seed=2)), config=TINY, name="credit", registry=registry)
    return root


@pytest.fixture
def registry_path(trained_registry: Path, tmp_path: Path) -> Path:
    path = tmp_path / "registry"
    shutil.copytree(trained_registry, path)
    return path


@pytest.fixture
def settings(registry_path: Path, tmp_path: Path) -> ControllerSettings:
    return ControllerSettings(
        registry={"path": registry_path},
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        webhook=WebhookSecretSettings(secret=SECRET),
        auth=AuthSettings(admin_token=ADMIN),
        features={"url": "http://127.0.0.1:9"},  # never called: these tests do not run jobs
    )


@pytest.fixture
def engine(settings: ControllerSettings) -> Engine:
    engine = make_engine(settings.store)
    upgrade(engine)
    return engine


@pytest.fixture
def controller(settings: ControllerSettings, engine: Engine) -> Controller:
    return Controller(settings, engine)


@pytest.fixture
async def client(settings: ControllerSettings, controller: Controller) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    app.state.controller = controller  # not entered: its queue is not consumed
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://controller") as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
