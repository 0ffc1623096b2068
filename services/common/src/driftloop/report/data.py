"""Every chart's data for one model and time range: what the dashboard's JSON endpoints and the report serve."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from driftloop.contract import Task
from driftloop.drift.performance import TASK_METRICS
from driftloop.drift.rules import STATISTICS, ColumnShare
from driftloop.errors import NotFoundError
from driftloop.policy import Policy, load_policy
from driftloop.registry import Registry
from driftloop.report.columns import DatasetRule, columns
from driftloop.report.drift import drift
from driftloop.report.performance import JudgedMetric, performance
from driftloop.report.timeline import timeline
from driftloop.report.timerange import TimeRange, resolve_range
from driftloop.report.traffic import latency, predictions, volume

CHARTS = ("volume", "latency", "predictions", "drift", "columns", "performance", "timeline")
# Performance rule statistics and the metric each judges (performance_drop: the training's metric).
_JUDGED = {"accuracy_drop": "accuracy", "f1_drop": "f1", "roc_auc_drop": "roc_auc"}
_JUDGED |= {"rmse_increase": "rmse", "mae_increase": "mae"}


class ReportData:
    """The aggregates of one model, read from the store and the registry; the policy's rules say
    which metric and thresholds the charts draw (the packaged policy when none is given)."""

    def __init__(self, engine: Engine, registry: Registry, policy: Policy | None = None) -> None:
        self.engine = engine
        self.registry = registry
        self.policy = policy or load_policy(None)

    def models(self) -> list[str]:
        return self.registry.models()

    def time_range(self, model: str, since: datetime | None, until: datetime | None) -> TimeRange:
        if not self.registry.versions(model):
            raise NotFoundError(f"model {model!r} is not in the registry", details={"field": "name"})
        return resolve_range(self.engine, model, since, until)

    def chart(self, name: str, model: str, rng: TimeRange) -> dict[str, Any]:
        charts: dict[str, Callable[[], dict[str, Any]]] = {
            "volume": lambda: volume(self.engine, model, rng),
            "latency": lambda: latency(self.engine, model, rng),
            "predictions": lambda: predictions(self.engine, model, rng),
            "drift": lambda: drift(self.engine, model, rng),
            "columns": lambda: columns(self.engine, self.registry, model, rng, self.dataset_rule()),
            "performance": lambda: performance(
                self.engine, model, rng, regression=self._regression(model), judged=self.judged_metric(model)
            ),
            "timeline": lambda: timeline(self.engine, self.registry, model, rng),
        }
        if name not in charts:
            raise NotFoundError(f"no chart {name!r}: one of {', '.join(CHARTS)}", details={"field": "chart"})
        return charts[name]()

    def everything(self, model: str, since: datetime | None, until: datetime | None) -> dict[str, Any]:
        rng = self.time_range(model, since, until)
        return {"model": model, **rng.to_dict(), "charts": {name: self.chart(name, model, rng) for name in CHARTS}}

    def _regression(self, model: str) -> bool:
        return not self.registry.resolve(model).contract.task.is_classification

    def judged_metric(self, model: str) -> JudgedMetric:
        """The metric of the policy's first performance rule, with the champion's holdout figure."""
        champion = self.registry.resolve(model)
        metrics = champion.document("metrics") or {}
        trained = metrics.get("metric")
        primary = trained if isinstance(trained, str) else TASK_METRICS[Task(champion.contract.task)][0]
        holdout = metrics.get("holdout") or {}
        for rule in self.policy.rules:
            if rule.statistic == "performance_drop" or rule.statistic in _JUDGED:
                metric = _JUDGED.get(rule.statistic, primary)
                return JudgedMetric(metric, _number(holdout.get(metric)), rule.name, rule.threshold)
        return JudgedMetric(primary, _number(holdout.get(primary)), None, None)

    def dataset_rule(self) -> DatasetRule:
        """The share of drifted columns from which the dataset counts as drifted."""
        for rule in self.policy.rules:
            if rule.statistic == "drift_share" and rule.threshold is not None:
                return DatasetRule(rule.threshold, rule.name)
            if isinstance(rule.columns, ColumnShare):
                return DatasetRule(rule.columns.share, rule.name)
        default = STATISTICS["drift_share"].default_threshold
        assert default is not None
        return DatasetRule(default, None)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
