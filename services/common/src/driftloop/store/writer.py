"""Writing telemetry into the store: batches, one transaction each, idempotent by key.

Every row is stored once by its key, so a batch delivered twice (the forwarder crashed after the
commit, before committing its bus offset) stores nothing twice: at-least-once delivery,
exactly-once storage. SQLite inserts with ``INSERT ... ON CONFLICT DO NOTHING``; PostgreSQL loads
the new rows by ``COPY`` (store/bulk.py). Both tell which rows they stored, and only those rows
are added to the per-minute rollup (``traffic_minutes``, in the same transaction), so the rollup
is exactly-once too: their traffic, and the labelled pairs they complete (a new label for a
stored prediction, or a new prediction for a stored label: store/labels.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite

from driftloop.eventtime import to_datetime
from driftloop.store.bulk import copy_new_rows
from driftloop.store.labels import lock_models, new_pairs
from driftloop.store.models import DeadLetter, Feedback, Prediction, Rejected
from driftloop.store.rollup import add_to_rollup, count_minutes, merge_minutes
from driftloop.telemetry.bounds import storable_text
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, PredictionData, RejectedData

MAX_POSITION = 300  # dead_letters.position


@dataclass
class WriteResult:
    predictions: int = 0
    feedback: int = 0
    rejected: int = 0
    dead_letters: int = 0

    @property
    def rows(self) -> int:
        return self.predictions + self.feedback + self.rejected + self.dead_letters


def batch_rows(batch: ParsedBatch) -> dict[str, list[dict[str, Any]]]:
    """The rows of each table for a parsed batch (one prediction row per record).

    A row's ``time`` is its event time (each record's own when the request gave one per record),
    which every rollup, chart and report buckets by; ``served_at`` / ``received_at`` keep the
    envelope's time, when scoring answered or took the feedback."""
    rows: dict[str, list[dict[str, Any]]] = {"predictions": [], "feedback": [], "rejected": [], "dead_letters": []}
    for event in batch.events:
        data = event.data
        common = {"event_id": event.id, "model": data.model, "request_id": data.request_id, "source": event.source}
        if isinstance(data, PredictionData):
            unseen_by_record: dict[int, list[dict[str, Any]]] = {}
            for flag in data.unseen:
                index = flag.get("record")
                if isinstance(index, int):
                    unseen_by_record.setdefault(index, []).append(flag)
            times = data.event_time
            if isinstance(times, list):
                stamps = [to_datetime(t) for t in times]
            else:  # one time for the request: its own, or the envelope's
                stamps = [event.time if times is None else to_datetime(times)] * len(data.records)
            for index, record in enumerate(data.records):
                rows["predictions"].append(
                    {
                        **common,
                        "record_index": index,
                        "version": data.version,
                        "time": stamps[index],
                        "served_at": event.time,
                        "record": record,
                        "prediction": data.predictions[index],
                        "probabilities": data.probabilities[index] if data.probabilities is not None else None,
                        "latency_ms": data.latency_ms,
                        "unseen": unseen_by_record.get(index),
                    }
                )
        elif isinstance(data, FeedbackData):
            rows["feedback"].append(
                {
                    **common,
                    "record_index": data.record_index,
                    "actual": data.actual,
                    "known_request": data.known_request,
                    "time": event.time if data.event_time is None else to_datetime(data.event_time),
                    "received_at": event.time,
                }
            )
        elif isinstance(data, RejectedData):
            rows["rejected"].append(
                {
                    **common,
                    "version": data.version,
                    "time": event.time,
                    "status": data.status,
                    "error": data.error,
                    "body": data.body,
                }
            )
    rows["dead_letters"] = [
        {
            "position": _bounded_position(d.position),
            "reason": storable_text(d.reason),
            "payload": storable_text(d.payload),
        }
        for d in batch.dead_letters
    ]
    return rows


def _bounded_position(position: str) -> str:
    """A bus position that fits ``dead_letters.position`` (a Kafka topic alone may be 249 characters)."""
    position = storable_text(position)
    if len(position) <= MAX_POSITION:
        return position
    digest = hashlib.sha256(position.encode()).hexdigest()[:40]
    return f"{position[: MAX_POSITION - 41]}~{digest}"


_TABLES: dict[str, Table] = {
    "predictions": Prediction.__table__,  # type: ignore[dict-item]
    "feedback": Feedback.__table__,  # type: ignore[dict-item]
    "rejected": Rejected.__table__,  # type: ignore[dict-item]
    "dead_letters": DeadLetter.__table__,  # type: ignore[dict-item]
}

# What identifies a row, so that it is stored once: the event (and record), or a dead letter's bus position.
_KEYS: dict[str, tuple[str, ...]] = {
    "predictions": ("event_id", "record_index"),
    "feedback": ("event_id",),
    "rejected": ("event_id",),
    "dead_letters": ("position",),
}

# The tables the per-minute rollup counts: their inserts report which rows were new.
_ROLLED_UP = ("predictions", "feedback", "rejected")


def _insert_ignoring_duplicates(engine: Engine, table: Table) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def _insert_returning_keys(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQLite (and PostgreSQL without psycopg 3): row inserts; returns the rows stored, each key once
    (an event twice in one batch is stored once)."""
    key_names = _KEYS[table.name]
    insert = _insert_ignoring_duplicates(connection.engine, table).returning(*(table.c[k] for k in key_names))
    pending = {tuple(row) for row in connection.execute(insert, rows)}
    kept = []
    for row in rows:
        key = tuple(row[k] for k in key_names)
        if key in pending:
            pending.discard(key)
            kept.append(row)
    return kept


def write_batch(engine: Engine, batch: ParsedBatch) -> WriteResult:
    """Store a batch in one transaction; returns the rows offered per table (duplicates are ignored).

    On PostgreSQL with psycopg 3 every table is loaded by ``COPY`` (store/bulk.py), elsewhere by
    ``INSERT ... ON CONFLICT DO NOTHING``; both tell which rows were new, and only those are rolled up."""
    rows = batch_rows(batch)
    bulk = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    stored: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as connection:
        for name, table_rows in rows.items():
            if not table_rows:
                continue
            table = _TABLES[name]
            if bulk:  # raises the driver's own errors, which store/failures.py classifies
                stored[name] = copy_new_rows(connection, table, table_rows, _KEYS[name])
            elif name in _ROLLED_UP:
                stored[name] = _insert_returning_keys(connection, table, table_rows)
            else:
                connection.execute(_insert_ignoring_duplicates(engine, table), table_rows)
        new_predictions, new_feedback = stored.get("predictions", []), stored.get("feedback", [])
        minutes = count_minutes(new_predictions, stored.get("rejected", []))
        if new_predictions or new_feedback:
            # Before the pairing and every rollup row lock, in the same order in every batch.
            lock_models(connection, [row["model"] for row in [*new_predictions, *new_feedback]])
            merge_minutes(minutes, new_pairs(connection, new_predictions, new_feedback))
        add_to_rollup(connection, minutes)
    return WriteResult(
        predictions=len(rows["predictions"]),
        feedback=len(rows["feedback"]),
        rejected=len(rows["rejected"]),
        dead_letters=len(rows["dead_letters"]),
    )


def count_rows(engine: Engine, tables: Sequence[str] = tuple(_TABLES)) -> dict[str, int]:
    from sqlalchemy import func, select

    with engine.connect() as connection:
        return {
            name: int(connection.execute(select(func.count()).select_from(_TABLES[name])).scalar_one())
            for name in tables
        }
