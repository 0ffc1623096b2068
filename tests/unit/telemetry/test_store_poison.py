"""Write failures classified by the driver's own errors, and a poisoned batch bisected on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event, text
from telemetry_samples import make_feedback, make_prediction

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.store.failures import classify
from driftloop.store.models import DeadLetter as DeadLetterRow
from driftloop.store.poison import DatabaseWriteError, store_batch
from driftloop.store.writer import MAX_POSITION, write_batch
from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.parse import DeadLetter, ParsedBatch, ParsedEvent, parse_records


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    return engine


def batch_of(*events: dict[str, object]) -> ParsedBatch:
    return parse_records([Record(orjson.dumps(e), None, 0, i) for i, e in enumerate(events)])


def located(event: ParsedEvent) -> str:
    return f"test/0@{event.id}"


def sqlite_error(tmp_path: Path, statement: str, *, setup: str = "", busy: bool = False) -> Exception:
    """The error SQLite itself raises for ``statement`` (a real database file)."""
    path = tmp_path / "probe.db"
    first = sqlite3.connect(path, isolation_level=None)
    first.executescript(setup or "CREATE TABLE IF NOT EXISTS t (a INTEGER NOT NULL)")
    second = sqlite3.connect(path, timeout=0, isolation_level=None)
    if busy:
        first.execute("BEGIN EXCLUSIVE")
    try:
        second.execute(statement)
    except Exception as exc:
        return exc
    finally:
        first.close()
        second.close()
    raise AssertionError(f"{statement!r} did not fail")


@pytest.mark.parametrize(
    ("statement", "busy", "kind"),
    [
        ("INSERT INTO t VALUES (NULL)", False, "data"),  # SQLITE_CONSTRAINT (NOT NULL)
        ("INSERT INTO t VALUES (?)", False, "data"),  # an integer beyond 64 bits (bound below)
        ("INSERT INTO t VALUES (1)", True, "database"),  # SQLITE_BUSY: another writer holds the lock
        ("INSERT INTO missing VALUES (1)", False, "database"),  # SQLITE_ERROR: no such table (the schema, not the data)
    ],
)
def test_sqlite_errors_are_classified_by_their_result_code(
    tmp_path: Path, statement: str, busy: bool, kind: str
) -> None:
    if "?" in statement:
        connection = sqlite3.connect(tmp_path / "overflow.db")
        connection.execute("CREATE TABLE t (a INTEGER)")
        with pytest.raises(OverflowError) as caught:
            connection.execute(statement, (2**64,))
        error: BaseException = caught.value
    else:
        error = sqlite_error(tmp_path, statement, busy=busy)
    assert classify(error).kind == kind


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [
        ("22003", "data"),  # numeric value out of range
        ("22001", "data"),  # string data right truncation (varchar(200))
        ("22P05", "data"),  # untranslatable character (NUL in jsonb)
        ("23502", "data"),  # not null violation
        ("54000", "data"),  # program limit exceeded (an index row too large)
        ("08006", "database"),  # connection failure
        ("53100", "database"),  # disk full
        ("57P01", "database"),  # admin shutdown
        ("40001", "database"),  # serialization failure
        ("42P01", "database"),  # undefined table: retried, never a reason to dead-letter everything
    ],
)
def test_postgres_errors_are_classified_by_their_sqlstate_class(sqlstate: str, kind: str) -> None:
    error = psycopg.errors.lookup(sqlstate)("from the server")  # the class psycopg raises for that SQLSTATE
    assert error.sqlstate == sqlstate
    assert classify(error).kind == kind
    assert sqlstate in classify(error).reason


def test_driver_and_python_errors_without_a_code() -> None:
    assert classify(psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")).kind == "data"
    assert classify(psycopg.OperationalError("connection refused")).kind == "database"
    assert classify(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")).kind == "data"
    assert classify(ValueError("math domain error")).kind == "data"
    assert classify(ConnectionResetError("reset by peer")).kind == "database"  # unknown: retried


def test_a_poisoned_batch_stores_everything_but_the_poison(engine: Engine) -> None:
    events = [make_prediction(i, records=2) for i in range(9)] + [make_feedback(i) for i in range(3)]
    batch = batch_of(*events)
    poisoned_id = batch.events[4].id
    batch.events[4].data.request_id = "req-\ud800"  # as if a parser had let a lone surrogate through
    batch.dead_letters.append(DeadLetter("test/0@99", "not JSON: \x00", "\x00junk"))

    outcome = store_batch(engine, batch, located)

    assert [letter.position for letter in outcome.poisoned] == [f"test/0@{poisoned_id}"]
    assert "UnicodeEncodeError" in outcome.poisoned[0].reason
    assert "\\ud800" in outcome.poisoned[0].payload  # escaped: the payload itself is storable
    assert [e.id for e in outcome.stored.events] == [e.id for e in batch.events if e.id != poisoned_id]
    assert count_rows(engine) == {"predictions": 16, "feedback": 3, "rejected": 0, "dead_letters": 2}
    with engine.connect() as connection:
        reasons = dict(connection.execute(text("SELECT position, reason FROM dead_letters")).all())
    assert reasons["test/0@99"] == "not JSON: \ufffd"  # NUL in a dead letter is stored as U+FFFD
    # Delivered again: nothing stored twice, the poison parked once.
    store_batch(engine, batch, located)
    assert count_rows(engine) == {"predictions": 16, "feedback": 3, "rejected": 0, "dead_letters": 2}


def test_a_database_error_is_raised_for_a_retry_and_parks_nothing(engine: Engine, tmp_path: Path) -> None:
    impatient = create_engine(f"sqlite:///{tmp_path / 'store.db'}")  # no busy wait: give up at once
    event.listen(impatient, "connect", lambda connection, _: connection.execute("PRAGMA busy_timeout=0"))
    blocker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        with pytest.raises(DatabaseWriteError) as caught:
            store_batch(impatient, batch_of(make_prediction(1), make_feedback(1)), located)
    finally:
        blocker.rollback()
        blocker.close()
    assert caught.value.failure.kind == "database"
    assert "SQLITE_BUSY" in caught.value.failure.reason
    assert count_rows(engine) == {"predictions": 0, "feedback": 0, "rejected": 0, "dead_letters": 0}


def test_a_long_bus_position_fits_its_column(engine: Engine) -> None:
    long_topic = "t" * 249  # Kafka's longest topic name
    letters = [DeadLetter(f"{long_topic}/{p}@123456789012#{i}", "bad", "{}") for p in (0, 1) for i in (1, 2)]
    write_batch(engine, ParsedBatch(dead_letters=letters))
    with engine.connect() as connection:
        positions = [row[0] for row in connection.execute(text("SELECT position FROM dead_letters"))]
    assert len(set(positions)) == 4  # still one per place
    assert max(len(p) for p in positions) <= MAX_POSITION == DeadLetterRow.__table__.c.position.type.length
