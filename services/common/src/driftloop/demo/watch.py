"""What the demo watches while traffic flows: drift windows and rule firings in the SQL store (written
by the telemetry-forwarder), and retrain jobs through the retrain-controller's API.

Each ``poll`` returns only what is new since the last one, so the narrative prints every window,
firing and job step once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from driftloop.store.drift import DriftMetric, RuleFiring
from driftloop.store.drift_rollup import PERFORMANCE


@dataclass
class Window:
    """One closed drift window of one model version, summarised."""

    version: int
    window: int
    rows: int
    metric: str | None = None
    value: float | None = None
    degradation: float | None = None
    labelled: int = 0
    coverage: float | None = None
    drifted_columns: list[str] = field(default_factory=list)


@dataclass
class Firing:
    id: str
    rule: str
    action: str
    version: int
    window: int
    recorded_at: datetime
    delivery_status: str | None
    http_status: int | None


class StoreWatcher:
    """New drift windows and firings of one model, read from the forwarder's tables."""

    def __init__(self, engine: Engine, model: str) -> None:
        self.engine = engine
        self.model = model
        self._last_id = 0
        self._firings: dict[str, str | None] = {}

    def windows(self) -> list[Window]:
        # The forwarder writes each window in one transaction, one after another: new ids are whole windows.
        rows = self._query(
            DriftMetric.__tablename__,
            select(DriftMetric)
            .where(DriftMetric.model == self.model, DriftMetric.id > self._last_id)
            .order_by(DriftMetric.id),
        )
        grouped: dict[tuple[int, int], list[DriftMetric]] = {}
        for row in rows:
            self._last_id = max(self._last_id, row.id)
            grouped.setdefault((row.version, row.window_index), []).append(row)
        return [_summarise(key, metrics) for key, metrics in grouped.items()]

    def firings(self) -> list[tuple[Firing, bool]]:
        """(firing, is new) for firings that are new or whose delivery status changed since the last call."""
        rows = self._query(
            RuleFiring.__tablename__,
            select(RuleFiring).where(RuleFiring.model == self.model).order_by(RuleFiring.recorded_at),
        )
        changed = []
        for row in rows:
            new = row.id not in self._firings
            if not new and self._firings[row.id] == row.delivery_status:
                continue
            self._firings[row.id] = row.delivery_status
            changed.append(
                (
                    Firing(
                        row.id,
                        row.rule,
                        row.action,
                        row.version,
                        row.window_index,
                        row.recorded_at,
                        row.delivery_status,
                        row.http_status,
                    ),
                    new,
                )
            )
        return changed

    def _query(self, table: str, statement: Any) -> list[Any]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                rows = list(session.execute(statement).scalars())
                session.expunge_all()
                return rows
        except (OperationalError, ProgrammingError):
            if inspect(self.engine).has_table(table):
                raise
            return []  # the forwarder has not migrated the store yet


def _summarise(key: tuple[int, int], metrics: list[DriftMetric]) -> Window:
    window = Window(version=key[0], window=key[1], rows=max((m.n for m in metrics if m.column_name == ""), default=0))
    for metric in metrics:
        if metric.column_name == PERFORMANCE:
            window.labelled = metric.n
            window.coverage = metric.label_coverage
            if metric.statistic.endswith("_degradation"):
                window.degradation = metric.value
            elif metric.statistic in ("roc_auc", "accuracy", "rmse") and (
                window.metric is None or metric.statistic == "roc_auc"
            ):
                window.metric, window.value = metric.statistic, metric.value
        elif metric.drifted and metric.column_name not in window.drifted_columns:
            window.drifted_columns.append(metric.column_name)
    return window


class JobWatcher:
    """Retrain jobs of one model through ``GET /v1/jobs``: new jobs, state changes, new log lines."""

    def __init__(self, client: httpx.Client, controller_url: str, model: str) -> None:
        self.client = client
        self.url = controller_url.rstrip("/")
        self.model = model
        self._states: dict[str, str] = {}
        self._log_lines: dict[str, int] = {}

    def poll(self) -> list[tuple[dict[str, Any], list[str], bool]]:
        """(job, new log lines, state changed) for every job with something new."""
        response = self.client.get(f"{self.url}/v1/jobs", params={"model": self.model})
        response.raise_for_status()
        body = response.json()
        jobs = body["jobs"] if isinstance(body, dict) else body
        changes = []
        for summary in reversed(jobs):
            job_id = summary["id"]
            if self._states.get(job_id) in ("succeeded", "failed", "cancelled"):
                continue
            job = self.client.get(f"{self.url}/v1/jobs/{job_id}").json()
            lines = job.get("log") or []
            new_lines = lines[self._log_lines.get(job_id, 0) :]
            state_changed = self._states.get(job_id) != job["state"]
            self._log_lines[job_id] = len(lines)
            self._states[job_id] = job["state"]
            if new_lines or state_changed:
                changes.append((job, new_lines, state_changed))
        return changes
