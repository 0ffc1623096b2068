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

import struct
from collections.abc import Iterable, Sequence
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

    A part is a message already: one event (``events == 1``, a JSON object) or a JSON array of
    ``events`` events of one key. A message holds at most ``events_per_message`` events and, unless
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
            body = part.value if part.events == 1 else part.value[1:-1]
            if bodies and (events + part.events > events_per_message or size + len(body) + 1 > max_bytes):
                messages.append(_message(key, bodies, events))
                bodies, events, size = [], 0, 2
            bodies.append(body)
            events += part.events
            size += len(body) + 1
        if bodies:
            messages.append(_message(key, bodies, events))
    return messages


def pack_events(key: bytes | None, values: list[bytes], events_per_message: int, max_bytes: int) -> list[Message]:
    """``pack`` for single encoded events of one key (the relay's flush), with the same bounds: sizes
    are summed per message in C, and only a message that would pass ``max_bytes`` is cut event by
    event."""
    messages: list[Message] = []
    start = 0
    while start < len(values):
        end = min(start + events_per_message, len(values))
        if 2 + sum(map(len, values[start:end])) + (end - start) > max_bytes:
            end, size = start + 1, 3 + len(values[start])  # the first event goes even if larger
            while end < len(values) and end - start < events_per_message:
                size += len(values[end]) + 1
                if size > max_bytes:
                    break
                end += 1
        messages.append(_message(key, values[start:end], end - start))
        start = end
    return messages


def _message(key: bytes | None, bodies: list[bytes], events: int) -> Message:
    if events == 1:
        return Message(key, bodies[0], 1)
    if len(bodies) == 1:
        return Message(key, b"[" + bodies[0] + b"]", events)
    # b"[" + b",".join(bodies) + b"]" copies every byte three times; bracketing the two ends first, once.
    return Message(key, b",".join([b"[" + bodies[0], *bodies[1:-1], bodies[-1] + b"]"]), events)


# Messages as a byte stream (the spill file, the pipe to the relay process): each one framed as
# <key length><value length><events><key><value>, three big-endian uint32, no key = 0xFFFFFFFF.
FRAME_HEADER = struct.Struct(">III")
NO_KEY = 0xFFFFFFFF


def frame_size(message: Message) -> int:
    return FRAME_HEADER.size + (len(message.key) if message.key else 0) + len(message.value)


def frames(messages: Sequence[Message]) -> bytes:
    chunks: list[bytes] = []
    for key, value, events in messages:
        chunks.append(FRAME_HEADER.pack(NO_KEY if key is None else len(key), len(value), events))
        if key:
            chunks.append(key)
        chunks.append(value)
    return b"".join(chunks)


def unframe(data: bytes | bytearray, start: int = 0) -> tuple[list[Message], int]:
    """The whole frames in ``data`` from ``start`` and the offset just past the last of them (a
    torn frame at the end is left for the caller to complete or discard). A header that counts
    no events ends the frames: a message carries one at least, and an outbox segment
    (driftloop.telemetry.outbox) is zeros after its last frame."""
    messages: list[Message] = []
    offset = start
    with memoryview(data) as view:  # released on return, so that a bytearray can be trimmed after
        while offset + FRAME_HEADER.size <= len(view):
            key_len, value_len, events = FRAME_HEADER.unpack_from(view, offset)
            if not events:
                break
            key_size = 0 if key_len == NO_KEY else key_len
            end = offset + FRAME_HEADER.size + key_size + value_len
            if end > len(view):
                break
            body = offset + FRAME_HEADER.size
            key = None if key_len == NO_KEY else bytes(view[body : body + key_size])
            messages.append(Message(key, bytes(view[body + key_size : end]), events))
            offset = end
    return messages, offset
