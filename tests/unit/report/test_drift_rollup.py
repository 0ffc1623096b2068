"""The 5-minute drift rollup against the window rows: the drift chart is the same either way.

The store is filled through ``insert_metrics`` (what the forwarder's ``write_window`` calls), with
windows of 20 s, NULL values and verdicts, rows the chart does not show, and a window written
twice (two rows, as ``drift_metrics`` then has). The oracle is the same chart grouped from the
window rows in SQL (the rollup switched off).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from drift_windows import HOURS, START, WINDOW_S, close, window_rows
from driftloop.report import drift as drift_chart
from driftloop.report.performance import JudgedMetric, performance
from driftloop.report.timerange import resolve_range
from driftloop.store import make_engine, upgrade
from driftloop.store.drift import insert_metrics
from driftloop.store.drift_rollup import DriftSlot
from driftloop.store.settings import StoreSettings


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    rows = window_rows(4)
    with engine.begin() as connection:
        for start in range(0, len(rows), 140):  # ten windows of 14 rows per call
            insert_metrics(connection, rows[start : start + 140])
        insert_metrics(connection, rows[:14])  # the first window written twice
    return engine


@pytest.mark.parametrize(
    ("since", "until", "step"),
    [
        (START + timedelta(minutes=3), START + timedelta(hours=6, minutes=58), 300),  # partial slots at both ends
        (START + timedelta(minutes=1), START + timedelta(hours=HOURS), 300),
        (START - timedelta(days=1), START + timedelta(days=1), 1800),
    ],
)
def test_the_drift_chart_from_the_slots_equals_the_chart_from_the_windows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, since: datetime, until: datetime, step: int
) -> None:
    rng = resolve_range(engine, "credit", since, until)
    assert rng.step == step
    assert drift_chart.uses_slots(rng)
    from_slots = drift_chart.drift(engine, "credit", rng)
    monkeypatch.setattr(drift_chart, "uses_slots", lambda _: False)
    from_windows = drift_chart.drift(engine, "credit", rng)
    assert close(from_slots, from_windows), (from_slots, from_windows)
    assert from_slots["columns"] == ["age", "city", "income", "__predictions__"]
    assert len(from_slots["time"]) > 10
    assert all(series["drifted_buckets"] > 0 for series in from_slots["scores"])


def test_only_the_charted_rows_are_rolled_up_and_each_once(engine: Engine) -> None:
    with engine.connect() as connection:
        windows, statistics = connection.execute(
            select(func.sum(DriftSlot.windows), func.count(DriftSlot.statistic.distinct()))
        ).one()
    # 4 columns x (psi, drift_score) and the accuracy per window; the first window was written twice.
    assert windows == (4 * 2 + 1) * (HOURS * 3600 // WINDOW_S + 1)
    assert statistics == 3


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (START + timedelta(minutes=3), START + timedelta(hours=6, minutes=58)),
        (START - timedelta(days=1), START + timedelta(days=1)),
    ],
)
def test_the_windows_metric_from_the_slots_equals_the_metric_from_the_windows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, since: datetime, until: datetime
) -> None:
    judged = JudgedMetric("accuracy", holdout=0.85, rule="performance-drop", drop=0.1)
    rng = resolve_range(engine, "credit", since, until)
    assert drift_chart.uses_slots(rng)
    from_slots = performance(engine, "credit", rng, judged=judged)["judged"]
    monkeypatch.setattr(drift_chart, "uses_slots", lambda _: False)
    from_windows = performance(engine, "credit", rng, judged=judged)["judged"]
    assert close(from_slots, from_windows), (from_slots, from_windows)
    assert len(from_slots["time"]) > 10
    assert all(0.7 <= v <= 0.9 for v in from_slots["value"])
    assert from_slots["fires_at"] == pytest.approx(0.765)


def test_the_line_a_performance_rule_fires_at() -> None:
    assert JudgedMetric("roc_auc", 0.8, "performance-drop", 0.1).fires_at == pytest.approx(0.72)
    assert JudgedMetric("rmse", 10.0, "rmse-increase", 0.1).fires_at == pytest.approx(11.0)
    assert JudgedMetric("roc_auc", None, "performance-drop", 0.1).fires_at is None
    assert JudgedMetric("roc_auc", 0.8, None, None).fires_at is None
