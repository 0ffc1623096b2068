from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from scoring_bundles import build_registry
from scoring_client import started_client

from driftloop.registry import Registry
from driftloop.telemetry.settings import BusSettings
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import AuthSettings, ScoringRegistrySettings, ScoringSettings


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return build_registry(tmp_path_factory.mktemp("registry"))


@pytest.fixture
def settings(registry: Registry, tmp_path: Path) -> ScoringSettings:
    return ScoringSettings(
        registry=ScoringRegistrySettings(path=registry.root, poll_interval_s=0),
        bus=BusSettings(url=f"sqlite:///{tmp_path}/bus.db", spill_path=tmp_path / "spill"),
        auth=AuthSettings(),
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(settings: ScoringSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in started_client(create_app(settings)):
        yield client
