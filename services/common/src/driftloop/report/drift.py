"""Drift charts from ``drift_metrics``: PSI per column and window (heatmap), verdict scores with thresholds.

Windows are grouped into the range's buckets (mean PSI, mean score, "drifted" if any window in
the bucket drifted), so a week of small windows still reaches the browser as at most a few
thousand cells. Buckets of 5 minutes or more (ranges over 2.5 hours) are read from the 5-minute
rollup ``drift_slots`` (store/drift_rollup.py: a week is ~70,000 slot rows instead of ~2 million
window rows), with the partial slots at both ends of the range read raw; shorter buckets are
grouped from ``drift_metrics`` in SQL. Both give the same means (``grouped_cells``; the performance
chart reads the windows' task metrics the same way). Rule firings, with their rule's statistic
and threshold and what breached, are listed for the markers every time chart draws.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Integer, cast, func, inspect, select

from driftloop.report.timerange import TimeRange, bucket, iso, utc
from driftloop.store.drift import DriftMetric, RuleFiring
from driftloop.store.drift_rollup import (
    CHARTED_STATISTICS,
    COUNTERS,
    PERFORMANCE,
    PREDICTIONS,
    SLOT_SECONDS,
    DriftSlot,
    SlotCounts,
    slot_of,
)

MAX_SERIES = 6  # score time series: the columns closest to (or past) their threshold
MAX_EVIDENCE = 4  # evidence items per firing sent to the page

Cell = tuple[float | None, float | None, int | None]  # mean value, mean threshold, any window drifted
Cells = dict[tuple[int, str, str], Cell]  # by (bucket, column, statistic)


@dataclass(frozen=True)
class Selection:
    """Which ``drift_metrics`` rows (and the matching ``drift_slots`` rows) a chart groups."""

    windows: Callable[[datetime, datetime], Any]
    """The where clause over DriftMetric for windows ending in [since, until)."""
    slots: Any
    """The where clause over DriftSlot."""


FEATURES = Selection(
    windows=lambda since, until: (
        (DriftMetric.window_end >= since)
        & (DriftMetric.window_end < until)
        & DriftMetric.statistic.in_(CHARTED_STATISTICS)
        & ((~DriftMetric.column_name.startswith("__", autoescape=True)) | (DriftMetric.column_name == PREDICTIONS))
        & (DriftMetric.column_name != "")
    ),
    slots=DriftSlot.column_name != PERFORMANCE,
)


def window_metric(metric: str) -> Selection:
    """One task metric of the windows' labelled records (``__performance__`` rows)."""
    return Selection(
        windows=lambda since, until: (
            (DriftMetric.window_end >= since)
            & (DriftMetric.window_end < until)
            & (DriftMetric.column_name == PERFORMANCE)
            & (DriftMetric.statistic == metric)
        ),
        slots=(DriftSlot.column_name == PERFORMANCE) & (DriftSlot.statistic == metric),
    )


def uses_slots(rng: TimeRange) -> bool:
    return rng.step % SLOT_SECONDS == 0


def has_drift_tables(engine: Engine) -> bool:
    return inspect(engine).has_table("drift_metrics")


def drift(engine: Engine, model: str, rng: TimeRange) -> dict[str, Any]:
    if not has_drift_tables(engine):
        return {**rng.to_dict(), "time": [], "columns": [], "psi": [], "scores": [], "firings": []}
    with engine.connect() as connection:
        cells = grouped_cells(connection, model, rng, FEATURES)
        firings = connection.execute(
            select(
                RuleFiring.fired_at,
                RuleFiring.rule,
                RuleFiring.action,
                RuleFiring.delivery_status,
                RuleFiring.version,
                RuleFiring.body,
            )
            .where(RuleFiring.model == model, RuleFiring.fired_at >= rng.since, RuleFiring.fired_at < rng.until)
            .order_by(RuleFiring.fired_at)
        ).all()
    psi: dict[str, dict[int, float | None]] = defaultdict(dict)
    scores: dict[str, dict[int, Cell]] = defaultdict(dict)
    for (key, column, statistic), (value, threshold, drifted) in cells.items():
        if statistic == "psi":
            psi[column][key] = _round(value)
        else:
            scores[column][key] = (_round(value), _round(threshold), drifted)
    times = sorted({key for key, _, _ in cells})
    columns = sorted(psi, key=lambda c: (c == PREDICTIONS, c))
    return {
        **rng.to_dict(),
        "time": [rng.bucket_time(k) for k in times],
        "columns": columns,
        "psi": [[psi[c].get(k) for k in times] for c in columns],
        "scores": _score_series(scores, times, rng),
        "firings": [_firing(*row) for row in firings],
    }


