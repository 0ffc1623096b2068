"""Drift charts from ``drift_metrics``: PSI per column and window (heatmap), verdict scores with thresholds.

Windows are grouped into the range's buckets in SQL (mean PSI, mean score, "drifted" if any
window in the bucket drifted), so a week of small windows still reaches the browser as at most
a few thousand cells. Rule firings are listed for the timeline.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, Integer, cast, func, inspect, select

from driftloop.report.timerange import TimeRange, bucket, iso, utc
from driftloop.store.drift import DriftMetric, RuleFiring

PREDICTIONS = "__predictions__"
MAX_SERIES = 6  # score time series: the columns closest to (or past) their threshold


def drift(engine: Engine, model: str, rng: TimeRange) -> dict[str, Any]:
    if not inspect(engine).has_table("drift_metrics"):
        return {**rng.to_dict(), "time": [], "columns": [], "psi": [], "scores": [], "firings": []}
    b = bucket(DriftMetric.window_end, rng.step, engine.dialect.name).label("b")
    query = (
        select(
            b,
            DriftMetric.column_name,
            DriftMetric.statistic,
            func.avg(DriftMetric.value),
            func.avg(DriftMetric.threshold),
            func.max(cast(DriftMetric.drifted, Integer)),
        )
        .where(
            DriftMetric.model == model,
            DriftMetric.window_end >= rng.since,
            DriftMetric.window_end < rng.until,
            DriftMetric.statistic.in_(("psi", "drift_score")),
            (~DriftMetric.column_name.startswith("__", autoescape=True)) | (DriftMetric.column_name == PREDICTIONS),
            DriftMetric.column_name != "",
        )
        .group_by(b, DriftMetric.column_name, DriftMetric.statistic)
    )
    psi: dict[str, dict[int, float | None]] = defaultdict(dict)
    scores: dict[str, dict[int, tuple[float | None, float | None, int | None]]] = defaultdict(dict)
    keys: set[int] = set()
    with engine.connect() as connection:
        for key, column, statistic, value, threshold, drifted in connection.execute(query):
            keys.add(int(key))
            if statistic == "psi":
                psi[column][int(key)] = _round(value)
            else:
                scores[column][int(key)] = (_round(value), _round(threshold), drifted)
        firings = connection.execute(
            select(RuleFiring.fired_at, RuleFiring.rule, RuleFiring.action, RuleFiring.delivery_status)
            .where(RuleFiring.model == model, RuleFiring.fired_at >= rng.since, RuleFiring.fired_at < rng.until)
            .order_by(RuleFiring.fired_at)
        ).all()
    times = sorted(keys)
    columns = sorted(psi, key=lambda c: (c == PREDICTIONS, c))
    return {
        **rng.to_dict(),
        "time": [rng.bucket_time(k) for k in times],
        "columns": columns,
        "psi": [[psi[c].get(k) for k in times] for c in columns],
        "scores": _score_series(scores, times, rng),
        "firings": [
            {"time": iso(utc(at)), "rule": rule, "action": action, "delivery": status}
            for at, rule, action, status in firings
        ],
    }


def _score_series(
    scores: dict[str, dict[int, tuple[float | None, float | None, int | None]]], times: list[int], rng: TimeRange
) -> list[dict[str, Any]]:
    series: list[tuple[int, str, dict[str, Any]]] = []
    for column, by_key in scores.items():
        drifted = sum(1 for _, _, d in by_key.values() if d)
        threshold = next((t for _, t, _ in by_key.values() if t is not None), None)
        entry = {
            "column": column,
            "time": [rng.bucket_time(k) for k in times if k in by_key],
            "score": [by_key[k][0] for k in times if k in by_key],
            "threshold": threshold,
            "drifted_buckets": drifted,
        }
        series.append((-drifted, column, entry))
    series.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in series[:MAX_SERIES]]


def _round(value: Any) -> float | None:
    # Significant digits, not decimals: a p-value of 1e-9 must not become 0 on a log axis.
    return None if value is None else float(f"{float(value):.4g}")
