"""Retrain jobs in the SQL store: the ``retrain_jobs`` table and the few operations the controller needs.

A job moves ``queued -> running -> succeeded | failed | cancelled``. The idempotency key is
unique, so two deliveries of one firing can never create two jobs, even from two controller
replicas; the decision (promoted or rejected, with its evidence) is stored whatever it is.
The table is created by migration ``0002_retrain_jobs``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from driftloop.store.models import Base, JsonType, NullableJson

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE_STATES = (QUEUED, RUNNING)
FINISHED_STATES = (SUCCEEDED, FAILED, CANCELLED)
# The decision outcome of a running job whose work a retrain pipeline does (the controller's
# Azure DevOps hand-off): the pipeline reports its end, so a restart of the controller keeps it running.
HANDED_OFF = "handed_off"


class RetrainJob(Base):
    """One retrain of one model, from the webhook (or an operator) to the recorded decision."""

    __tablename__ = "retrain_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    trigger: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    dataset_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    challenger_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decision: Mapped[dict[str, Any] | None] = mapped_column(NullableJson, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    log: Mapped[str] = mapped_column(Text, default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "state": self.state,
            "trigger": self.trigger,
            "idempotency_key": self.idempotency_key,
            "evidence": self.evidence,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "dataset_id": self.dataset_id,
            "challenger_version": self.challenger_version,
            "decision": self.decision,
            "error": self.error,
            "log": self.log.splitlines(),
        }


class JobStore:
    """Reads and writes ``retrain_jobs``; every method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, model: str, trigger: str, evidence: dict[str, Any], idempotency_key: str | None) -> RetrainJob:
        """Insert a queued job; raises ``IntegrityError`` when the idempotency key is already taken."""
        job = RetrainJob(
            id=uuid.uuid4().hex,
            model=model,
            state=QUEUED,
            trigger=trigger,
            idempotency_key=idempotency_key,
            evidence=evidence,
            created_at=now(),
            log="",
        )
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(job)
        return job

    def get(self, job_id: str) -> RetrainJob | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(RetrainJob, job_id)

    def by_idempotency_key(self, key: str) -> RetrainJob | None:
        return self._first(select(RetrainJob).where(RetrainJob.idempotency_key == key))

    def active(self, model: str) -> RetrainJob | None:
        """The model's queued or running job, if any (the oldest)."""
        query = select(RetrainJob).where(RetrainJob.model == model, RetrainJob.state.in_(ACTIVE_STATES))
        return self._first(query.order_by(RetrainJob.created_at))

    def last_finished(self, model: str) -> RetrainJob | None:
        """The model's most recently finished job that did not fail (cooldown counts from it)."""
        query = select(RetrainJob).where(RetrainJob.model == model, RetrainJob.state == SUCCEEDED)
        return self._first(query.order_by(RetrainJob.finished_at.desc()))

    def recent(self, model: str | None = None, limit: int = 100) -> list[RetrainJob]:
        query = select(RetrainJob).order_by(RetrainJob.created_at.desc()).limit(limit)
        if model is not None:
            query = query.where(RetrainJob.model == model)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))

    def queued(self) -> list[RetrainJob]:
        query = select(RetrainJob).where(RetrainJob.state == QUEUED).order_by(RetrainJob.created_at)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))

    def update(self, job_id: str, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(RetrainJob).where(RetrainJob.id == job_id).values(**values))

    def transition(self, job_id: str, from_states: tuple[str, ...], to_state: str, **values: Any) -> bool:
        """Move a job between states atomically; False when it was no longer in ``from_states``."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(RetrainJob)
                .where(RetrainJob.id == job_id, RetrainJob.state.in_(from_states))
                .values(state=to_state, **values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def append_log(self, job_id: str, line: str) -> None:
        stamped = f"{now().isoformat(timespec='seconds')} {line}\n"
        with self.engine.begin() as connection:
            connection.execute(update(RetrainJob).where(RetrainJob.id == job_id).values(log=RetrainJob.log + stamped))

    def fail_interrupted(self) -> list[str]:
        """Mark jobs left ``running`` by a crashed controller as failed; returns their ids.

        A job handed off to a pipeline keeps running: the pipeline, not the controller, does its work.
        """
        with Session(self.engine) as session, session.begin():
            running = session.execute(select(RetrainJob.id, RetrainJob.decision).where(RetrainJob.state == RUNNING))
            ids = [id_ for id_, decision in running if (decision or {}).get("outcome") != HANDED_OFF]
            if ids:
                session.execute(
                    update(RetrainJob)
                    .where(RetrainJob.id.in_(ids))
                    .values(
                        state=FAILED,
                        finished_at=now(),
                        error="the controller stopped while the job was running; the registry was not changed",
                    )
                )
        return ids

    def _first(self, query: Any) -> RetrainJob | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalars(query.limit(1)).first()


def is_duplicate_key(error: IntegrityError) -> bool:
    """Whether an insert failed on the unique idempotency key (rather than on something else)."""
    return "idempotency_key" in str(error.orig) or "unique" in str(error.orig).lower()


def now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were written in UTC.
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
