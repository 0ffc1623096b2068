"""Every chart's data for one model and time range: what the dashboard's JSON endpoints and the report serve."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from driftloop.errors import NotFoundError
from driftloop.registry import Registry
from driftloop.report.drift import drift
from driftloop.report.performance import performance
from driftloop.report.timeline import timeline
from driftloop.report.timerange import TimeRange, resolve_range
from driftloop.report.traffic import latency, predictions, volume

CHARTS = ("volume", "latency", "predictions", "drift", "performance", "timeline")


class ReportData:
    """The aggregates of one model, read from the store and the registry."""

    def __init__(self, engine: Engine, registry: Registry) -> None:
        self.engine = engine
        self.registry = registry

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
            "performance": lambda: performance(self.engine, model, rng, regression=self._regression(model)),
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
