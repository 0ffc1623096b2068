"""Reads of the drift tables for the HTTP read APIs: windows, their statistics, and rule firings.

``drift_metrics`` keeps one row per window, column and statistic (store/drift.py); these queries
fold them back into one document per window: its rows and drift share, each column's verdict,
the predictions' verdict, and the performance on its labelled records. Firings come with their
webhook delivery and the retrain job they led to (``retrain_jobs.idempotency_key`` is the firing
id; a firing coalesced into a job already running names that job in the delivery's response).
Documented in docs/controller.md ("Read APIs"). Nothing here writes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from driftloop.store.drift import DriftMetric, RuleFiring
from driftloop.store.drift_rollup import PERFORMANCE, PREDICTIONS
from driftloop.store.jobs import RetrainJob

WINDOW_ROW = ""  # the column name of a window's own rows (drift_share)
# Statistics of the performance rows that are not task metrics.
PERFORMANCE_COUNTS = ("labelled", "label_coverage")
DEGRADATION = "_degradation"
ESTIMATED = "estimated_"  # accuracy estimated without labels (CBPE): estimated_accuracy, estimated_drop


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite returns naive datetimes; everything in the store is UTC.
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite compares the stored UTC text: a bound time in another zone must be converted first.
    return moment.astimezone(UTC) if moment is not None else None


# A window's own row (drift_share) carries what is the window's: times, rows, label coverage.
HEADER = (
    DriftMetric.version,
    DriftMetric.window_index,
    DriftMetric.window_start,
    DriftMetric.window_end,
    DriftMetric.n,
    DriftMetric.value,
    DriftMetric.label_coverage,
)
# The other rows, as plain tuples: a page of windows is ~100,000 of them, too many for ORM
# objects or for parsing the same window times again on every row.
STATISTIC = (
    DriftMetric.version,
    DriftMetric.window_index,
    DriftMetric.column_name,
    DriftMetric.statistic,
    DriftMetric.value,
    DriftMetric.threshold,
    DriftMetric.drifted,
    DriftMetric.n,
)
Key = tuple[int, int]
Statistic = tuple[str, str, float | None, float | None, bool | None, int]
"""column, statistic, value, threshold, drifted, n"""


def _own_rows() -> Any:
    return select(*HEADER).where(DriftMetric.column_name == WINDOW_ROW, DriftMetric.statistic == "drift_share")


def windows(
    engine: Engine,
    model: str,
    *,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The model's closed windows ending in [since, until], newest first, at most ``limit``."""
    # One own row per window, on the (model, window_end) index: no grouping of every statistic.
    query = _own_rows().where(DriftMetric.model == model)
    if version is not None:
        query = query.where(DriftMetric.version == version)
    since, until = _utc(since), _utc(until)
    if since is not None:
        query = query.where(DriftMetric.window_end >= since)
    if until is not None:
        query = query.where(DriftMetric.window_end <= until)
    query = query.order_by(
        DriftMetric.window_end.desc(), DriftMetric.version.desc(), DriftMetric.window_index.desc()
    ).limit(limit)
    with engine.connect() as connection:
        headers = list(connection.execute(query))
        statistics = _statistics(connection, model, [(h[0], h[1]) for h in headers])
    return [summary(model, header, statistics.get((header[0], header[1]), [])) for header in headers]


def window(engine: Engine, model: str, version: int, index: int) -> dict[str, Any] | None:
    """One window with every statistic of every column; None when the store has no such window."""
    query = _own_rows().where(
        DriftMetric.model == model, DriftMetric.version == version, DriftMetric.window_index == index
    )
    with engine.connect() as connection:
        header = connection.execute(query).first()
        if header is None:
            return None
        rows = _statistics(connection, model, [(version, index)]).get((version, index), [])
    statistics: dict[str, dict[str, float | None]] = defaultdict(dict)
    for column, statistic, value, *_ in rows:
        if column != PERFORMANCE:
            statistics[column][statistic] = value
    return {**summary(model, header, rows), "statistics": dict(statistics)}


def _statistics(connection: Connection, model: str, keys: list[Key]) -> dict[Key, list[Statistic]]:
    """The column rows of each (version, index), read on the (model, version, window_index) index."""
    indices: dict[int, list[int]] = defaultdict(list)
    for version, index in keys:
        indices[version].append(index)
    grouped: dict[Key, list[Statistic]] = defaultdict(list)
    for version, wanted in indices.items():
        query = select(*STATISTIC).where(
            DriftMetric.model == model,
            DriftMetric.version == version,
            DriftMetric.window_index.in_(wanted),
            DriftMetric.column_name != WINDOW_ROW,
        )
        for row_version, index, *statistic in connection.execute(query.order_by(DriftMetric.id)):
            grouped[(row_version, index)].append(tuple(statistic))  # type: ignore[arg-type]
    return grouped


