"""``driftloop registry list | show | promote | rollback``, tables and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftloop.cli.main import app


def _run(runner: CliRunner, registry: Path, *args: str) -> str:
    result = runner.invoke(app, ["registry", *args, "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_list_and_show(runner: CliRunner, trained: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    registry, _ = trained
    listing = json.loads(_run(runner, registry, "list", "--json"))
    assert listing["models"] == [{"model": "credit", "aliases": {"champion": 1}, "versions": [1, 2]}]
    table = _run(runner, registry, "list")
    assert "credit" in table
    assert "2 (latest 2)" in table
    versions = json.loads(_run(runner, registry, "list", "credit", "--json"))
    assert [v["version"] for v in versions["versions"]] == [1, 2]
    assert versions["versions"][1]["lineage"]["parent_version"] == 1
    shown = json.loads(_run(runner, registry, "show", "credit@2", "--json"))
    assert shown["version"] == 2
    assert shown["aliases"] == []
    assert shown["contract"]["target"] == "default"
    assert shown["lineage"]["trigger"] == "cli"
    text = _run(runner, registry, "show", "credit")
    assert "credit@1" in text
    assert "champion" in text
    assert "parity" in text


def test_promote_and_rollback(runner: CliRunner, trained: tuple[Path, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    source, _ = trained
    registry = tmp_path / "copy"
    import shutil

    shutil.copytree(source, registry)  # this test moves aliases: keep the shared registry as it was
    moved = json.loads(_run(runner, registry, "promote", "credit", "2", "--json"))
    assert moved == {"model": "credit", "alias": "champion", "previous": 1, "version": 2}
    assert "credit@canary → version 1" in _run(runner, registry, "promote", "credit", "1", "--alias", "canary")
    back = json.loads(_run(runner, registry, "rollback", "credit", "--json"))
    assert back == {"model": "credit", "alias": "champion", "previous": 2, "version": 1}
    assert json.loads(_run(runner, registry, "show", "credit", "--json"))["version"] == 1
    result = runner.invoke(app, ["registry", "rollback", "credit", "--registry", str(registry)])
    assert result.exit_code == 1
    assert "no previous version to roll back to" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "ghost"], "model 'ghost' is not in the registry"),
        (["show", "credit@9"], "model 'credit' has no version 9"),
        (["promote", "credit", "9"], "model 'credit' has no version 9"),
        (["list", "ghost"], "model 'ghost' is not in the registry"),
    ],
)
def test_registry_errors(runner: CliRunner, trained: tuple[Path, dict], args: list[str], message: str) -> None:  # type: ignore[type-arg]
    registry, _ = trained
    result = runner.invoke(app, ["registry", *args, "--registry", str(registry)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_registry_location_from_the_environment(runner: CliRunner, trained: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    registry, _ = trained
    result = runner.invoke(app, ["registry", "list", "--json"], env={"DRIFTLOOP_REGISTRY__PATH": str(registry)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["registry"] == str(registry)


def test_empty_registry(runner: CliRunner, tmp_path: Path) -> None:
    assert "no models in" in _run(runner, tmp_path, "list")
