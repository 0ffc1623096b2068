"""The time range of a chart and its bucket size, and the SQL that buckets a timestamp.

Every aggregate is grouped by ``floor(epoch(time) / step) * step`` in the database, so a week
of traffic reaches Python as a few hundred rows, whatever the request rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Float, Integer, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from driftloop.errors import InvalidInputError
from driftloop.store.models import Prediction

# Bucket sizes a reader can name ("per 5 minutes", "per hour"); the smallest that gives at most
# TARGET_BUCKETS buckets over the range is used.
NICE_STEPS = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
TARGET_BUCKETS = 150


@dataclass(frozen=True)
class TimeRange:
    """The half-open range ``[since, until)``: a row at ``since`` is in it, a row at ``until`` is not.

    Every aggregate, rollup and timeline filters with ``since <= time < until``, so two ranges
    that meet (``[a, b)`` and ``[b, c)``) count every row once, and a row exactly on a boundary
    belongs to the later range.
    """

    since: datetime
    until: datetime
    step: int
    """Bucket size in seconds."""

    def to_dict(self) -> dict[str, Any]:
        return {"since": iso(self.since), "until": iso(self.until), "step_seconds": self.step}

    def bucket_time(self, epoch_bucket: int | float) -> str:
        return iso(datetime.fromtimestamp(int(epoch_bucket), UTC))


def parse_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time (``2026-11-27T10:00:00Z``) or a duration back from now (``15m``, ``6h``, ``7d``)."""
    if value is None or value == "":
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    amount = value[:-1]
    if value[-1:] in units and amount.isascii() and amount.isdigit():
        try:
            # A dozen digits already reach past year 1; more could only overflow (or be slow to parse).
            if len(amount) > 12:
                raise OverflowError
            return datetime.now(UTC) - timedelta(seconds=int(amount) * units[value[-1]])
        except OverflowError:
            raise InvalidInputError(
                f"{field}: {value[:40]!r} reaches back further than a time can (before year 1)",
                details={"field": field},
            ) from None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{field}: {value!r} is neither an ISO 8601 time nor a duration like 15m, 6h, 7d",
            details={"field": field},
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def resolve_range(engine: Engine, model: str, since: datetime | None, until: datetime | None) -> TimeRange:
    """Fill an open end from the model's first / last prediction, and pick the bucket size."""
    if since is None or until is None:
        first, last = _first_and_last(engine, model)
        now = datetime.now(UTC)
        since = since or (utc(first) if first is not None else now - timedelta(hours=1))
        until = until or (utc(last) + timedelta(seconds=1) if last is not None else now)
    if until <= since:
        raise InvalidInputError(f"until ({iso(until)}) must be after since ({iso(since)})", details={"field": "until"})
    span = (until - since).total_seconds()
    step = next((s for s in NICE_STEPS if span / s <= TARGET_BUCKETS), NICE_STEPS[-1])
    return TimeRange(since, until, step)


def _first_and_last(engine: Engine, model: str) -> tuple[datetime | None, datetime | None]:
    """The model's first and last prediction time, walking the ``time`` index from either end.

    ``min(time) WHERE model = ?`` makes SQLite read every row of the model through the model
    index; ``+model`` (SQLite's way to keep a column off an index) makes it walk the time index
    and stop at the first match instead. PostgreSQL's planner makes that choice itself.
    """
    model_column: Any = literal_column("+predictions.model") if engine.dialect.name == "sqlite" else Prediction.model
    first_query = select(Prediction.time).where(model_column == model).order_by(Prediction.time).limit(1)
    last_query = select(Prediction.time).where(model_column == model).order_by(Prediction.time.desc()).limit(1)
    with engine.connect() as connection:
        return connection.execute(first_query).scalar(), connection.execute(last_query).scalar()


def bucket(column: Any, step: int, dialect: str) -> ColumnElement[Any]:
    """``floor(epoch seconds / step) * step`` of a timestamp column, in this database's dialect."""
    if dialect == "sqlite":
        epoch: ColumnElement[Any] = cast(func.strftime("%s", column), Integer)
        return (epoch // step) * step  # SQLAlchemy 2: "/" is true division, "//" floors
    epoch = func.extract("epoch", column)
    return func.floor(epoch / step) * step


def json_number(column: Any, dialect: str) -> ColumnElement[Any]:
    """A JSON number column as a float (SQLite stores the JSON text; PostgreSQL has jsonb)."""
    if dialect == "sqlite":
        return cast(column, Float)
    return cast(column.op("#>>")(literal_column("'{}'")), Float)


def utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the store writes them in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def iso(value: datetime) -> str:
    return utc(value).isoformat().replace("+00:00", "Z")
