"""Reading events back off the bus: validate, and turn each event into the rows the store keeps.

Consumers never crash on a bad message: :func:`parse_records` splits a batch into parsed
events and dead letters (the raw bytes, where they came from, and why they were refused).
Schema versions up to :data:`driftloop.telemetry.events.SCHEMA_VERSION` are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.events import SCHEMA_VERSION

MAX_DEAD_LETTER_PAYLOAD = 65_536


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_: int = Field(alias="schema", ge=1, le=SCHEMA_VERSION)
    model: str = Field(min_length=1)
    request_id: str = Field(min_length=1)


class PredictionData(_Data):
    version: int
    records: list[dict[str, Any]]
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    class_labels: list[Any] | None = None
    latency_ms: float
    unseen: list[dict[str, Any]] = Field(default_factory=list)


class FeedbackData(_Data):
    record_index: int | None = None
    actual: Any
    known_request: bool = True


class RejectedData(_Data):
    version: int | None = None
    status: int
    error: dict[str, Any]
    body: str = ""


class _Envelope(BaseModel):
    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=128)
    source: str
    time: datetime


class _PredictionEvent(_Envelope):
    type: Literal["driftloop.prediction"]
    data: PredictionData


class _FeedbackEvent(_Envelope):
    type: Literal["driftloop.feedback"]
    data: FeedbackData


class _RejectedEvent(_Envelope):
    type: Literal["driftloop.rejected"]
    data: RejectedData


# One pass of pydantic's JSON parser over the bytes, the event type choosing the data model
# (the forwarder parses every event, so no intermediate dicts).
_EVENT = TypeAdapter(Annotated[_PredictionEvent | _FeedbackEvent | _RejectedEvent, Field(discriminator="type")])


@dataclass(frozen=True)
class ParsedEvent:
    id: str
    source: str
    type: str
    time: datetime
    data: _Data


@dataclass(frozen=True)
class DeadLetter:
    position: str
    reason: str
    payload: str


@dataclass
class ParsedBatch:
    events: list[ParsedEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class InvalidEventError(ValueError):
    pass


def parse_event(value: bytes) -> ParsedEvent:
    """One event from its JSON bytes; raises InvalidEventError naming what is wrong."""
    try:
        envelope = _EVENT.validate_json(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise InvalidEventError(f"not JSON: {errors[0]['msg']}") from exc
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        raise InvalidEventError(problems) from exc
    data = envelope.data
    if isinstance(data, PredictionData):
        count = len(data.records)
        if len(data.predictions) != count or (data.probabilities is not None and len(data.probabilities) != count):
            raise InvalidEventError("data.predictions/probabilities do not have one entry per record")
    return ParsedEvent(id=envelope.id, source=envelope.source, type=envelope.type, time=envelope.time, data=data)


def parse_records(records: list[Record]) -> ParsedBatch:
    batch = ParsedBatch()
    for record in records:
        try:
            batch.events.append(parse_event(record.value))
        except InvalidEventError as exc:
            payload = record.value[:MAX_DEAD_LETTER_PAYLOAD].decode("utf-8", "replace")
            batch.dead_letters.append(DeadLetter(position=record.position, reason=str(exc), payload=payload))
    return batch
