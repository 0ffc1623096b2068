"""Event time read off the bus: what the forwarder gets from each form, and a bad value is a dead letter."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
from telemetry_samples import make_feedback, make_prediction

from driftloop.store import StoreSettings, make_engine, upgrade, write_batch
from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.parse import FeedbackData, PredictionData, parse_records

NOON = datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp()


def _with(event: dict[str, object], event_time: object) -> bytes:
    event["data"]["event_time"] = event_time  # type: ignore[index]
    return orjson.dumps(event)


def test_each_form_gives_unix_seconds_and_the_helpers_give_per_record_times() -> None:
    values = [
        _with(make_prediction(1, records=3), "2026-11-27T13:00:00+01:00"),
        _with(make_prediction(2, records=3), [NOON, "2026-11-27T12:00:01Z", NOON + 2]),
        orjson.dumps(make_prediction(3, records=3)),
        _with(make_feedback(1), NOON - 60),
        orjson.dumps(make_feedback(2)),
    ]
    batch = parse_records([Record(v, None, 0, i) for i, v in enumerate(values)])
    assert batch.dead_letters == []
    one, per_record, absent, labelled, unlabelled = (event.data for event in batch.events)
    assert isinstance(one, PredictionData)
    assert isinstance(per_record, PredictionData)
    assert isinstance(absent, PredictionData)
    assert (one.event_time, one.event_times) == (NOON, [NOON] * 3)
    assert per_record.event_times == [NOON, NOON + 1, NOON + 2]
    assert absent.event_times is None
    envelope = batch.events[2].time
    assert absent.record_times(envelope) == envelope.timestamp()
    assert one.record_times(envelope) == NOON
    assert np.array_equal(per_record.record_times(envelope), [NOON, NOON + 1, NOON + 2])
    assert isinstance(labelled, FeedbackData)
    assert isinstance(unlabelled, FeedbackData)
    assert (labelled.event_time, unlabelled.event_time) == (NOON - 60, None)


@pytest.mark.parametrize(
    ("event_time", "reason"),
    [
        ("yesterday", "event_time: 'yesterday' is not an RFC 3339"),
        (True, "event_time: expected an RFC 3339 / ISO 8601 time such as 2026-11-27T12:00:00Z, or Unix seconds, got a"),
        (1e300, "event_time: is outside the years 1 to 9999"),
        ([NOON, NOON], "event_time: has 2 values for 3 records"),
        ([NOON, NOON, "x"], "event_time[2]: 'x' is not"),
        ({"at": NOON}, "event_time: expected"),
    ],
)
def test_a_bad_event_time_on_the_bus_is_a_dead_letter_and_the_rest_is_stored(
    tmp_path: object, event_time: object, reason: str
) -> None:
    values = [
        orjson.dumps(make_prediction(1, records=3)),
        _with(make_prediction(2, records=3), event_time),
        _with(make_feedback(3), event_time if not isinstance(event_time, list) else "x"),
    ]
    batch = parse_records([Record(v, None, 0, i) for i, v in enumerate(values)])
    assert [event.data.request_id for event in batch.events] == ["req-1"]
    assert [letter.position for letter in batch.dead_letters] == ["/0@1", "/0@2"]
    assert reason in batch.dead_letters[0].reason
    assert "event_time" in batch.dead_letters[1].reason
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path}/store.db"))
    upgrade(engine)
    written = write_batch(engine, batch)
    assert (written.predictions, written.dead_letters) == (3, 2)


def test_a_batch_message_refuses_only_the_bad_event() -> None:
    message = b"[" + orjson.dumps(make_prediction(1)) + b"," + _with(make_prediction(2), "not a time") + b"]"
    batch = parse_records([Record(message, None, 0, 7)])
    assert [event.data.request_id for event in batch.events] == ["req-1"]
    assert [letter.position for letter in batch.dead_letters] == ["/0@7#1"]
