"""Every mistake is one line on stderr and a non-zero exit, and a failed command leaves no file behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftloop import __version__
from driftloop.cli.main import app


def _files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, where the default registry and store would be created."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTLOOP_REGISTRY__PATH", raising=False)
    monkeypatch.delenv("DRIFTLOOP_STORE__URL", raising=False)
    return tmp_path


def _fails(runner: CliRunner, args: list[str], code: int, *, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_version_flag_and_command(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"driftloop {__version__}\n")
    result = runner.invoke(app, ["version"])
    assert (result.exit_code, result.stdout) == (0, f"{__version__}\n")


@pytest.mark.parametrize(
    "args",
    [
        ["registry", "list", "--json", "true"],
        ["registry", "show", "credit", "--json", "false"],
        ["train", "--data", "x.csv", "--quiet", "yes"],
        ["train", "--data", "x.csv", "-q", "1", "--json"],
        ["backtest", "--data", "x.csv", "--target", "y", "--json", "True"],
    ],
)
def test_a_flag_takes_no_value(runner: CliRunner, workdir: Path, args: list[str]) -> None:
    line = _fails(runner, args, 2)
    assert "is a flag and takes no value" in line
    assert _files(workdir) == []


def test_flags_read_as_flags_in_help(runner: CliRunner) -> None:
    for command in (["registry", "list"], ["train"], ["backtest"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "--json / --no-json" in result.stdout
        assert "<bool>" not in result.stdout
    assert "--quiet / --no-quiet" in runner.invoke(app, ["train", "--help"]).stdout


def test_a_value_that_looks_like_a_boolean_is_still_a_value(runner: CliRunner, workdir: Path) -> None:
    # --target takes a value: "true" is that value, not a flag's; --no-json is a flag on its own.
    line = _fails(runner, ["train", "--data", "x.csv", "--target", "true", "--no-json"], 1)
    assert line == "error: --data x.csv: no such file"


def test_usage_errors_are_one_line(runner: CliRunner) -> None:
    line = _fails(runner, ["serve", "scoring", "--por", "9999"], 2)
    assert line == "error: No such option: --por (Possible options: --port) (see: driftloop serve --help)"
    line = _fails(runner, ["registry", "lst"], 2)
    assert "Did you mean 'list'?" in line
    _fails(runner, ["serve", "scoring", "--workers", "0"], 2)


def test_serve_refuses_workers_for_a_one_process_service(runner: CliRunner) -> None:
    for service in ("forwarder", "controller", "features"):
        line = _fails(runner, ["serve", service, "--workers", "2"], 2)
        assert "service runs as one process: " in line


def test_report_without_a_store_creates_nothing(
    runner: CliRunner,
    workdir: Path,
    trained: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    registry, _ = trained
    line = _fails(runner, ["report", "--model", "credit", "--registry", str(registry)], 1)
    assert line.startswith("error: no store at .driftloop/store.db: the telemetry forwarder writes it")
    _fails(runner, ["report", "--model", "credit", "--registry", str(registry), "--store", "sqlite:///a/b.db"], 1)
    line = _fails(runner, ["report", "--model", "nope", "--registry", str(registry)], 1)
    assert line == f"error: model 'nope' is not in the registry at {registry}"
    _fails(runner, ["report", "--model", "credit", "--since", "yesterday"], 1)
    assert _files(workdir) == []


def test_report_on_a_store_without_driftloop_tables(
    runner: CliRunner,
    workdir: Path,
    trained: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    registry, _ = trained
    sqlite3.connect(workdir / "other.db").close()
    args = ["report", "--model", "credit", "--registry", str(registry), "--store", "sqlite:///other.db"]
    assert "has no driftloop tables" in _fails(runner, args, 1)
    assert not (workdir / "report.html").exists()
    unreachable = "postgresql+psycopg://driftloop:secret@127.0.0.1:1/driftloop"
    args = ["report", "--model", "credit", "--registry", str(registry), "--store", unreachable]
    line = _fails(runner, args, 2)
    assert line.startswith("error: cannot read the store at postgresql+psycopg://driftloop:***@127.0.0.1:1/driftloop")
    assert "secret" not in line


@pytest.mark.parametrize(
    "args",
    [
        ["registry", "promote", "nope", "1"],
        ["registry", "rollback", "nope"],
        ["registry", "show", "nope"],
        ["registry", "list", "nope"],
        ["train", "--data", "missing.csv", "--target", "y"],
        ["backtest", "--data", "missing.csv", "--target", "y"],
        ["up", "--data", "missing.csv", "--target", "y"],
    ],
)
def test_a_failed_command_leaves_no_file(runner: CliRunner, workdir: Path, args: list[str]) -> None:
    _fails(runner, args, 1)
    assert _files(workdir) == []


def test_an_invalid_setting_stops_a_service_in_one_line(runner: CliRunner, workdir: Path) -> None:
    line = _fails(runner, ["serve", "forwarder"], 2, env={"DRIFTLOOP_PORT": "eighty"})
    assert line.startswith("error: invalid setting: DRIFTLOOP_PORT: Input should be a valid integer")
    assert _files(workdir) == []
