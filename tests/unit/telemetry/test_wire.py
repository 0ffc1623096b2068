"""Many events per bus message: packing keeps each model's order and the bounds; both forms parse back."""

from __future__ import annotations

import orjson
from telemetry_samples import make_feedback, make_prediction

from driftloop.telemetry.bus.base import Message, Record
from driftloop.telemetry.parse import parse_records
from driftloop.telemetry.publisher import encode_event
from driftloop.telemetry.wire import (
    BATCH_CONTENT_TYPE,
    EVENT_CONTENT_TYPE,
    content_type,
    decode,
    frames,
    is_batch,
    pack,
    pack_events,
    unframe,
)


def encode(event: dict[str, object]) -> Message:
    """One event as a part, the way the publisher hands events to pack."""
    return encode_event(event)


def encoded(count: int, model: str = "credit") -> list[Message]:
    return [encode(make_prediction(i, model=model)) for i in range(count)]


def test_events_are_packed_per_model_in_order_within_the_count_bound() -> None:
    mixed = [pair for i in range(10) for pair in (encoded(1, "credit")[0], encoded(1, "churn")[0])]
    for i, (key, value, count) in enumerate(mixed):  # distinct request ids, to check the order
        mixed[i] = Message(key, value.replace(b'"req-0"', f'"req-{i}"'.encode()), count)
    messages = pack(mixed, events_per_message=4, max_bytes=1 << 20)
    assert [m.key for m in messages] == [b"credit"] * 3 + [b"churn"] * 3
    assert [m.events for m in messages] == [4, 4, 2, 4, 4, 2]
    credit = [e["data"]["request_id"] for m in messages if m.key == b"credit" for e in decode(m.value)]
    assert credit == [f"req-{i}" for i in range(0, 20, 2)]
    assert all(len(decode(m.value)) == m.events for m in messages)


def test_the_byte_bound_splits_messages_and_a_large_event_still_goes_alone() -> None:
    events = encoded(12)
    size = len(events[0].value)
    messages = pack(events, events_per_message=500, max_bytes=3 * size + 10)
    assert [m.events for m in messages] == [3, 3, 3, 3]
    assert all(len(m.value) <= 3 * size + 10 for m in messages)
    huge = pack(encoded(2), events_per_message=500, max_bytes=size // 2)
    assert [m.events for m in huge] == [1, 1]


def test_parts_of_several_events_are_merged_into_one_array() -> None:
    events = [make_prediction(i) for i in range(7)]
    parts = [Message(b"credit", orjson.dumps(events[:4]), 4), Message(b"credit", orjson.dumps(events[4:]), 3)]
    (message,) = pack(parts, events_per_message=500, max_bytes=1 << 20)
    assert message.events == 7
    assert [e["data"]["request_id"] for e in decode(message.value)] == [f"req-{i}" for i in range(7)]
    assert [m.events for m in pack(parts, events_per_message=5, max_bytes=1 << 20)] == [4, 3]


def test_one_event_is_sent_in_structured_mode_and_more_as_a_json_batch() -> None:
    single, batch = pack(encoded(1), 500, 1 << 20)[0], pack(encoded(3), 500, 1 << 20)[0]
    assert not is_batch(single.value)
    assert orjson.loads(single.value)["specversion"] == "1.0"
    assert content_type(single) == EVENT_CONTENT_TYPE
    assert is_batch(batch.value)
    assert content_type(batch) == BATCH_CONTENT_TYPE
    assert len(orjson.loads(batch.value)) == 3


def test_a_batch_with_bad_events_dead_letters_only_those() -> None:
    good = [make_prediction(i) for i in range(3)]
    broken = make_feedback(9)
    broken["data"].pop("model")
    value = orjson.dumps([good[0], broken, good[1], {"no": "event"}, good[2]])
    batch = parse_records([Record(value=value, key=b"credit", partition=2, offset=7, topic="t")])
    assert [e.data.request_id for e in batch.events] == ["req-0", "req-1", "req-2"]
    assert [d.position for d in batch.dead_letters] == ["t/2@7#1", "t/2@7#3"]
    assert "model" in batch.dead_letters[0].reason
    assert orjson.loads(batch.dead_letters[1].payload) == {"no": "event"}


def test_a_batch_that_is_not_json_is_one_dead_letter_and_a_mixed_valid_one_parses_whole() -> None:
    broken = parse_records([Record(value=b"[{not json", key=None, partition=0, offset=1, topic="t")])
    assert (len(broken.events), [d.position for d in broken.dead_letters]) == (0, ["t/0@1"])
    assert "not JSON" in broken.dead_letters[0].reason
    value = pack([*encoded(50), encode(make_feedback(1))], 500, 1 << 20)[0].value
    parsed = parse_records([Record(value=value, key=b"credit", partition=0, offset=2, topic="t")])
    assert (len(parsed.events), parsed.dead_letters) == (51, [])
    assert parsed.events[-1].type == "driftloop.feedback"


def test_framed_messages_read_back_whole_and_a_torn_frame_waits_for_the_rest() -> None:
    messages = [*pack(encoded(3), 500, 1 << 20), Message(None, b"{}", 1), Message(b"", b"[1,2]", 2)]
    stream = frames(messages)
    assert unframe(stream) == (messages, len(stream))
    torn = stream + frames(messages[:1])[:-5]
    assert unframe(torn) == (messages, len(stream))
    assert unframe(bytearray(torn), start=len(stream)) == ([], len(stream))


def test_pack_events_matches_pack_for_single_events_of_one_key() -> None:
    events = encoded(12)
    values = [m.value for m in events]
    size = len(values[0])
    for per_message, max_bytes in ((500, 1 << 20), (5, 1 << 20), (500, 3 * size + 10), (500, size // 2)):
        assert pack_events(b"credit", values, per_message, max_bytes) == pack(events, per_message, max_bytes)
