"""Event time in the store, on SQLite and PostgreSQL: each row's ``time`` is its record's event time,
the served / received time is kept beside it, and the rollups and charts bucket by event time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select

from driftloop.report.performance import performance
from driftloop.report.timerange import TimeRange
from driftloop.report.traffic import volume
from driftloop.store import StoreSettings, make_engine, upgrade, write_batch
from driftloop.store.models import Feedback, Prediction
from driftloop.store.rollup import TrafficMinute
from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.events import feedback_event, prediction_event
from driftloop.telemetry.parse import parse_records

HISTORY = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # long before the envelopes' time (now)
START = HISTORY.timestamp()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = request.getfixturevalue("fresh_database") if request.param == "postgresql" else f"sqlite:///{tmp_path}/s.db"
    engine = make_engine(StoreSettings(url=url))
    upgrade(engine)
    yield engine
    engine.dispose()


def _prediction(request_id: str, records: int, event_time: str | list[float] | None) -> dict[str, object]:
    return prediction_event(
        "test",
        model="credit",
        version=1,
        request_id=request_id,
        records=[{"x": float(i)} for i in range(records)],
        predictions=[i % 2 for i in range(records)],
        probabilities=None,
        class_labels=[0, 1],
        latency_ms=2.0,
        event_time=event_time,
    )


def utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _write(engine: Engine, *events: dict[str, object]) -> None:
    batch = parse_records([Record(orjson.dumps(e), None, 0, i) for i, e in enumerate(events)])
    assert batch.dead_letters == []
    write_batch(engine, batch)


def test_rows_take_their_event_time_and_keep_the_served_time(engine: Engine) -> None:
    served = datetime.now(UTC)
    _write(
        engine,
        _prediction("per-record", 3, [START, START + 90, START + 3600]),  # three minutes, one request
        _prediction("one-time", 2, "2026-01-05T12:30:00Z"),
        _prediction("no-time", 1, None),
        feedback_event(
            "test", model="credit", request_id="per-record", record_index=None, actual=0, known_request=True,
            event_time="2026-01-05T14:00:00Z",
        ),
        feedback_event("test", model="credit", request_id="one-time", record_index=0, actual=0, known_request=True),
    )  # fmt: skip
    with engine.connect() as connection:
        predictions = connection.execute(
            select(Prediction.request_id, Prediction.record_index, Prediction.time, Prediction.served_at).order_by(
                Prediction.request_id, Prediction.record_index
            )
        ).all()
        feedback = connection.execute(
            select(Feedback.request_id, Feedback.time, Feedback.received_at).order_by(Feedback.request_id)
        ).all()

    times = {(r, i): utc(t) for r, i, t, _ in predictions}
    assert times[("per-record", 0)] == HISTORY
    assert times[("per-record", 1)] == HISTORY + timedelta(seconds=90)
    assert times[("per-record", 2)] == HISTORY + timedelta(hours=1)
    assert times[("one-time", 0)] == times[("one-time", 1)] == HISTORY + timedelta(minutes=30)
    assert abs(times[("no-time", 0)] - served) < timedelta(minutes=5)  # absent: the served time
    # Every row keeps when scoring answered; with no event time the two are the same.
    assert all(abs(utc(s) - served) < timedelta(minutes=5) for *_, s in predictions)
    assert [(r, utc(s)) for r, _, _, s in predictions if r == "no-time"] == [("no-time", times[("no-time", 0)])]
    by_request = {r: (utc(t), utc(a)) for r, t, a in feedback}
    assert by_request["per-record"][0] == HISTORY + timedelta(hours=2)  # when the label became known
    assert abs(by_request["one-time"][0] - served) < timedelta(minutes=5)  # absent: when it was taken
    assert all(abs(received - served) < timedelta(minutes=5) for _, received in by_request.values())


def test_the_rollups_and_charts_count_in_event_time(engine: Engine) -> None:
    # An hour of history replayed at once: 60 requests, one per event-time minute, 2 records each,
    # plus labels for every request (the first record right, the second wrong).
    events: list[dict[str, object]] = []
    for minute in range(60):
        events.append(_prediction(f"r{minute}", 2, [START + minute * 60, START + minute * 60 + 30]))
        events.append(
            feedback_event(
                "test", model="credit", request_id=f"r{minute}", record_index=None, actual=0, known_request=True,
                event_time="2026-01-05T14:00:00Z",
            )
        )  # fmt: skip
    for offset in range(0, len(events), 25):  # in several batches, as the forwarder would
        _write(engine, *events[offset : offset + 25])
    with engine.connect() as connection:
        minutes = connection.execute(
            select(
                TrafficMinute.minute,
                TrafficMinute.requests,
                TrafficMinute.records,
                TrafficMinute.labelled,
                TrafficMinute.correct,
            ).order_by(TrafficMinute.minute)
        ).all()
    assert len(minutes) == 60
    assert utc(minutes[0][0]) == HISTORY
    assert {tuple(row[1:]) for row in minutes} == {(1, 2, 2, 1)}
    # The charts (the dashboard's JSON and `driftloop report`) over the hour, from the rollup and from
    # the raw rows: 5-minute buckets of 5 requests, 10 records.
    for until in (HISTORY + timedelta(hours=1), HISTORY + timedelta(hours=3)):  # raw rows; the rollup
        chart = volume(engine, "credit", TimeRange(HISTORY, until, 300))
        assert chart["time"][0] == "2026-01-05T12:00:00Z"
        assert chart["requests"] == [5] * 12
        assert chart["records"] == [10] * 12
    for until in (HISTORY + timedelta(hours=1), HISTORY + timedelta(hours=3)):
        chart = performance(engine, "credit", TimeRange(HISTORY, until, 300))
        assert chart["time"][0] == "2026-01-05T12:00:00Z"
        assert chart["labelled"] == [10] * 12  # by the predictions' event time, not the labels'
        assert chart["value"] == [0.5] * 12
