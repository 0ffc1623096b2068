"""Traffic per bucket from the per-minute rollup (``traffic_minutes``), plus the raw edges.

A range with buckets of a minute or more is read from the rollup for its whole minutes, and from
the raw ``predictions`` / ``rejected`` rows for the partial minutes at either end (under a minute
each, through the predictions(model, time) index), so the totals are exact for any range. Shorter
buckets (ranges under ~75 minutes) stay on the raw rows, in traffic.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, select

from driftloop.report.timerange import TimeRange, utc
from driftloop.store.models import Prediction, Rejected
from driftloop.store.rollup import MinuteCounts, TrafficMinute, count_minutes, minute_of

MINUTE = 60


def uses_rollup(rng: TimeRange) -> bool:
    # Bucket sizes of a minute and more are whole minutes (NICE_STEPS), so minutes never straddle buckets.
    return rng.step >= MINUTE and rng.step % MINUTE == 0


def bucket_counts(engine: Engine, model: str, rng: TimeRange) -> dict[int, MinuteCounts]:
    """Every version's traffic of a model per bucket (epoch seconds of the bucket start)."""
    first_whole = minute_of(rng.since)
    if first_whole < rng.since:
        first_whole += timedelta(minutes=1)
    last_whole = minute_of(rng.until)
    buckets: dict[int, MinuteCounts] = {}
    with engine.connect() as connection:
        if first_whole < last_whole:
            table = cast(Table, TrafficMinute.__table__)
            query = select(table).where(
                table.c.model == model, table.c.minute >= first_whole, table.c.minute < last_whole
            )
            for row in connection.execute(query).mappings():
                counts = MinuteCounts(
                    requests=row["requests"],
                    records=row["records"],
                    rejected=row["rejected"],
                    latency_bins=dict(row["latency_bins"] or {}),
                    label_counts=dict(row["label_counts"]) if row["label_counts"] is not None else None,
                    value_sum=row["value_sum"],
                    value_count=row["value_count"],
                )
                _add(buckets, rng, row["minute"], counts)
            edges = [(rng.since, first_whole), (last_whole, rng.until)]
        else:
            edges = [(rng.since, rng.until)]
        for since, until in edges:
            if since < until:
                for (_, _, minute), counts in _raw_minutes(connection, model, since, until):
                    _add(buckets, rng, minute, counts)
    return buckets


def _raw_minutes(connection: Any, model: str, since: datetime, until: datetime) -> Iterator[Any]:
    columns = (
        Prediction.model,
        Prediction.version,
        Prediction.time,
        Prediction.record_index,
        Prediction.latency_ms,
        Prediction.prediction,
    )
    scored = connection.execute(
        select(*columns).where(Prediction.model == model, Prediction.time >= since, Prediction.time < until)
    )
    refused = connection.execute(
        select(Rejected.model, Rejected.version, Rejected.time).where(
            Rejected.model == model, Rejected.time >= since, Rejected.time < until
        )
    )
    return iter(count_minutes([r._asdict() for r in scored], [r._asdict() for r in refused]).items())


def _add(buckets: dict[int, MinuteCounts], rng: TimeRange, minute: datetime, counts: MinuteCounts) -> None:
    epoch = int(utc(minute).timestamp())
    key = epoch - epoch % rng.step
    if key in buckets:
        buckets[key].merge(counts)
    else:
        buckets[key] = counts
