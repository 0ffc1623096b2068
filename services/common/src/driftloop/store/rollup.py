"""Per-minute traffic rollup: ``traffic_minutes``, written with the rows it counts.

One row per model, version and minute: requests, records, refused requests, a latency histogram
(per request, on fixed log-scale bins 5 % wide: ``bin = floor(ln(ms + 0.001) * 20 + 0.5)``),
prediction counts per label (up to MAX_LABELS labels, else none) and the sum / count of numeric
predictions (a regressor's mean). ``write_batch`` updates it in the same transaction as the rows,
from the rows that insert actually stored, so a redelivered batch counts nothing twice. The
dashboard reads a week as ~10 000 of these rows instead of ~60 M predictions (docs/reporting.md).
Created by migration ``0004_traffic_rollup``.

Since migration ``0005_label_and_drift_rollups`` it also counts the labelled records of the minute (by
the PREDICTION's time and version): ``labelled`` (pairs of a prediction row and a feedback row, as
the ``labelled_predictions`` join counts them), ``correct`` (prediction equal to the label) and
``error_sum`` (sum of |prediction - label| where both are numbers). store/labels.py finds the
pairs when the second of the two is stored.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from psycopg import sql
from sqlalchemy import Connection, DateTime, Float, Index, Integer, String, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from driftloop.store import bulk
from driftloop.store.models import Base, NullableJson, Prediction

BINS_PER_E = 20  # latency bin width exp(1/20): about 5 %
MAX_LABELS = 20  # more distinct predictions than this in a minute: counted only as a mean

# The short ranges (under ~75 min) and a range's partial edge minutes are read from the raw rows
# of one model over a time span; migration 0004 creates this index (declared here, next to its
# reason, so that the models still describe the migrated schema).
Index("ix_predictions_model_time", Prediction.model, Prediction.time)


class TrafficMinute(Base):
    __tablename__ = "traffic_minutes"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    latency_bins: Mapped[dict[str, int] | None] = mapped_column(NullableJson, nullable=True)
    """Requests per latency bin (keys are the bin numbers as text)."""
    label_counts: Mapped[dict[str, int] | None] = mapped_column(NullableJson, nullable=True)
    """Records per predicted label (its JSON text, unquoted for strings); NULL past MAX_LABELS."""
    value_sum: Mapped[float] = mapped_column(Float, default=0.0)
    value_count: Mapped[int] = mapped_column(Integer, default=0)
    """Sum and count of the numeric predictions (bools excluded)."""
    labelled: Mapped[int] = mapped_column(Integer, server_default="0")
    """(prediction, feedback) pairs of the minute's records: a record with two labels counts twice, as in the join."""
    correct: Mapped[int] = mapped_column(Integer, server_default="0")
    """Pairs whose prediction equals the label (accuracy = correct / labelled)."""
    error_sum: Mapped[float] = mapped_column(Float, server_default="0")
    """Sum of |prediction - label| over the pairs where both are numbers (MAE = error_sum / labelled)."""


def latency_bin(latency_ms: float) -> int:
    return math.floor(math.log(latency_ms + 0.001) * BINS_PER_E + 0.5)


def bin_latency(bin_: int) -> float:
    """The centre of a latency bin in ms."""
    return round(max(math.exp(bin_ / BINS_PER_E) - 0.001, 0.0), 3)


def label_of(prediction: Any) -> str:
    return prediction if isinstance(prediction, str) else orjson.dumps(prediction).decode()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_label(prediction: Any, actual: Any) -> bool:
    """Whether a prediction equals its label, as JSON values: 1 == 1.0, but True != 1 and "1" != 1."""
    if _is_number(prediction) and _is_number(actual):
        return bool(prediction == actual)
    return type(prediction) is type(actual) and bool(prediction == actual)


def minute_of(moment: datetime) -> datetime:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(second=0, microsecond=0)


