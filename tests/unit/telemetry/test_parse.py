"""Parsing events off the bus: every builder's event parses; anything else is a dead letter, not a crash."""

from __future__ import annotations

import orjson
import pytest
from telemetry_samples import make_feedback, make_prediction, make_rejected

from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.events import SCHEMA_VERSION
from driftloop.telemetry.parse import FeedbackData, InvalidEventError, PredictionData, parse_event, parse_records


def test_every_event_type_parses_back() -> None:
    prediction = parse_event(orjson.dumps(make_prediction(1, records=3)))
    assert isinstance(prediction.data, PredictionData)
    assert len(prediction.data.records) == 3
    assert prediction.data.unseen == [{"record": 0, "column": "city", "reason": "category"}]
    feedback = parse_event(orjson.dumps(make_feedback(1, record_index=2)))
    assert isinstance(feedback.data, FeedbackData)
    assert feedback.data.record_index == 2
    assert parse_event(orjson.dumps(make_rejected(1))).type == "driftloop.rejected"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.update(type="driftloop.unknown"), "type"),
        (lambda e: e.pop("id"), "id"),
        (lambda e: e.update(specversion="0.3"), "specversion"),
        (lambda e: e["data"].update(schema=SCHEMA_VERSION + 1), "schema"),
        (lambda e: e["data"].pop("model"), "model"),
        (lambda e: e["data"].update(predictions=[]), "one entry per record"),
        (lambda e: e.update(time="yesterday"), "time"),
    ],
)
def test_malformed_events_are_refused_with_the_reason(mutate: object, reason: str) -> None:
    event = make_prediction(1)
    mutate(event)  # type: ignore[operator]
    with pytest.raises(InvalidEventError, match=reason):
        parse_event(orjson.dumps(event))


def test_a_batch_splits_into_events_and_dead_letters() -> None:
    good = [orjson.dumps(make_prediction(i)) for i in range(3)]
    values = [good[0], b"\xff not json", good[1], b'{"specversion": "1.0"}', good[2]]
    records = [Record(value=v, key=b"credit", partition=1, offset=10 + i, topic="t") for i, v in enumerate(values)]
    batch = parse_records(records)
    assert [e.data.request_id for e in batch.events] == ["req-0", "req-1", "req-2"]
    assert [d.position for d in batch.dead_letters] == ["t/1@11", "t/1@13"]
    assert "not JSON" in batch.dead_letters[0].reason
    assert batch.dead_letters[1].payload == '{"specversion": "1.0"}'
