"""Performance where labels arrived: accuracy (classifiers) or MAE (regressors) per bucket, with label coverage.

Buckets are by prediction time, so a bucket's coverage is the share of its records that have a
label by now; recent buckets fill in as feedback arrives. Buckets of a minute or more are read
from the per-minute rollup (``labelled`` / ``correct`` / ``error_sum`` and ``records`` of
``traffic_minutes``, the partial edge minutes raw: minutes.py); shorter buckets join the raw rows
in SQL, as the ``labelled_predictions`` view does (see docs/reporting.md). A record labelled twice
counts twice either way, as in that join.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Float, case, cast, func, select

from driftloop.report.minutes import bucket_counts, uses_rollup
from driftloop.report.timerange import TimeRange, bucket, json_number
from driftloop.store.models import Feedback, Prediction, labels_prediction


def performance(engine: Engine, model: str, rng: TimeRange, *, regression: bool = False) -> dict[str, Any]:
    dialect = engine.dialect.name
    b = bucket(Prediction.time, rng.step, dialect).label("b")
    in_range = (Prediction.model == model) & (Prediction.time >= rng.since) & (Prediction.time < rng.until)
    if regression:
        metric_name = "mae"
        score = func.avg(func.abs(json_number(Prediction.prediction, dialect) - json_number(Feedback.actual, dialect)))
    else:
        metric_name = "accuracy"
        score = func.avg(cast(case((Prediction.prediction == Feedback.actual, 1), else_=0), Float))
    labelled = select(b, func.count(), score).join(Feedback, labels_prediction()).where(in_range).group_by(b)
    totals = select(b, func.count()).where(in_range).group_by(b)
    if uses_rollup(rng):
        per_bucket = bucket_counts(engine, model, rng)
        records = {key: counts.records for key, counts in per_bucket.items() if counts.records}
        scored = {
            key: (c.labelled, (c.error_sum if regression else c.correct) / c.labelled)
            for key, c in per_bucket.items()
            if c.labelled
        }
    else:
        with engine.connect() as connection:
            records = {int(key): int(count) for key, count in connection.execute(totals)}
            scored = {int(key): (int(count), value) for key, count, value in connection.execute(labelled)}
    return _result(rng, metric_name, records, scored)


def _result(
    rng: TimeRange, metric_name: str, records: dict[int, int], scored: dict[int, tuple[int, Any]]
) -> dict[str, Any]:
    keys = sorted(records)
    return {
        **rng.to_dict(),
        "metric": metric_name,
        "time": [rng.bucket_time(k) for k in keys],
        "value": [_round(scored[k][1]) if k in scored else None for k in keys],
        "labelled": [scored.get(k, (0, None))[0] for k in keys],
        "coverage": [round(min(scored.get(k, (0, None))[0] / records[k], 1.0), 4) for k in keys],
        "total_labelled": sum(count for count, _ in scored.values()),
    }


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)
