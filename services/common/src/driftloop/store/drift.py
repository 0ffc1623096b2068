"""Drift monitoring in the SQL store: window statistics, rule firings with their delivery, rule state.

Written by the telemetry-forwarder (docs/reporting.md): ``drift_metrics`` has one row per closed
window, column and statistic; ``rule_firings`` one row per firing with its evidence (the webhook
body) and, for retrain rules, the delivery outcome; ``rule_state`` the evaluator's hysteresis per
rule and model, so a restarted forwarder neither fires again nor forgets a cooldown. The tables
are created by migration ``0003_drift``. The charted rows are also added to the 5-minute rollup
``drift_slots`` in the same transaction (store/drift_rollup.py).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from driftloop.store.drift_rollup import PERFORMANCE, add_to_drift_rollup, count_slots
from driftloop.store.jobs import FINISHED_STATES, RetrainJob
from driftloop.store.models import Base, JsonType

if TYPE_CHECKING:  # the store itself needs no scipy: only the forwarder computes drift
    from driftloop.drift.compute import WindowReport
    from driftloop.drift.evaluator import Firing
    from driftloop.drift.notify import DeliveryOutcome


class DriftMetric(Base):
    """One statistic of one column (or ``__predictions__``, ``__performance__``, "" for the window) in one window."""

    __tablename__ = "drift_metrics"
    __table_args__ = (
        Index("ix_drift_metrics_window", "model", "version", "window_index"),
        # The dashboard reads a model over a span of window ends (short ranges, and the partial
        # slots at a long range's ends); without it SQLite reads every row of the model (migration 0005).
        Index("ix_drift_metrics_model_end", "model", "window_end"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    window_index: Mapped[int] = mapped_column(Integer)
    """The window's number in its (model, version) sequence (``window`` is reserved in PostgreSQL)."""
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    column_name: Mapped[str] = mapped_column(String(200))
    """A feature, ``__predictions__``, ``__performance__``, or "" for the window (``column`` is reserved in SQL)."""
    statistic: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    """NULL where the statistic is undefined (NaN: no data)."""
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    """The column's verdict threshold (p-value or distance); NULL for window and performance rows."""
    drifted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    """The column's verdict; NULL: not enough data (or not a column row)."""
    n: Mapped[int] = mapped_column(Integer)
    """Values behind the row: the column's non-missing count, labelled records for performance, rows for the window."""
    label_coverage: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Share of the window's records with feedback when it closed."""


