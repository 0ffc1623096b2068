"""Performance where labels arrived: the metric the rules and the gate judge by, accuracy or MAE, and label coverage.

The rules' metric (``performance_drop``: the training's optimised metric, ROC AUC for classifiers
and RMSE for regressors by default) needs a window of records, not a count per minute: it comes
from the drift windows' ``__performance__`` rows (their labelled records), grouped into the
buckets as the drift charts are (drift.py ``grouped_cells``), with the holdout's figure and the
line below (above, for an error) which the performance rule fires. Accuracy (MAE) per bucket
comes from the predictions and their labels.

Buckets are by prediction time, so a bucket's coverage is the share of its records that have a
label by now; recent buckets fill in as feedback arrives. Buckets of a minute or more are read
from the per-minute rollup (``labelled`` / ``correct`` / ``error_sum`` and ``records`` of
``traffic_minutes``, the partial edge minutes raw: minutes.py); shorter buckets join the raw rows
in SQL, as the ``labelled_predictions`` view does (see docs/reporting.md). A record labelled twice
counts twice either way, as in that join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Float, case, cast, func, select

from driftloop.report.drift import grouped_cells, has_drift_tables, window_metric
from driftloop.report.minutes import bucket_counts, uses_rollup
from driftloop.report.timerange import TimeRange, bucket, json_number
from driftloop.store.models import Feedback, Prediction, labels_prediction

LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})  # as driftloop.drift.reference


@dataclass(frozen=True)
class JudgedMetric:
    """The metric a performance rule judges the windows by, and where it fires."""

    metric: str
    holdout: float | None
    """The champion's figure on its holdout (metrics.json)."""
    rule: str | None
    """The rule that watches it (None: no performance rule in the policy)."""
    drop: float | None
    """The rule's threshold: a relative drop from the holdout figure (0.1: 10 % worse)."""

    @property
    def fires_at(self) -> float | None:
        """The metric's value past which the rule counts a window as breaching."""
        if self.holdout is None or self.drop is None:
            return None
        worse = 1.0 + self.drop if self.metric in LOWER_IS_BETTER else 1.0 - self.drop
        return round(self.holdout * worse, 4)


def performance(
    engine: Engine, model: str, rng: TimeRange, *, regression: bool = False, judged: JudgedMetric | None = None
) -> dict[str, Any]:
    result = _labelled_traffic(engine, model, rng, regression=regression)
    if judged is not None:
        result["judged"] = _judged(engine, model, rng, judged)
    return result


def _judged(engine: Engine, model: str, rng: TimeRange, judged: JudgedMetric) -> dict[str, Any]:
    values: dict[int, float | None] = {}
    if has_drift_tables(engine):
        with engine.connect() as connection:
            cells = grouped_cells(connection, model, rng, window_metric(judged.metric))
        values = {key: _round(value) for (key, _, _), (value, _, _) in cells.items()}
    keys = sorted(values)
    return {
        "metric": judged.metric,
        "time": [rng.bucket_time(k) for k in keys],
        "value": [values[k] for k in keys],
        "holdout": judged.holdout,
        "rule": judged.rule,
        "drop": judged.drop,
        "fires_at": judged.fires_at,
        "lower_is_better": judged.metric in LOWER_IS_BETTER,
    }


def _labelled_traffic(engine: Engine, model: str, rng: TimeRange, *, regression: bool) -> dict[str, Any]:
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
