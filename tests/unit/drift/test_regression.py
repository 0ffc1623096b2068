"""A regression model's windows: predicted values as a numeric column, RMSE/MAE against the holdout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from driftloop.contract import Task
from driftloop.drift.config import DetectionConfig, WindowConfig
from driftloop.drift.evaluator import RuleEvaluator
from driftloop.drift.reference import ReferenceProfile, parse_profile
from driftloop.drift.rules import parse_rules
from driftloop.drift.window import DriftMonitor
from driftloop.train.dataset import infer_contract
from driftloop.train.frame import model_frame
from driftloop.train.metrics import task_metrics
from driftloop.train.profile import build_profile


def _world(rows: int, seed: int, *, noise: float = 1.0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows) + shift
    z = rng.choice(["a", "b", "c"], rows)
    y = 3 * x + np.select([z == "a", z == "b"], [1.0, -1.0], 0.0) + rng.normal(scale=noise, size=rows)
    return pd.DataFrame({"x": x, "z": z, "y": y})


@pytest.fixture(scope="module")
def regression() -> tuple[Ridge, ReferenceProfile]:
    frame = _world(5000, 0)
    contract = infer_contract(frame, "y")
    assert contract.task is Task.REGRESSION
    x = pd.get_dummies(model_frame(frame, contract), columns=["z"], dtype=float)
    model = Ridge().fit(x.iloc[:4000], frame["y"][:4000])
    holdout = model.predict(x.iloc[4000:])
    profile = build_profile(model_frame(frame, contract).iloc[:4000], contract, holdout, seed=0)
    metrics = {
        "task": "regression",
        "metric": "rmse",
        "holdout": task_metrics(contract.task, frame["y"][4000:], holdout),
    }
    return model, parse_profile(profile, metrics)


def _windows(model: Ridge, reference: ReferenceProfile, frame: pd.DataFrame, rules: str) -> tuple[Any, list[str]]:
    """Two windows of half the frame each, through the rules; the last report and the rules fired."""
    x = pd.get_dummies(frame[["x", "z"]], columns=["z"], dtype=float)
    monitor = DriftMonitor(WindowConfig(size=len(frame) // 2), DetectionConfig(), lambda name, version: reference)
    columns = {"x": frame["x"].to_numpy(), "z": frame["z"].to_numpy()}
    reports = monitor.add("r", 1, columns, model.predict(x), labels=frame["y"])
    evaluator = RuleEvaluator(parse_rules(rules))
    return reports[-1], [f.rule for report in reports for f in evaluator.evaluate(report)]


RULES = """
rules:
  - {name: values, statistic: prediction_drift, consecutive: 2}
  - {name: error, statistic: performance_drop, threshold: 0.2, consecutive: 2}
"""


def test_a_calm_window_fires_nothing(regression: tuple[Ridge, ReferenceProfile]) -> None:
    report, fired = _windows(*regression, _world(1600, 1), RULES)
    assert fired == []
    assert report.predictions.verdict.method == "ks"
    assert set(report.performance.metrics) == {"rmse", "mae"}


def test_shifted_inputs_move_the_predictions_and_noisier_labels_the_error(
    regression: tuple[Ridge, ReferenceProfile],
) -> None:
    _, fired = _windows(*regression, _world(1600, 2, shift=0.5), RULES)
    assert fired == ["values"]
    report, fired = _windows(*regression, _world(1600, 3, noise=2.0), RULES)
    assert fired == ["error"]
    assert report.performance.degradation["rmse"] > 0.5
