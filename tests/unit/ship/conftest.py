"""Fixtures for the shipping checks: the real helm binary (built by tools/setup.d/30-helm.sh) and
rendered chart manifests, parsed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from ship_helpers import CHART, HELM, Manifests, Render, helm_template


@pytest.fixture(scope="session")
def helm() -> Path:
    if not HELM.exists():
        pytest.fail(
            f"{HELM} is missing: run `bash tools/setup.d/30-helm.sh` (or `make setup`) to build it", pytrace=False
        )
    return HELM


@pytest.fixture(scope="session")
def render(helm: Path) -> Render:
    """``render("a.b=c", ..., values_file=None, chart=CHART)``: the manifests `helm template` produces."""
    cache: dict[tuple[Any, ...], Manifests] = {}

    def _render(*sets: str, values_file: Path | None = None, chart: Path = CHART) -> Manifests:
        key = (values_file, chart, sets)
        if key not in cache:
            args: list[str] = []
            if values_file is not None:
                args += ["--values", str(values_file)]
            for assignment in sets:
                args += ["--set", assignment]
            result = helm_template(helm, *args, chart=chart)
            if result.returncode != 0:
                pytest.fail(f"helm template failed:\n{result.stderr}", pytrace=False)
            cache[key] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return cache[key]

    return _render


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    target = tmp_path / "driftloop"
    shutil.copytree(CHART, target)
    return target
