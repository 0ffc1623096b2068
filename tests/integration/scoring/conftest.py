"""Fixtures of the scoring integration tests: a registry of tiny real models and real servers."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The model builders live with the unit tests; both test folders share them.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "scoring"))
from scoring_bundles import build_registry
from scoring_server import ScoringServer

from driftloop.registry import Registry


@pytest.fixture(scope="session")
def scoring_registry_template(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return build_registry(tmp_path_factory.mktemp("scoring-registry"))


@pytest.fixture
def scoring_registry(scoring_registry_template: Registry, tmp_path: Path) -> Registry:
    """A copy of the template registry that the test may change."""
    root = tmp_path / "registry"
    shutil.copytree(scoring_registry_template.root, root)
    return Registry(root)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[type[ScoringServer]]:
    """Starts servers for a test and stops every one of them at its end."""
    started: list[ScoringServer] = []

    class Tracked(ScoringServer):
        def start(self) -> None:
            started.append(self)
            super().start()

    yield Tracked
    for server in started:
        server.stop()
