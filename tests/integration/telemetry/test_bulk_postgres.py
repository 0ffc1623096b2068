"""PostgreSQL's bulk path (store/bulk.py): rows loaded by COPY are the rows SQLite's inserts store.

Values that COPY's text format must escape, NULL against JSON ``null``, large batches, an event
twice in one batch and across batches, a concurrent writer racing the key look-up (the staging
fallback), and a poison inside a large batch. Each case writes the same batches to PostgreSQL
and to SQLite (row inserts) and compares every table and the rollup.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select, text

from driftloop.store import TrafficMinute, bulk, count_rows, make_engine, upgrade, write_batch
from driftloop.store.failures import classify
from driftloop.store.models import Feedback, Prediction, Rejected
from driftloop.store.poison import store_batch
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.events import feedback_event, prediction_event, rejected_event
from driftloop.telemetry.parse import ParsedBatch, ParsedEvent, parse_event

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AWKWARD = [
    "tab\there",
    "new\nline and\r\ncarriage return",
    "back\\slash \\N \\t \\\\",  # COPY's own escapes, as data
    "quote ' and \" and ,;|",
    "unicode é ß 東京 مرحبا 🙂 e\u0301",
    "\\.",  # COPY's end-of-data marker, alone on a line in the text format
    "",
]


@pytest.fixture
def postgres(fresh_database: str) -> Iterator[Engine]:
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _parsed(event: dict[str, Any], moment: datetime) -> ParsedEvent:
    event["time"] = moment.isoformat().replace("+00:00", "Z")
    return parse_event(orjson.dumps(event))


def _prediction(i: int, records: int = 1, model: str = "credit", **fields: Any) -> ParsedEvent:
    values: dict[str, Any] = {
        "records": [{"income": float(i + j), "city": "lyon"} for j in range(records)],
        "predictions": [(i + j) % 2 for j in range(records)],
        "probabilities": [[0.25, 0.75]] * records,
        **fields,
    }
    event = prediction_event(
        "bulk-test", model=model, version=1, request_id=f"req-{i}", class_labels=[0, 1], latency_ms=1.5, **values
    )
    return _parsed(event, START + timedelta(seconds=7 * i))


def _feedback(i: int, actual: Any = 1, record_index: int | None = None, model: str = "credit") -> ParsedEvent:
    event = feedback_event(
        "bulk-test", model=model, request_id=f"req-{i}", record_index=record_index, actual=actual, known_request=True
    )
    return _parsed(event, START + timedelta(seconds=7 * i + 3))


def _rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every stored row but its storing time, times in UTC (SQLite keeps them without a zone)."""
    tables = {
        "predictions": (Prediction, (Prediction.event_id, Prediction.record_index)),
        "feedback": (Feedback, (Feedback.event_id,)),
        "rejected": (Rejected, (Rejected.event_id,)),
        "traffic_minutes": (TrafficMinute, (TrafficMinute.model, TrafficMinute.version, TrafficMinute.minute)),
    }
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        for name, (model, order) in tables.items():
            columns = [c for c in model.__table__.columns if c.name != "stored_at"]  # type: ignore[attr-defined]
            found[name] = [
                {k: _utc(v) for k, v in row.items()}
                for row in connection.execute(select(*columns).order_by(*order)).mappings()
            ]
    return found


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _write_both(postgres: Engine, sqlite: Engine, *batches: list[ParsedEvent]) -> dict[str, list[dict[str, Any]]]:
    for events in batches:
        write_batch(postgres, ParsedBatch(events=events))
        write_batch(sqlite, ParsedBatch(events=events))
    stored = _rows(postgres)
    assert stored == _rows(sqlite)
    return stored


def test_values_that_need_escaping_are_stored_as_sent(postgres: Engine, sqlite: Engine) -> None:
    events = [
        _parsed(
            prediction_event(
                "bulk\tsource\\",
                model=f"m{i} {value}",
                version=1,
                request_id=f"req {value} {i}",
                records=[{"text": value, value or "empty": [value, {"nested": value}]}, {"text": None}],
                predictions=[value, None],
                probabilities=None,
                class_labels=None,
                latency_ms=0.5,
                unseen=[{"record": 0, "column": "text", "value": value}],
            ),
            START,
        )
        for i, value in enumerate(AWKWARD)
    ]
    events += [_feedback(i, actual=value) for i, value in enumerate(AWKWARD)]
    events += [
        _parsed(
            rejected_event("s", model="credit", version=None, request_id=f"bad {i}", status=422, error={}, body=value),
            START,
        )
        for i, value in enumerate(AWKWARD)
    ]
    stored = _write_both(postgres, sqlite, events)
    texts = [row["record"]["text"] for row in stored["predictions"] if row["record_index"] == 0]
    assert sorted(texts) == sorted(AWKWARD)
    assert sorted(row["body"] for row in stored["rejected"]) == sorted(AWKWARD)
    assert {row["source"] for row in stored["predictions"]} == {"bulk\tsource\\"}


def test_sql_null_and_json_null_are_kept_apart(postgres: Engine, sqlite: Engine) -> None:
    events = [
        _prediction(1, predictions=[None], probabilities=None),  # a null prediction, no probabilities
        _feedback(1, actual=None),  # a null label for every record of the request
        _feedback(2, actual={"a": None}, record_index=0),
        _prediction(2, records=1),
    ]
    stored = _write_both(postgres, sqlite, events)
    assert [row["prediction"] for row in stored["predictions"]] == [None, 0]
    assert sorted(str(row["actual"]) for row in stored["feedback"]) == ["None", "{'a': None}"]
    with postgres.connect() as connection:
        # JSON null where the column holds a JSON value, SQL NULL where the column allows none.
        nulls = connection.execute(
            text(
                "SELECT prediction IS NULL, prediction = 'null'::jsonb, probabilities IS NULL, unseen IS NULL"
                " FROM predictions WHERE request_id = 'req-1'"
            )
        ).one()
        labels = connection.execute(
            text("SELECT actual IS NULL, record_index IS NULL FROM feedback ORDER BY request_id")
        )
        assert tuple(nulls) == (False, True, True, True)
        assert [tuple(row) for row in labels] == [(False, True), (False, False)]
    labelled = {row["minute"]: row["labelled"] for row in stored["traffic_minutes"]}
    assert sum(labelled.values()) == 2


