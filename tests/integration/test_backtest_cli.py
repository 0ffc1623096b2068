"""``driftloop backtest`` end to end on a small generated history with a known concept change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from driftloop.datasets import make_credit

CHANGE = 3000


def test_the_backtest_retrains_after_the_change_and_beats_no_retraining(tmp_path: Path) -> None:
    history = pd.concat(
        [pd.DataFrame(make_credit(CHANGE, seed=41)), pd.DataFrame(make_credit(3000, seed=42, drift="concept"))]
    )
    data = tmp_path / "history.csv"
    history.to_csv(data, index=False)
    report = tmp_path / "backtest.html"
    command = [
        sys.executable, "-m", "driftloop.cli.main", "backtest", "--data", str(data), "--target", "default",
        "--train-rows", "1500", "--change-at", str(CHANGE), "--max-trials", "1", "--family", "linear",
        "--periodic", "1000:2000", "--out", str(report), "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert set(result["arms"]) == {"loop", "none", "periodic 1000/2000", "oracle"}
    assert result["alarms_before_change"] == 0
    (first, *_) = [r for r in result["retrains"] if r["rule"] == "concept-drift"]
    assert first["fired_row"] >= CHANGE
    assert first["strategy"] == "since_change"
    assert abs(first["change_row"] - CHANGE) <= 500
    loop, none = result["arms"]["loop"], result["arms"]["none"]
    assert loop["promotions"] >= 1
    assert loop["score_after_change"] > none["score_after_change"]
    assert result["first_alarm_labelled_since_change"] > 0
    page = report.read_text()
    assert "<svg" in page
    assert "concept-drift" in page


def test_a_target_the_file_lacks_is_one_line_and_a_configuration_exit_code(tmp_path: Path) -> None:
    data = tmp_path / "history.csv"
    pd.DataFrame(make_credit(200, seed=1)).to_csv(data, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "driftloop.cli.main", "backtest", "--data", str(data), "--target", "nope"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2  # a configuration error, as every command reports one
    assert "column 'nope' is not in" in done.stderr
    assert "Traceback" not in done.stderr
