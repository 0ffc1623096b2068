"""A registry trained through the command line once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftloop.cli.main import app
from driftloop.datasets import write_credit_csv


@pytest.fixture(scope="session")
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"})


@pytest.fixture(scope="session")
def credit_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_credit_csv(tmp_path_factory.mktemp("data") / "credit.csv", 800, seed=2)


@pytest.fixture(scope="session")
def trained(runner: CliRunner, credit_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """Two versions of ``credit`` in a fresh registry; returns (registry, first --json result)."""
    registry = tmp_path_factory.mktemp("registry")
    results = []
    for seed in (1, 2):
        result = runner.invoke(
            app,
            [
                "train",
                "--data",
                str(credit_csv),
                "--target",
                "default",
                "--registry",
                str(registry),
                "--max-trials",
                "3",
                "--seed",
                str(seed),
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        results.append(json.loads(result.stdout))
    return registry, results[0]
