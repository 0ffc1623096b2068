"""How events travel on the bus: many CloudEvents per message, in the JSON batch format.

A bus message's value is either one event in CloudEvents' structured JSON mode (``{...}``,
media type ``application/cloudevents+json``) or several in the JSON Event Format's batch format
(``[{...}, {...}]``, ``application/cloudevents-batch+json``). The publisher packs the events of
one model (the message key) into batch messages of at most ``events_per_message`` events and
``message_max_bytes`` bytes; consumers tell the two apart by the first byte and read both.

Why batches: a Kafka record costs the producer a fixed ~10 µs of Python (aiokafka's send,
partitioner, accumulator, futures) and the consumer as much to decode, whatever its size, and an
embedded-bus row costs an SQLite insert. At one event per message that fixed cost was most of
what telemetry took from the scoring process (docs/benchmarks.md, "Scoring with telemetry on vs
off"); at hundreds of events per message it is negligible. ``events_per_message = 1`` gives one
structured-mode event per message, for consumers that expect exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from driftloop.telemetry.bus.base import Message

EVENT_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json; charset=UTF-8"


def is_batch(value: bytes) -> bool:
    """Whether a message value is a JSON array of events (the batch format)."""
    return value.lstrip()[:1] == b"["


def decode(value: bytes) -> list[dict[str, Any]]:
    """The events of a message value as plain dicts, for consumers that want no validation
    (the forwarder validates with driftloop.telemetry.parse)."""
    decoded = orjson.loads(value)
    return decoded if isinstance(decoded, list) else [decoded]


def content_type(message: Message) -> str:
    return BATCH_CONTENT_TYPE if message.events > 1 else EVENT_CONTENT_TYPE


def pack(parts: Iterable[Message], events_per_message: int, max_bytes: int) -> list[Message]:
    """Encoded parts -> bus messages, one key per message, each key's order kept.

    A part is a JSON array of ``events`` events of one key (the publisher encodes a chunk of each
    model's events in one call). A message holds at most ``events_per_message`` events and, unless
    one part is larger, ``max_bytes`` bytes. A message of one event is that event alone
    (structured mode).
    """
    by_key: dict[bytes | None, list[Message]] = {}
    for part in parts:
        by_key.setdefault(part.key, []).append(part)
    messages: list[Message] = []
    for key, keyed in by_key.items():
        bodies: list[bytes] = []
        events = 0
        size = 2  # the brackets
        for part in keyed:
            body = part.value[1:-1]
            if bodies and (events + part.events > events_per_message or size + len(body) + 1 > max_bytes):
                messages.append(_message(key, bodies, events))
                bodies, events, size = [], 0, 2
            bodies.append(body)
            events += part.events
            size += len(body) + 1
        if bodies:
            messages.append(_message(key, bodies, events))
    return messages


def _message(key: bytes | None, bodies: list[bytes], events: int) -> Message:
    if events == 1:
        return Message(key, bodies[0], 1)
    return Message(key, b"[" + b",".join(bodies) + b"]", events)
