"""``driftloop train`` and ``driftloop demo`` through typer's CliRunner (real training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftloop.cli.main import app


def test_train_json_is_machine_readable(trained: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    registry, result = trained
    assert result["model"] == "credit"
    assert result["version"] == 1
    assert Path(result["path"]) == registry / "credit" / "versions" / "1"
    assert result["metric"] == "roc_auc"
    assert result["parity"]["passed"] is True
    assert len(result["leaderboard"]) == 3
    assert result["winner"]["family"] in {row["family"] for row in result["leaderboard"]}


def test_train_shows_leaderboard_and_registration(runner: CliRunner, credit_csv: Path, tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("target: default\nfamilies: [linear, hist_gradient_boosting]\nfolds: 3\n")
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(credit_csv),
            "--config",
            str(config),
            "--name",
            "loans",
            "--registry",
            str(tmp_path / "reg"),
            "--max-trials",
            "2",
            "--metric",
            "log_loss",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Leaderboard (log_loss, 3-fold CV)" in result.stdout
    assert "hist_gradient_boosting" in result.stdout
    assert "Winner on the holdout" in result.stdout
    assert "registered loans@1" in result.stdout
    assert (tmp_path / "reg" / "loans" / "versions" / "1" / "model.onnx").is_file()


def test_train_quiet_prints_only_the_reference(runner: CliRunner, credit_csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(credit_csv),
            "--target",
            "default",
            "--registry",
            str(tmp_path),
            "--max-trials",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "credit@1"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--target", "nope"], "target column 'nope' is not in the data", 1),
        (["--target", "default", "--metric", "rmse"], "metric 'rmse' does not fit a binary task", 2),
        (["--target", "default", "--max-trials", "0"], "max_trials: Input should be greater than or equal to 1", 2),
    ],
)
def test_errors_print_a_message_and_exit_non_zero(
    runner: CliRunner, credit_csv: Path, tmp_path: Path, args: list[str], message: str, code: int
) -> None:
    result = runner.invoke(app, ["train", "--data", str(credit_csv), "--registry", str(tmp_path), *args])
    assert result.exit_code == code
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("*/versions/*"))


def test_error_with_json_prints_the_error_document(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    result = runner.invoke(app, ["train", "--data", str(missing), "--target", "y", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "invalid_data"


def test_task_flag_trains_a_regression(runner: CliRunner, credit_csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(credit_csv),
            "--target",
            "loan_term_months",
            "--task",
            "regression",
            "--registry",
            str(tmp_path),
            "--max-trials",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["task"] == "regression"
    assert summary["metric"] == "r2"
    assert set(summary["holdout"]) == {"rows", "r2", "rmse", "mae"}
