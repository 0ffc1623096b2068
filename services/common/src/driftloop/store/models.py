"""The tables of the SQL store (SQLAlchemy 2 declarative models).

The schema itself is created and changed only by the versioned alembic migrations in
``migrations/versions``; these models are what the code reads and writes, and a test checks
that the migrated database and the models agree. Documented in docs/reporting.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ColumnElement, DateTime, Float, Integer, String, Text, and_, func, or_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JsonType = JSON().with_variant(JSONB(), "postgresql")
# For nullable columns: Python None is SQL NULL, not the JSON text 'null'.
NullableJson = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class Base(DeclarativeBase):
    pass


class Prediction(Base):
    """One row per scored record: the key is the event id and the record's index in the request."""

    __tablename__ = "predictions"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    record_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(200), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    """The record's event time (driftloop.eventtime): what every rollup, chart and report counts in."""
    served_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When scoring answered (the event's envelope time); NULL for rows stored before migration 0006."""
    source: Mapped[str] = mapped_column(String(200))
    record: Mapped[dict[str, Any]] = mapped_column(JsonType)
    prediction: Mapped[Any] = mapped_column(JsonType)
    probabilities: Mapped[list[float] | None] = mapped_column(NullableJson, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    unseen: Mapped[list[dict[str, Any]] | None] = mapped_column(NullableJson, nullable=True)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Feedback(Base):
    """A label for a request (record_index NULL: for every record of it), before or after its prediction."""

    __tablename__ = "feedback"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    request_id: Mapped[str] = mapped_column(String(200), index=True)
    record_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actual: Mapped[Any] = mapped_column(JsonType)
    known_request: Mapped[bool]
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """When the label became known: the feedback's event time."""
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When scoring took the feedback (the envelope time); NULL for rows stored before migration 0006."""
    source: Mapped[str] = mapped_column(String(200))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def labels_prediction() -> ColumnElement[bool]:
    """A feedback row labels a prediction row: same model and request id, and the feedback's record
    index equal to the prediction's or NULL (a label for every record of the request). The one
    definition of a pair, as the ``labelled_predictions`` view has it."""
    return and_(
        Feedback.request_id == Prediction.request_id,
        Feedback.model == Prediction.model,
        or_(Feedback.record_index.is_(None), Feedback.record_index == Prediction.record_index),
    )


class Rejected(Base):
    """A request refused by validation, with the error it got."""

    __tablename__ = "rejected"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    request_id: Mapped[str] = mapped_column(String(200))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    source: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    error: Mapped[dict[str, Any]] = mapped_column(JsonType)
    body: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeadLetter(Base):
    """A message the forwarder could not parse, parked with its bus position and the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    position: Mapped[str] = mapped_column(String(300), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