@dataclass
class MinuteCounts:
    requests: int = 0
    records: int = 0
    rejected: int = 0
    latency_bins: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, int] | None = field(default_factory=dict)
    value_sum: float = 0.0
    value_count: int = 0
    labelled: int = 0
    correct: int = 0
    error_sum: float = 0.0

    def add_label(self, prediction: Any, actual: Any) -> None:
        """One (prediction row, feedback row) pair of this minute."""
        self.labelled += 1
        self.correct += same_label(prediction, actual)
        if _is_number(prediction) and _is_number(actual):
            self.error_sum += abs(float(prediction) - float(actual))

    def add_requests(self, latency_bin: int, n: int) -> None:
        """n requests in one latency bin."""
        self.requests += n
        key = str(latency_bin)
        self.latency_bins[key] = self.latency_bins.get(key, 0) + n

    def add_records(self, prediction: Any, n: int) -> None:
        """n records with the same prediction (their requests are counted by add_requests)."""
        self.records += n
        if _is_number(prediction):
            self.value_sum += float(prediction) * n
            self.value_count += n
        self._count_labels({label_of(prediction): n})

    def merge(self, other: MinuteCounts) -> None:
        self.requests += other.requests
        self.records += other.records
        self.rejected += other.rejected
        for key, count in other.latency_bins.items():
            self.latency_bins[key] = self.latency_bins.get(key, 0) + count
        if other.label_counts is None:
            self.label_counts = None
        else:
            self._count_labels(other.label_counts)
        self.value_sum += other.value_sum
        self.value_count += other.value_count
        self.labelled += other.labelled
        self.correct += other.correct
        self.error_sum += other.error_sum

    def _count_labels(self, counts: dict[str, int]) -> None:
        if self.label_counts is None:
            return
        for label, count in counts.items():
            self.label_counts[label] = self.label_counts.get(label, 0) + count
        if len(self.label_counts) > MAX_LABELS:
            self.label_counts = None


Key = tuple[str, int, datetime]


def count_minutes(predictions: Iterable[dict[str, Any]], rejected: Iterable[dict[str, Any]]) -> dict[Key, MinuteCounts]:
    """The rollup increments for newly stored prediction and rejected rows.

    Rows are first counted per minute and latency, and per minute and predicted label, and each
    group is added once: a batch has thousands of rows but a few dozen groups, and counting each
    row on its own cost the forwarder more than loading it (docs/benchmarks.md, "Bulk writes")."""
    minute_starts: dict[int, datetime] = {}
    requests: Counter[tuple[Key, float]] = Counter()
    records: dict[tuple[Key, type, Any], list[Any]] = {}  # [one of the predictions, how many]
    for row in predictions:
        key = (row["model"], int(row["version"]), _minute_start(row["time"], minute_starts))
        if row["record_index"] == 0:  # latency is per request: every record of it carries the same
            requests[key, row["latency_ms"]] += 1
        prediction = row["prediction"]
        # By type too: 1, 1.0, True and "1" are four labels. A list or an object by its JSON text.
        same = prediction if type(prediction) in _SCALARS else label_of(prediction)
        group = records.setdefault((key, type(prediction), same), [prediction, 0])
        group[1] += 1
    minutes: dict[Key, MinuteCounts] = {}
    for (key, latency_ms), n in requests.items():
        minutes.setdefault(key, MinuteCounts()).add_requests(latency_bin(float(latency_ms)), n)
    for (key, _, _), (prediction, n) in records.items():
        minutes.setdefault(key, MinuteCounts()).add_records(prediction, n)
    for row in rejected:
        # A request refused before a version was resolved counts under version 0.
        key = (row["model"], int(row["version"] or 0), _minute_start(row["time"], minute_starts))
        minutes.setdefault(key, MinuteCounts()).rejected += 1
    return minutes


_SCALARS = (str, int, float, bool, type(None))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)


def _minute_start(moment: datetime, starts: dict[int, datetime]) -> datetime:
    """``minute_of(moment)``, computed once per minute of a batch (exact integer arithmetic)."""
    number = ((moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)) - _EPOCH) // _MINUTE
    start = starts.get(number)
    if start is None:
        start = starts[number] = _EPOCH + number * _MINUTE
    return start


def merge_minutes(minutes: dict[Key, MinuteCounts], increments: dict[Key, MinuteCounts]) -> None:
    """Add increments into ``minutes`` (e.g. a batch's traffic and the labelled pairs it completed)."""
    for key, counts in increments.items():
        if key in minutes:
            minutes[key].merge(counts)
        else:
            minutes[key] = counts


# The columns of migration 0004, and those 0005 added: 0004's own roll-up of older rows runs this
# code before 0005's columns exist, and increments without labels leave them alone anyway.
_TRAFFIC_COLUMNS = ("requests", "records", "rejected", "latency_bins", "label_counts", "value_sum", "value_count")
_LABEL_COLUMNS = ("labelled", "correct", "error_sum")