def summary(model: str, header: Any, rows: list[Statistic]) -> dict[str, Any]:
    """One window's document from its own row (``header``) and its column rows."""
    version, index, start, end, n, drift_share, coverage = header
    by_column: dict[str, dict[str, Statistic]] = defaultdict(dict)
    for row in rows:
        by_column[row[0]][row[1]] = row
    performance = by_column.pop(PERFORMANCE, None)
    predictions = by_column.pop(PREDICTIONS, None)
    return {
        "model": model,
        "version": version,
        "index": index,
        "start": _iso(start),
        "end": _iso(end),
        "rows": n,
        "drift_share": drift_share,
        "label_coverage": coverage,
        "columns": {name: _verdict(stats) for name, stats in sorted(by_column.items())},
        "predictions": _verdict(predictions) if predictions else None,
        "performance": _performance(performance) if performance else None,
    }


def _verdict(statistics: dict[str, Statistic]) -> dict[str, Any]:
    # Threshold, verdict and count are the column's, repeated on each of its rows.
    _, _, _, threshold, drifted, n = next(iter(statistics.values()))
    score = statistics.get("drift_score")
    return {"drifted": drifted, "score": score[2] if score is not None else None, "threshold": threshold, "n": n}


def _performance(statistics: dict[str, Statistic]) -> dict[str, Any]:
    values = {statistic: row[2] for statistic, row in statistics.items()}
    labelled = values.get("labelled")
    return {
        "labelled": int(labelled) if labelled is not None else 0,
        "label_coverage": values.get("label_coverage"),
        "metrics": {
            s: v
            for s, v in values.items()
            if s not in PERFORMANCE_COUNTS and not s.endswith(DEGRADATION) and not s.startswith(ESTIMATED)
        },
        "degradation": {s.removesuffix(DEGRADATION): v for s, v in values.items() if s.endswith(DEGRADATION)},
        "estimated": {s.removeprefix(ESTIMATED): v for s, v in values.items() if s.startswith(ESTIMATED)} or None,
    }


def firings(engine: Engine, model: str, *, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The model's rule firings (since ``since``, by the windows' clock), newest first, with delivery and job."""
    query = select(RuleFiring, RetrainJob).outerjoin(RetrainJob, RetrainJob.idempotency_key == RuleFiring.id)
    query = query.where(RuleFiring.model == model)
    since = _utc(since)
    if since is not None:
        query = query.where(RuleFiring.fired_at >= since)
    query = query.order_by(RuleFiring.fired_at.desc(), RuleFiring.recorded_at.desc()).limit(limit)
    with Session(engine) as session:
        found = [(firing, job) for firing, job in session.execute(query)]
        coalesced: dict[str, str] = {}  # firing id -> the job its delivery's answer names
        for firing, job in found:
            named = _job_named_in(firing.response) if job is None else None
            if named is not None:
                coalesced[firing.id] = named
        jobs = _jobs(session, coalesced.values())
    return [_firing(firing, job or jobs.get(coalesced.get(firing.id, ""))) for firing, job in found]


def _job_named_in(response: str | None) -> str | None:
    """The job id in the controller's answer to the webhook (``{"job_id": ...}``), if it is readable."""
    if not response:
        return None
    try:
        answer = json.loads(response)
    except ValueError:  # truncated by the forwarder, or not the controller's JSON
        return None
    job_id = answer.get("job_id") if isinstance(answer, dict) else None
    return job_id if isinstance(job_id, str) else None


def _jobs(session: Session, ids: Iterable[str]) -> dict[str, RetrainJob]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {job.id: job for job in session.scalars(select(RetrainJob).where(RetrainJob.id.in_(wanted)))}


def _firing(firing: RuleFiring, job: RetrainJob | None) -> dict[str, Any]:
    body = firing.body or {}
    rule = body.get("rule", {})
    delivery = None
    if firing.action == "retrain":  # alert rules send nothing
        delivery = {
            "status": firing.delivery_status or "pending",
            "attempts": firing.attempts,
            "http_status": firing.http_status,
            "error": firing.error,
            "finished_at": _iso(firing.delivered_at),
        }
    return {
        "id": firing.id,
        "rule": firing.rule,
        "action": firing.action,
        "statistic": rule.get("statistic"),
        "threshold": rule.get("threshold"),
        "consecutive": rule.get("consecutive"),
        "version": firing.version,
        "window": {"index": firing.window_index, **body.get("window", {})},
        "fired_at": _iso(firing.fired_at),
        "recorded_at": _iso(firing.recorded_at),
        "evidence": body.get("evidence", []),
        "delivery": delivery,
        "job": _job(job) if job is not None else None,
    }


def _job(job: RetrainJob) -> dict[str, Any]:
    decision = job.decision or {}
    promoted = decision.get("promote")
    return {
        "id": job.id,
        "state": job.state,
        "trigger": job.trigger,
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
        "challenger_version": job.challenger_version,
        "decision": None if promoted is None else ("promoted" if promoted else "rejected"),
        "error": job.error,
    }
