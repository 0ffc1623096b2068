"""Performance where labels arrived: accuracy (classifiers) or MAE (regressors) per bucket, with label coverage.

Buckets are by prediction time, so a bucket's coverage is the share of its records that have a
label by now; recent buckets fill in as feedback arrives. The join is that of the
``labelled_predictions`` view (see docs/reporting.md); the records per bucket (coverage's
denominator) come from the per-minute rollup when the buckets are a minute or more.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Float, and_, case, cast, func, or_, select

from driftloop.report.minutes import bucket_counts, uses_rollup
from driftloop.report.timerange import TimeRange, bucket, json_number
from driftloop.store.models import Feedback, Prediction


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
    labelled = (
        select(b, func.count(), score)
        .join(
            Feedback,
            and_(
                Feedback.request_id == Prediction.request_id,
                Feedback.model == Prediction.model,
                or_(Feedback.record_index.is_(None), Feedback.record_index == Prediction.record_index),
            ),
        )
        .where(in_range)
        .group_by(b)
    )
    totals = select(b, func.count()).where(in_range).group_by(b)
    if uses_rollup(rng):  # the coverage's denominator: records per bucket, from the per-minute rollup
        records = {key: counts.records for key, counts in bucket_counts(engine, model, rng).items() if counts.records}
    else:
        with engine.connect() as connection:
            records = {int(key): int(count) for key, count in connection.execute(totals)}
    with engine.connect() as connection:
        scored = {int(key): (int(count), value) for key, count, value in connection.execute(labelled)}
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