def add_to_rollup(connection: Connection, minutes: dict[Key, MinuteCounts]) -> None:
    """Add increments to ``traffic_minutes`` inside the caller's transaction.

    Each minute row is created empty if absent, then read with a row lock (PostgreSQL; SQLite
    has one writer at a time) and rewritten, so concurrent writers serialise on the row and no
    increment is lost. Rows are taken in one order (sorted by key): no deadlocks.
    """
    if not minutes:
        return
    names = _TRAFFIC_COLUMNS + (_LABEL_COLUMNS if any(m.labelled for m in minutes.values()) else ())
    if bulk.available(connection):
        _add_to_rollup_at_once(connection, minutes, names)
        return
    table = cast(Table, TrafficMinute.__table__)
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    for (model, version, minute), increment in sorted(minutes.items()):
        keys = {"model": model, "version": version, "minute": minute}
        empty = {**keys, **{name: getattr(MinuteCounts(), name) for name in _TRAFFIC_COLUMNS}}
        connection.execute(dialect.insert(table).values(empty).on_conflict_do_nothing())
        where = (table.c.model == model) & (table.c.version == version) & (table.c.minute == minute)
        query = select(*(table.c[name] for name in names)).where(where)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        totals = _total(dict(connection.execute(query).mappings().one()), increment)
        connection.execute(update(table).where(where).values({name: getattr(totals, name) for name in names}))


def _total(stored: dict[str, Any], increment: MinuteCounts) -> MinuteCounts:
    stored["latency_bins"] = dict(stored["latency_bins"] or {})
    stored["label_counts"] = dict(stored["label_counts"]) if stored["label_counts"] is not None else None
    total = MinuteCounts(**stored)
    total.merge(increment)
    return total


_KEY = ("model", "version", "minute")


def _add_to_rollup_at_once(connection: Connection, minutes: dict[Key, MinuteCounts], names: tuple[str, ...]) -> None:
    """PostgreSQL: the same three steps for every minute of the batch at once, in three statements
    (the minutes as arrays: store/bulk.py), instead of three per minute."""
    table = cast(Table, TrafficMinute.__table__)
    cursor = bulk.cursor_of(connection)
    empty = {name: getattr(MinuteCounts(), name) for name in _TRAFFIC_COLUMNS}
    keys = [dict(zip(_KEY, key, strict=True)) for key in minutes]
    created, params = bulk.unnest(table, _KEY + _TRAFFIC_COLUMNS, [{**key, **empty} for key in keys], "k")
    cursor.execute(
        sql.SQL("INSERT INTO traffic_minutes ({}) SELECT * FROM {} ORDER BY {} ON CONFLICT DO NOTHING").format(
            sql.SQL(", ").join(map(sql.Identifier, _KEY + _TRAFFIC_COLUMNS)),
            created,
            sql.SQL(", ").join(map(sql.Identifier, _KEY)),
        ),
        params,
    )
    relation, params = bulk.unnest(table, _KEY, keys, "k")
    cursor.execute(
        sql.SQL("SELECT {} FROM traffic_minutes t JOIN {} USING ({}) ORDER BY {} FOR UPDATE OF t").format(
            sql.SQL(", ").join(sql.Identifier("t", name) for name in _KEY + names),
            relation,
            sql.SQL(", ").join(map(sql.Identifier, _KEY)),
            sql.SQL(", ").join(sql.Identifier("t", name) for name in _KEY),
        ),
        params,
    )
    totals = []
    for found in cursor.fetchall():
        stored = dict(zip(_KEY + names, found, strict=True))
        key = (stored.pop("model"), stored.pop("version"), stored.pop("minute"))
        totals.append({**dict(zip(_KEY, key, strict=True)), **vars(_total(stored, minutes[key]))})
    relation, params = bulk.unnest(table, _KEY + names, totals, "s")
    cursor.execute(
        sql.SQL("UPDATE traffic_minutes t SET {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(n), sql.Identifier("s", n)) for n in names),
            relation,
            sql.SQL(" AND ").join(
                sql.SQL("{} = {}").format(sql.Identifier("t", n), sql.Identifier("s", n)) for n in _KEY
            ),
        ),
        params,
    )
