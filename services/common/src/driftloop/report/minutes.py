"""Traffic per bucket from the per-minute rollup (``traffic_minutes``), plus the raw edges.

A range with buckets of a minute or more is read from the rollup for its whole minutes, and from
the raw ``predictions`` / ``rejected`` rows (and the labels joined to them) for the partial
minutes at either end (under a minute each, through the predictions(model, time) index), so the
totals are exact for any range. Shorter buckets (ranges under ~75 minutes) stay on the raw rows,
in traffic.py and performance.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Engine, Integer, Table, func, select
from sqlalchemy import cast as sql_cast

from driftloop.report.timerange import TimeRange, bucket, utc
from driftloop.store.labels import count_pairs, span_pairs
from driftloop.store.models import Prediction, Rejected
from driftloop.store.rollup import BINS_PER_E, Key, MinuteCounts, TrafficMinute, merge_minutes, minute_of

MINUTE = 60


def uses_rollup(rng: TimeRange) -> bool:
    # Bucket sizes of a minute and more are whole minutes (NICE_STEPS), so minutes never straddle buckets.
    return rng.step >= MINUTE and rng.step % MINUTE == 0


SCALARS = ("requests", "records", "rejected", "value_sum", "value_count", "labelled", "correct", "error_sum")


def bucket_counts(
    engine: Engine, model: str, rng: TimeRange, histogram: Literal["latency_bins", "label_counts"] | None = None
) -> dict[int, MinuteCounts]:
    """Every version's traffic of a model per bucket (epoch seconds of the bucket start).

    The counts are summed per bucket in SQL; the one JSON histogram a chart needs, if any, is
    merged here (the others stay empty): a week is ~10,000 minute rows to decode and merge.
    """
    first_whole = minute_of(rng.since)
    if first_whole < rng.since:
        first_whole += timedelta(minutes=1)
    last_whole = minute_of(rng.until)
    buckets: dict[int, MinuteCounts] = {}
    with engine.connect() as connection:
        if first_whole < last_whole:
            table = cast(Table, TrafficMinute.__table__)
            b = bucket(table.c.minute, rng.step, connection.dialect.name).label("b")
            whole = (table.c.model == model) & (table.c.minute >= first_whole) & (table.c.minute < last_whole)
            sums = select(b, *(func.sum(table.c[name]) for name in SCALARS)).where(whole).group_by(b)
            for key, *totals in connection.execute(sums):
                buckets[int(key)] = MinuteCounts(**dict(zip(SCALARS, totals, strict=True)))
            if histogram is not None:
                for key, counts in connection.execute(select(b, table.c[histogram]).where(whole)):
                    if histogram == "latency_bins":
                        buckets[int(key)].merge(MinuteCounts(latency_bins=counts or {}))
                    else:
                        buckets[int(key)].merge(MinuteCounts(label_counts=counts))
            edges = [(rng.since, first_whole), (last_whole, rng.until)]
        else:
            edges = [(rng.since, rng.until)]
        for since, until in edges:
            if since < until:
                for (_, _, minute), counts in _raw_minutes(connection, model, since, until):
                    _add(buckets, rng, minute, counts)
    return buckets


def _raw_minutes(connection: Any, model: str, since: datetime, until: datetime) -> Iterator[Any]:
    """The rollup's counts for [since, until) from the raw rows, grouped in SQL.

    Grouped per version, minute and latency bin / predicted value (the labelled pairs, a tenth of
    the records or so, are counted row by row): an edge minute at 100 requests/s is ~6,000 rows,
    which cost ~0.1 s to read one by one, on every chart.
    """
    dialect = connection.dialect.name
    scored_in_span = (Prediction.model == model) & (Prediction.time >= since) & (Prediction.time < until)
    minute = bucket(Prediction.time, MINUTE, dialect).label("minute")
    bin_ = sql_cast(func.floor(func.ln(Prediction.latency_ms + 0.001) * BINS_PER_E + 0.5), Integer).label("bin")
    minutes: dict[Key, MinuteCounts] = {}

    def counts(version: Any, epoch: Any) -> MinuteCounts:
        key = (model, int(version or 0), datetime.fromtimestamp(int(epoch), UTC))
        return minutes.setdefault(key, MinuteCounts())

    requests = select(Prediction.version, minute, bin_, func.count()).where(
        scored_in_span, Prediction.record_index == 0
    )
    for version, epoch, latency_bin, n in connection.execute(requests.group_by(Prediction.version, minute, bin_)):
        counts(version, epoch).add_requests(int(latency_bin), int(n))
    records = select(Prediction.version, minute, Prediction.prediction, func.count()).where(scored_in_span)
    for version, epoch, prediction, n in connection.execute(
        records.group_by(Prediction.version, minute, Prediction.prediction)
    ):
        counts(version, epoch).add_records(prediction, int(n))
    refused_minute = bucket(Rejected.time, MINUTE, dialect).label("minute")
    refused = (
        select(Rejected.version, refused_minute, func.count())
        .where(Rejected.model == model, Rejected.time >= since, Rejected.time < until)
        .group_by(Rejected.version, refused_minute)
    )
    for version, epoch, n in connection.execute(refused):
        counts(version, epoch).rejected += int(n)
    merge_minutes(minutes, count_pairs(span_pairs(connection, model, since, until)))
    return iter(minutes.items())


def _add(buckets: dict[int, MinuteCounts], rng: TimeRange, minute: datetime, counts: MinuteCounts) -> None:
    epoch = int(utc(minute).timestamp())
    key = epoch - epoch % rng.step
    if key in buckets:
        buckets[key].merge(counts)
    else:
        buckets[key] = counts
