"""Fixtures of the dashboard tests: a store filled by the real loop, and the retrain-controller serving it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_loop import TOKEN, LoopStore, build_loop_store, service
from integration_servers import free_port


@pytest.fixture(scope="session")
def loop_store(tmp_path_factory: pytest.TempPathFactory) -> LoopStore:
    return build_loop_store(tmp_path_factory.mktemp("loop"))


@pytest.fixture(scope="session")
def controller_url(loop_store: LoopStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real retrain-controller (uvicorn, its own process) over the loop's store, with a dashboard token."""
    port = free_port()
    env = {
        "DRIFTLOOP_REGISTRY__PATH": str(loop_store.registry),
        "DRIFTLOOP_STORE__URL": loop_store.store_url,
        "DRIFTLOOP_DASHBOARD__TOKEN": TOKEN,
        "DRIFTLOOP_LOG__LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path_factory.mktemp("controller") / "controller.log"
    url = f"http://127.0.0.1:{port}"
    with service([*command, "driftloop_controller.app:create_app"], env, f"{url}/healthz", log):
        yield url


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (the pytest tmp dir; the path is printed by the tests that write one)."""
    return tmp_path_factory.mktemp("dashboard-artefacts")
