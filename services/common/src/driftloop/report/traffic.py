"""Traffic aggregates: request volume, latency percentiles, and the distribution of predictions.

Buckets of a minute or more are read from the per-minute rollup ``traffic_minutes`` (minutes.py;
a week is ~10 000 rows instead of ~60 M predictions); shorter buckets, i.e. ranges under ~75
minutes, from the raw rows, grouped in SQL. Both give the same figures: exact counts, and
latency percentiles from the same log-scale histogram (bins 5 % wide, store/rollup.py).

Latency is per request (every record of a request carries the request's latency), so it is read
from the rows with ``record_index = 0``. A percentile is the centre of its bin, so it is within
about 2.5 % of the exact value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Integer, cast, func, select

from driftloop.report.minutes import bucket_counts, uses_rollup
from driftloop.report.timerange import TimeRange, bucket, json_number
from driftloop.store.models import Prediction, Rejected
from driftloop.store.rollup import BINS_PER_E, MAX_LABELS, MinuteCounts, bin_latency, label_of

PERCENTILES = (0.5, 0.95, 0.99)
MAX_CLASSES = MAX_LABELS  # more distinct predictions than this: treated as a regression (mean per bucket)


def _in_range(column: Any, rng: TimeRange) -> Any:
    return (column >= rng.since) & (column < rng.until)


def volume(engine: Engine, model: str, rng: TimeRange) -> dict[str, Any]:
    """Requests, records and refused requests per bucket."""
    if uses_rollup(rng):
        per_bucket = bucket_counts(engine, model, rng)
        return _volume_result(rng, {k: [c.requests, c.records, c.rejected] for k, c in per_bucket.items()})
    dialect = engine.dialect.name
    b = bucket(Prediction.time, rng.step, dialect).label("b")
    scored = (
        select(b, func.count().label("records"), func.sum(cast(Prediction.record_index == 0, Integer)))
        .where(Prediction.model == model, _in_range(Prediction.time, rng))
        .group_by(b)
    )
    rb = bucket(Rejected.time, rng.step, dialect).label("b")
    refused = select(rb, func.count()).where(Rejected.model == model, _in_range(Rejected.time, rng)).group_by(rb)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    with engine.connect() as connection:
        for key, records, requests in connection.execute(scored):
            counts[int(key)][0] = int(requests or 0)
            counts[int(key)][1] = int(records)
        for key, rejected in connection.execute(refused):
            counts[int(key)][2] = int(rejected)
    return _volume_result(rng, counts)


def _volume_result(rng: TimeRange, counts: dict[int, list[int]]) -> dict[str, Any]:
    keys = sorted(counts)
    return {
        **rng.to_dict(),
        "time": [rng.bucket_time(k) for k in keys],
        "requests": [counts[k][0] for k in keys],
        "records": [counts[k][1] for k in keys],
        "rejected": [counts[k][2] for k in keys],
        "requests_per_second": [round(counts[k][0] / rng.step, 3) for k in keys],
    }


def latency(engine: Engine, model: str, rng: TimeRange) -> dict[str, Any]:
    """p50 / p95 / p99 of the request latency (ms) per bucket."""
    if uses_rollup(rng):
        per_bucket = bucket_counts(engine, model, rng, "latency_bins")
        bins = {k: {int(b): n for b, n in c.latency_bins.items()} for k, c in per_bucket.items() if c.requests}
        return _latency_result(rng, bins)
    dialect = engine.dialect.name
    b = bucket(Prediction.time, rng.step, dialect).label("b")
    # ln(0) is undefined: a latency of 0 ms falls in the lowest bin. floor(x + 0.5), as rollup.latency_bin.
    log_bin = cast(func.floor(func.ln(Prediction.latency_ms + 0.001) * BINS_PER_E + 0.5), Integer).label("bin")
    query = (
        select(b, log_bin, func.count())
        .where(Prediction.model == model, Prediction.record_index == 0, _in_range(Prediction.time, rng))
        .group_by(b, log_bin)
    )
    histograms: dict[int, dict[int, int]] = defaultdict(dict)
    with engine.connect() as connection:
        for key, bin_, count in connection.execute(query):
            histograms[int(key)][int(bin_)] = int(count)
    return _latency_result(rng, histograms)


def _latency_result(rng: TimeRange, histograms: dict[int, dict[int, int]]) -> dict[str, Any]:
    keys = sorted(histograms)
    series: dict[str, list[float | None]] = {f"p{round(q * 100)}": [] for q in PERCENTILES}
    for key in keys:
        for q in PERCENTILES:
            series[f"p{round(q * 100)}"].append(_percentile(histograms[key], q))
    return {**rng.to_dict(), "time": [rng.bucket_time(k) for k in keys], **series}


def _percentile(histogram: dict[int, int], q: float) -> float | None:
    total = sum(histogram.values())
    if total == 0:
        return None
    seen = 0
    for bin_ in sorted(histogram):
        seen += histogram[bin_]
        if seen >= q * total:
            return bin_latency(bin_)
    return None  # unreachable: the last bin reaches the total


def predictions(engine: Engine, model: str, rng: TimeRange) -> dict[str, Any]:
    """Share of each predicted class per bucket (classifiers), or the mean prediction (regressors)."""
    if uses_rollup(rng):
        return {**rng.to_dict(), **_rollup_predictions(bucket_counts(engine, model, rng, "label_counts"), rng)}
    dialect = engine.dialect.name
    b = bucket(Prediction.time, rng.step, dialect).label("b")
    in_range = (Prediction.model == model) & _in_range(Prediction.time, rng)
    with engine.connect() as connection:
        distinct = connection.execute(
            select(Prediction.prediction).where(in_range).distinct().limit(MAX_CLASSES + 1)
        ).all()
        if len(distinct) <= MAX_CLASSES:
            rows = connection.execute(
                select(b, Prediction.prediction, func.count()).where(in_range).group_by(b, Prediction.prediction)
            ).all()
            return {**rng.to_dict(), **_shares(rows, rng)}
        value = json_number(Prediction.prediction, dialect)
        means = connection.execute(select(b, func.avg(value)).where(in_range).group_by(b).order_by(b)).all()
    return {
        **rng.to_dict(),
        "kind": "mean",
        "time": [rng.bucket_time(k) for k, _ in means],
        "mean": [float(v) if v is not None else None for _, v in means],
    }


def _rollup_predictions(per_bucket: dict[int, MinuteCounts], rng: TimeRange) -> dict[str, Any]:
    keys = sorted(k for k, c in per_bucket.items() if c.records)
    label_counts = [per_bucket[k].label_counts for k in keys]
    labels = {label for counts in label_counts if counts is not None for label in counts}
    if None not in label_counts and len(labels) <= MAX_CLASSES:
        rows = [
            (k, label, n) for k, counts in zip(keys, label_counts, strict=True) if counts for label, n in counts.items()
        ]
        return _shares(rows, rng)
    # Past MAX_CLASSES labels in a minute the rollup keeps only the sum: a regression, as on the raw rows.
    means = [per_bucket[k].value_sum / per_bucket[k].value_count if per_bucket[k].value_count else None for k in keys]
    return {"kind": "mean", "time": [rng.bucket_time(k) for k in keys], "mean": means}


def _shares(rows: Sequence[Any], rng: TimeRange) -> dict[str, Any]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    labels: set[str] = set()
    for key, prediction, count in rows:
        label = _label(prediction)
        labels.add(label)
        counts[int(key)][label] = counts[int(key)].get(label, 0) + int(count)
    keys = sorted(counts)
    ordered = sorted(labels)
    shares = {label: [round(counts[k].get(label, 0) / sum(counts[k].values()), 4) for k in keys] for label in ordered}
    return {"kind": "classes", "time": [rng.bucket_time(k) for k in keys], "shares": shares}


def _label(prediction: Any) -> str:
    # SQLite returns the decoded JSON value; a label is shown as its JSON text without quotes.
    return label_of(prediction)