class RuleFiring(Base):
    """One firing of a rule, its evidence, and (retrain rules) how its webhook delivery ended."""

    __tablename__ = "rule_firings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The firing id, also the webhook's Idempotency-Key."""
    rule: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    window_index: Mapped[int] = mapped_column(Integer)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """The end of the window that fired (the windows' clock)."""
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """Wall-clock time of the firing: a retrain job that finished after it releases the rule."""
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)
    delivery_status: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    """delivered, rejected, gave_up; NULL while pending (and for alert rules, which send nothing)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)


class RuleState(Base):
    """The hysteresis of one rule for one model (``RuleEvaluator.snapshot``)."""

    __tablename__ = "rule_state"

    rule: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    fired_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Unix time (the windows' clock) of the last firing."""
    awaiting_retrain: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def _time(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def metric_rows(report: WindowReport) -> list[dict[str, Any]]:
    """``report.metric_rows()`` with each column's verdict, count and the window's label coverage."""
    coverage = report.performance.coverage if report.performance else 0.0
    columns = {c.column: c for c in [*report.columns.values(), *([report.predictions] if report.predictions else [])]}
    rows = []
    for row in report.metric_rows():
        column = columns.get(row["column"])
        if column is not None:
            threshold, drifted, n = column.verdict.threshold, column.verdict.drifted, column.n
        elif row["column"] == PERFORMANCE and report.performance:
            threshold, drifted, n = None, None, report.performance.labelled
        else:
            threshold, drifted, n = None, None, report.rows
        rows.append(
            {
                "model": row["model"],
                "version": row["version"],
                "window_index": row["window"],
                "window_start": _time(row["start"]),
                "window_end": _time(row["end"]),
                "column_name": row["column"],
                "statistic": row["statistic"],
                "value": _number(row["value"]),
                "threshold": _number(threshold),
                "drifted": drifted,
                "n": n,
                "label_coverage": _number(coverage),
            }
        )
    return rows


def insert_metrics(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """``drift_metrics`` rows, and the charted ones added to the 5-minute rollup the dashboard reads."""
    connection.execute(insert(DriftMetric), rows)
    add_to_drift_rollup(connection, count_slots(rows))


def write_window(engine: Engine, report: WindowReport, firings: list[Firing], state: list[dict[str, Any]]) -> None:
    """A closed window's metrics, its firings and the rule state after it, in one transaction."""
    with Session(engine) as session, session.begin():
        # One executemany, not ORM objects: a window is ~130 rows and the ORM's unit of work costs
        # more than the window's statistics.
        insert_metrics(session.connection(), metric_rows(report))
        _add_firings(session, firings, state)


def write_firings(engine: Engine, firings: list[Firing], state: list[dict[str, Any]]) -> None:
    """Firings that no window closed (concept-drift alarms) and the rule state after them."""
    with Session(engine) as session, session.begin():
        _add_firings(session, firings, state)


def _add_firings(session: Session, firings: list[Firing], state: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    for firing in firings:
        session.merge(
            RuleFiring(
                id=firing.id,
                rule=firing.rule,
                action=firing.action,
                model=firing.model,
                version=firing.version,
                window_index=int(firing.window["index"]),
                fired_at=_time(firing.fired_at),
                recorded_at=now,
                body=firing.body(),
                attempts=0,
            )
        )
    if firings:
        _replace_state(session, state)


def save_rule_state(engine: Engine, state: list[dict[str, Any]]) -> None:
    with Session(engine) as session, session.begin():
        _replace_state(session, state)


def _replace_state(session: Session, state: list[dict[str, Any]]) -> None:
    session.execute(delete(RuleState))
    session.add_all(
        RuleState(
            rule=row["rule"],
            model=row["model"],
            fired_at=row["fired_at"],
            awaiting_retrain=bool(row["awaiting_retrain"]),
            updated_at=datetime.now(UTC),
        )
        for row in state
    )


def load_rule_state(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [
            {"rule": s.rule, "model": s.model, "fired_at": s.fired_at, "awaiting_retrain": s.awaiting_retrain}
            for s in session.scalars(select(RuleState))
        ]


def record_delivery(engine: Engine, outcome: DeliveryOutcome) -> None:
    with Session(engine) as session, session.begin():
        firing = session.get(RuleFiring, outcome.firing_id)
        if firing is None:
            return
        firing.delivery_status = outcome.status
        firing.attempts = outcome.attempts
        firing.http_status = outcome.http_status
        firing.error = outcome.error
        firing.delivered_at = _time(outcome.finished_at)
        firing.response = outcome.response


def undelivered_firings(engine: Engine) -> list[Firing]:
    """The retrain firings whose delivery has no outcome yet (to send again at start: same id, same key)."""
    from driftloop.drift.evaluator import Evidence, Firing

    with Session(engine) as session:
        query = select(RuleFiring).where(RuleFiring.action == "retrain", RuleFiring.delivery_status.is_(None))
        stored = list(session.scalars(query))
    firings = []
    for row in stored:
        body = row.body
        rule = body["rule"]
        firings.append(
            Firing(
                id=row.id,
                rule=row.rule,
                action=row.action,
                statistic=rule["statistic"],
                threshold=float(rule["threshold"]),
                consecutive=int(rule["consecutive"]),
                model=row.model,
                version=row.version,
                window=body["window"],
                evidence=[Evidence(**item) for item in body["evidence"]],
                fired_at=datetime.fromisoformat(body["fired_at"]).timestamp(),
                summary=body.get("summary", {}),
                change_point=body.get("change_point"),
            )
        )
    return firings


def retrain_outcome_since_last_firing(engine: Engine, model: str) -> str | None:
    """How the retrain asked for by ``model``'s latest retrain firing ended: ``promoted`` or
    ``not_promoted`` once a retrain job of the model finished after the firing was recorded (or its
    delivery was rejected or gave up: ``not_promoted``); None while it is not over."""
    with Session(engine) as session:
        latest = session.execute(
            select(RuleFiring.recorded_at, RuleFiring.delivery_status)
            .where(RuleFiring.model == model, RuleFiring.action == "retrain")
            .order_by(RuleFiring.recorded_at.desc())
            .limit(1)
        ).first()
        if latest is None:
            return None
        fired, status = latest
        if status in ("rejected", "gave_up"):
            return "not_promoted"
        if fired.tzinfo is None:  # SQLite returns naive datetimes; everything here is UTC
            fired = fired.replace(tzinfo=UTC)
        query = select(RetrainJob.decision).where(
            RetrainJob.model == model, RetrainJob.state.in_(FINISHED_STATES), RetrainJob.finished_at >= fired
        )
        decisions = list(session.scalars(query))
        if not decisions:
            return None
        promoted = any((decision or {}).get("outcome") == "promoted" for decision in decisions)
        return "promoted" if promoted else "not_promoted"


def next_window_index(engine: Engine, model: str, version: int) -> int:
    with Session(engine) as session:
        last = session.scalar(
            select(func.max(DriftMetric.window_index)).where(DriftMetric.model == model, DriftMetric.version == version)
        )
        return 0 if last is None else int(last) + 1