def _firing(at: datetime, rule: str, action: str, status: str | None, version: int, body: Any) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    spec = body.get("rule") or {}
    evidence = body.get("evidence") or []
    return {
        "time": iso(utc(at)),
        "rule": rule,
        "action": action,
        "delivery": status,
        "version": version,
        "statistic": spec.get("statistic"),
        "threshold": spec.get("threshold"),
        "consecutive": spec.get("consecutive"),
        # What breached, for the table: the first few items (a column rule over 16 columns lists each).
        "evidence": evidence[:MAX_EVIDENCE],
        "evidence_count": len(evidence),
    }


def grouped_cells(connection: Connection, model: str, rng: TimeRange, selection: Selection) -> Cells:
    """The selected rows' means per (bucket, column, statistic), from the slots or from the windows."""
    if uses_slots(rng):
        return _slot_cells(connection, model, rng, selection)
    return _window_cells(connection, model, rng, selection)


def _window_cells(connection: Connection, model: str, rng: TimeRange, selection: Selection) -> Cells:
    """Short ranges: the windows grouped per bucket in SQL."""
    b = bucket(DriftMetric.window_end, rng.step, connection.dialect.name).label("b")
    query = (
        select(
            b,
            DriftMetric.column_name,
            DriftMetric.statistic,
            func.avg(DriftMetric.value),
            func.avg(DriftMetric.threshold),
            func.max(cast(DriftMetric.drifted, Integer)),
        )
        .where(DriftMetric.model == model, selection.windows(rng.since, rng.until))
        .group_by(b, DriftMetric.column_name, DriftMetric.statistic)
    )
    return {
        (int(key), column, statistic): (value, threshold, drifted)
        for key, column, statistic, value, threshold, drifted in connection.execute(query)
    }


def _slot_cells(connection: Connection, model: str, rng: TimeRange, selection: Selection) -> Cells:
    """Long ranges: the whole slots' sums per bucket in SQL, plus the windows of the partial slots at the ends."""
    first_whole = slot_of(rng.since)
    if first_whole < rng.since:
        first_whole += timedelta(seconds=SLOT_SECONDS)
    last_whole = slot_of(rng.until)
    counts: dict[tuple[int, str, str], SlotCounts] = defaultdict(SlotCounts)
    if first_whole < last_whole:
        b = bucket(DriftSlot.slot, rng.step, connection.dialect.name).label("b")
        query = (
            select(b, DriftSlot.column_name, DriftSlot.statistic, *(func.sum(getattr(DriftSlot, n)) for n in COUNTERS))
            .where(DriftSlot.model == model, DriftSlot.slot >= first_whole, DriftSlot.slot < last_whole)
            .where(selection.slots)
            .group_by(b, DriftSlot.column_name, DriftSlot.statistic)
        )
        for key, column, statistic, *sums in connection.execute(query):
            counts[(int(key), column, statistic)].merge(SlotCounts(*sums))
        edges = [(rng.since, first_whole), (last_whole, rng.until)]
    else:
        edges = [(rng.since, rng.until)]
    for since, until in edges:
        if since < until:
            windows = select(
                DriftMetric.window_end,
                DriftMetric.column_name,
                DriftMetric.statistic,
                DriftMetric.value,
                DriftMetric.threshold,
                DriftMetric.drifted,
            ).where(DriftMetric.model == model, selection.windows(since, until))
            for end, column, statistic, value, threshold, drifted in connection.execute(windows):
                epoch = int(utc(end).timestamp())
                counts[(epoch - epoch % rng.step, column, statistic)].add(value, threshold, drifted)
    return {key: c.means() for key, c in counts.items()}


def _score_series(scores: dict[str, dict[int, Cell]], times: list[int], rng: TimeRange) -> list[dict[str, Any]]:
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
