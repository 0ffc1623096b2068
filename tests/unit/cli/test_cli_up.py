"""``driftloop up``: its mistakes are one line and an exit code, and a model's source data comes from its lineage.

Starting the services is end to end (tests/e2e/test_e2e_up.py); here nothing is started: every
case below stops before the first service would.
"""

from __future__ import annotations

import json
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from driftloop.cli.main import app
from driftloop.cli.up import score_command, source_data
from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_model


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _one_line_error(result: object, exit_code: int, *words: str) -> None:
    output: str = result.output  # type: ignore[attr-defined]
    assert result.exit_code == exit_code, output  # type: ignore[attr-defined]
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    assert "Traceback" not in output
    for word in words:
        assert word in lines[0], output


@pytest.mark.parametrize(
    ("args", "exit_code", "words"),
    [
        (["--data", "missing.csv", "--target", "default"], 1, ["missing.csv", "no such file"]),
        (["--data", "{csv}", "--target", "nope"], 1, ["'nope'", "not a column", "credit_score"]),
        (["--data", "{csv}"], 2, ["--target"]),
        (["--target", "default"], 2, ["--data"]),
        (["--name", "loans"], 2, ["--data"]),
        (["--data", "{csv}", "--target", "default", "--policy", "missing.yaml"], 2, ["missing.yaml", "no such file"]),
        (["--data", "{csv}", "--target", "default", "--policy", "{bad_policy}"], 2, ["window"]),
    ],
)
def test_mistakes_are_one_line_and_an_exit_code(
    runner: CliRunner, credit_csv: Path, tmp_path: Path, args: list[str], exit_code: int, words: list[str]
) -> None:
    bad_policy = tmp_path / "policy.yaml"
    bad_policy.write_text("window: {by: weekly}\n")
    filled = [arg.format(csv=credit_csv, bad_policy=bad_policy) for arg in args]
    result = runner.invoke(app, ["up", "--home", str(tmp_path / "home"), *filled])
    _one_line_error(result, exit_code, *words)
    assert not (tmp_path / "home" / "registry").exists(), "nothing is trained after a mistake"


def test_a_busy_port_is_named_before_anything_is_trained(
    runner: CliRunner, credit_csv: Path, tmp_path: Path, held_port: int
) -> None:
    args = ["up", "--home", str(tmp_path / "home"), "--data", str(credit_csv), "--target", "default"]
    result = runner.invoke(app, [*args, "--base-port", str(held_port)])
    _one_line_error(result, 2, f"port {held_port} (scoring)", "--base-port")
    assert not (tmp_path / "home" / "registry").exists()


def test_a_registered_model_with_another_target_is_refused(
    runner: CliRunner,
    trained: tuple[Path, dict],
    credit_csv: Path,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    registry, _ = trained
    home = tmp_path / "home"
    home.mkdir()
    (home / "registry").symlink_to(registry)
    result = runner.invoke(
        app, ["up", "--home", str(home), "--data", str(credit_csv), "--target", "age", "--name", "credit"]
    )
    _one_line_error(result, 2, "registered with target 'default'", "--name")


def test_the_lineage_records_an_absolute_path_and_source_data_finds_it(
    runner: CliRunner, credit_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "loans.csv").write_bytes(credit_csv.read_bytes())
    monkeypatch.chdir(workdir)
    registry = tmp_path / "registry"
    args = ["train", "--data", "loans.csv", "--target", "default", "--registry", str(registry), "--max-trials", "1"]
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path)
    store = Registry(registry)
    assert store.resolve("loans", 1).document("lineage")["dataset"]["path"] == str(workdir / "loans.csv")
    assert source_data(store, "loans") == workdir / "loans.csv"

    # A retrain's version names its training-set snapshot: not source data, so it is passed over.
    snapshot = tmp_path / "snapshot.csv"
    snapshot.write_bytes(credit_csv.read_bytes())
    config = TrainConfig(target="default", max_trials=1, families=["linear"])
    frame = pd.read_csv(snapshot)
    train_model(
        frame, config=config, name="loans", registry=store, trigger="retrain job 1f2e (manual)", source=snapshot
    )
    assert store.versions("loans") == [1, 2]
    assert source_data(store, "loans") == workdir / "loans.csv"

    # A source file that is gone is no source data.
    (workdir / "loans.csv").unlink()
    assert source_data(store, "loans") is None


def test_the_score_command_is_one_curl_with_a_record_of_the_contract(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    config = TrainConfig(target="default", max_trials=1, families=["linear"])
    frame = pd.DataFrame(make_credit(300, seed=4))
    frame["region"] = frame["region"].replace({"central": "a'central"})  # the first category: in the example
    train_model(frame, config=config, name="loans", registry=registry)
    command = score_command(registry, "loans", "http://127.0.0.1:8080")
    assert "\n" not in command
    words = shlex.split(command)  # what a shell would pass to curl
    assert words[:3] == ["curl", "-s", "http://127.0.0.1:8080/v1/models/loans/predict"]
    [record] = json.loads(words[words.index("-d") + 1])["records"]
    assert list(record) == registry.resolve("loans").contract.column_names
    assert record["region"] == "a'central"