def test_a_large_batch_is_stored_and_rolled_up_once(postgres: Engine, sqlite: Engine) -> None:
    events = [_prediction(i, records=10, model=f"m{i % 7}") for i in range(2_000)]  # 20,000 rows, ~230 minutes
    events += [_feedback(i, model=f"m{i % 7}") for i in range(0, 2_000, 3)]
    stored = _write_both(postgres, sqlite, events, events)  # and delivered again
    assert len(stored["predictions"]) == 20_000
    assert sum(row["records"] for row in stored["traffic_minutes"]) == 20_000
    assert sum(row["labelled"] for row in stored["traffic_minutes"]) == 667 * 10
    assert len(stored["traffic_minutes"]) > 200  # the rollup's one statement per step held many minutes


def test_an_event_twice_in_a_batch_and_again_in_later_batches_is_stored_once(postgres: Engine, sqlite: Engine) -> None:
    first = [_prediction(i, records=3) for i in range(10)]
    labels = [_feedback(i) for i in range(5)]
    twice = [*first, first[3], *labels, labels[1], first[3]]
    later = [first[0], _prediction(10, records=3), labels[4], _feedback(10), first[9]]  # old and new together
    stored = _write_both(postgres, sqlite, twice, later, later)
    assert len(stored["predictions"]) == 33
    assert len(stored["feedback"]) == 6
    minutes = stored["traffic_minutes"]
    assert sum(row["requests"] for row in minutes) == 11
    assert sum(row["records"] for row in minutes) == 33
    assert sum(row["labelled"] for row in minutes) == 6 * 3


def test_a_writer_that_loses_the_race_to_a_concurrent_one_stores_only_the_rest(
    postgres: Engine, sqlite: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key look-up misses rows another writer committed after it: COPY meets their keys and the
    batch goes through the staging table instead, storing and counting only what is new."""
    batch = [_prediction(i, records=2) for i in range(20)] + [_feedback(4), _feedback(5)]
    stored_first = [*batch[0:20:2], batch[20]]  # by the other writer
    write_batch(postgres, ParsedBatch(events=stored_first))
    write_batch(sqlite, ParsedBatch(events=stored_first))
    fallbacks: list[str] = []
    original = bulk._insert_through_staging
    monkeypatch.setattr(bulk, "_stored_keys", lambda *args: set())  # as if looked up before the other commit
    monkeypatch.setattr(
        bulk, "_insert_through_staging", lambda *args: fallbacks.append(args[1].name) or original(*args)
    )
    stored = _write_both(postgres, sqlite, batch, batch)
    assert fallbacks == ["predictions", "feedback"] * 2
    assert len(stored["predictions"]) == 40
    assert sum(row["records"] for row in stored["traffic_minutes"]) == 40
    assert sum(row["labelled"] for row in stored["traffic_minutes"]) == 4


def test_concurrent_writers_of_overlapping_batches_store_and_count_each_row_once(postgres: Engine) -> None:
    events = [_prediction(i, records=2, model=f"m{i % 3}") for i in range(600)]
    events += [_feedback(i, model=f"m{i % 3}") for i in range(0, 600, 4)]
    slices = [events[start : start + 400] for start in (0, 150, 300, 350)]  # every event in two or more
    barrier = threading.Barrier(len(slices))
    errors: list[str] = []

    def write(part: list[ParsedEvent]) -> None:
        barrier.wait()
        for start in range(0, len(part), 100):
            for _attempt in range(20):  # as the forwarder does: the database's errors (a deadlock) are retried
                try:
                    write_batch(postgres, ParsedBatch(events=part[start : start + 100]))
                    break
                except Exception as exc:
                    if classify(exc).kind != "database":
                        errors.append(classify(exc).reason)
                        return
            else:
                errors.append("still failing after 20 attempts")

    threads = [threading.Thread(target=write, args=(part,)) for part in slices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count_rows(postgres, ["predictions", "feedback"]) == {"predictions": 1200, "feedback": 150}
    with postgres.connect() as connection:
        records, labelled = connection.execute(text("SELECT sum(records), sum(labelled) FROM traffic_minutes")).one()
    assert (records, labelled) == (1200, 300)


def test_a_poison_in_a_large_batch_is_parked_and_the_rest_stored_once(postgres: Engine) -> None:
    events = [_prediction(i, records=2) for i in range(3_000)]
    poison = _feedback(1_234, record_index=2**40)  # beyond PostgreSQL's integer: a data error inside the COPY
    events.insert(1_700, poison)
    outcome = store_batch(postgres, ParsedBatch(events=events), lambda event: f"test@{event.id}")
    assert [letter.position for letter in outcome.poisoned] == [f"test@{poison.id}"]
    assert "NumericValueOutOfRange" in outcome.poisoned[0].reason
    store_batch(postgres, ParsedBatch(events=events), lambda event: f"test@{event.id}")  # redelivered
    assert count_rows(postgres) == {"predictions": 6_000, "feedback": 0, "rejected": 0, "dead_letters": 1}
    with postgres.connect() as connection:
        assert connection.execute(text("SELECT sum(records) FROM traffic_minutes")).scalar_one() == 6_000
