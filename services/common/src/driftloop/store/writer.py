"""Writing telemetry into the store: batches, one transaction each, idempotent by key.

Every insert is ``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite alike), so a batch
delivered twice (the forwarder crashed after the commit, before committing its bus offset)
stores nothing twice: at-least-once delivery, exactly-once storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from driftloop.store.models import DeadLetter, Feedback, Prediction, Rejected
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, PredictionData, RejectedData


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
    """The rows of each table for a parsed batch (one prediction row per record)."""
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
            for index, record in enumerate(data.records):
                rows["predictions"].append(
                    {
                        **common,
                        "record_index": index,
                        "version": data.version,
                        "time": event.time,
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
                    "time": event.time,
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
        {"position": d.position, "reason": d.reason, "payload": d.payload} for d in batch.dead_letters
    ]
    return rows


_TABLES: dict[str, Table] = {
    "predictions": Prediction.__table__,  # type: ignore[dict-item]
    "feedback": Feedback.__table__,  # type: ignore[dict-item]
    "rejected": Rejected.__table__,  # type: ignore[dict-item]
    "dead_letters": DeadLetter.__table__,  # type: ignore[dict-item]
}


def _insert_ignoring_duplicates(engine: Engine, table: Table) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def _copy_ignoring_duplicates(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the rows into a temporary twin of the table, then INSERT ... ON CONFLICT DO NOTHING.

    Several times faster than row-by-row inserts (the forwarder's throughput hangs on this);
    the temporary table lives per connection and empties itself at each commit.
    """
    columns = [c.name for c in table.columns if c.name in rows[0]]
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    staging = f"driftloop_staging_{table.name}"
    names = ", ".join(columns)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [orjson.dumps(row[c]).decode() if c in json_columns and row[c] is not None else row[c] for c in columns]
            )
    cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} ON CONFLICT DO NOTHING")
    cursor.execute(f"TRUNCATE {staging}")  # a retried batch in the same transaction starts empty


def write_batch(engine: Engine, batch: ParsedBatch) -> WriteResult:
    """Store a batch in one transaction; returns the rows offered per table (duplicates are ignored)."""
    rows = batch_rows(batch)
    copy = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    with engine.begin() as connection:
        for name, table_rows in rows.items():
            if not table_rows:
                continue
            if copy:
                try:
                    _copy_ignoring_duplicates(connection, _TABLES[name], table_rows)
                except Exception as exc:  # raw driver errors: present them as SQLAlchemy's, like every other path
                    raise OperationalError("COPY", None, exc) from exc
            else:
                connection.execute(_insert_ignoring_duplicates(engine, _TABLES[name]), table_rows)
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
