"""Reading events back off the bus: validate, and turn each event into the rows the store keeps.

Consumers never crash on a bad message: :func:`parse_records` splits a batch into parsed
events and dead letters (the raw bytes, where they came from, and why they were refused). A
message may carry one event or a JSON batch of them (driftloop.telemetry.wire); in a batch,
each event is refused on its own (position ``<topic>/<partition>@<offset>#<index>``) and the
others are stored.
Schema versions up to :data:`driftloop.telemetry.events.SCHEMA_VERSION` are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator

from driftloop.eventtime import BadEventTime, read_event_value
from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.events import SCHEMA_VERSION
from driftloop.telemetry.wire import is_batch

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
    event_time: float | list[float] | None = None
    """When the records happened, Unix seconds: one for all, or one per record; None: the envelope's time."""

    @field_validator("event_time", mode="plain")
    @classmethod
    def _event_time(cls, value: Any, info: ValidationInfo) -> float | list[float] | None:
        records = info.data.get("records")
        return _read_event_time(value, len(records) if records is not None else None)

    @property
    def event_times(self) -> list[float] | None:
        """Each record's event time (Unix seconds), or None when the event gave none."""
        if self.event_time is None or type(self.event_time) is list:
            return self.event_time  # type: ignore[return-value]
        return [self.event_time] * len(self.records)  # type: ignore[list-item]

    def record_times(self, envelope_time: datetime) -> float | np.ndarray:
        """What a drift window needs: one time for the whole request (the event's own, or the
        envelope's when it has none), or the array of its records' times."""
        if self.event_time is None:
            return envelope_time.timestamp()
        if type(self.event_time) is list:
            return np.asarray(self.event_time, dtype=np.float64)
        return self.event_time  # type: ignore[return-value]


class FeedbackData(_Data):
    record_index: int | None = None
    actual: Any
    known_request: bool = True
    event_time: float | None = None
    """When the label became known, Unix seconds; None: the envelope's time."""

    @field_validator("event_time", mode="plain")
    @classmethod
    def _event_time(cls, value: Any) -> float | None:
        return _read_event_time(value, None)  # type: ignore[return-value]


def _read_event_time(value: Any, records: int | None) -> float | list[float] | None:
    """Bounds as scoring applies them (driftloop.eventtime): a bad value makes the event a dead letter."""
    if value is None:
        return None
    try:
        return read_event_value(value, records, "event_time")
    except BadEventTime as exc:
        raise ValueError(str(exc)) from None


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
_Envelopes = _PredictionEvent | _FeedbackEvent | _RejectedEvent
_AnyEvent = Annotated[_Envelopes, Field(discriminator="type")]
_EVENT: TypeAdapter[_Envelopes] = TypeAdapter(_AnyEvent)
_BATCH: TypeAdapter[list[_Envelopes]] = TypeAdapter(list[_AnyEvent])


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
        raise _invalid(exc) from exc
    return _parsed(envelope)


def parse_records(records: list[Record]) -> ParsedBatch:
    batch = ParsedBatch()
    for record in records:
        if is_batch(record.value):
            _parse_batch(record, batch)
            continue
        try:
            batch.events.append(parse_event(record.value))
        except InvalidEventError as exc:
            batch.dead_letters.append(_dead_letter(record.position, exc, record.value))
    return batch


def _parse_batch(record: Record, batch: ParsedBatch) -> None:
    """A JSON batch of events: one pass of the parser when all are valid, else event by event."""
    try:
        batch.events.extend([_parsed(envelope) for envelope in _BATCH.validate_json(record.value)])
        return
    except (ValidationError, InvalidEventError):
        pass  # some event in it is bad: parse them one by one to refuse only those
    try:
        items = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        batch.dead_letters.append(_dead_letter(record.position, InvalidEventError(f"not JSON: {exc}"), record.value))
        return
    for index, item in enumerate(items):
        position = f"{record.position}#{index}"
        try:
            batch.events.append(_parsed(_EVENT.validate_python(item)))
        except ValidationError as exc:
            batch.dead_letters.append(_dead_letter(position, _invalid(exc), orjson.dumps(item)))
        except InvalidEventError as exc:
            batch.dead_letters.append(_dead_letter(position, exc, orjson.dumps(item)))


def _parsed(envelope: _Envelopes) -> ParsedEvent:
    data = envelope.data
    if isinstance(data, PredictionData):
        count = len(data.records)
        if len(data.predictions) != count or (data.probabilities is not None and len(data.probabilities) != count):
            raise InvalidEventError("data.predictions/probabilities do not have one entry per record")
    return ParsedEvent(id=envelope.id, source=envelope.source, type=envelope.type, time=envelope.time, data=data)


def _invalid(exc: ValidationError) -> InvalidEventError:
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return InvalidEventError(f"not JSON: {errors[0]['msg']}")
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return InvalidEventError(problems)


def _dead_letter(position: str, exc: InvalidEventError, value: bytes) -> DeadLetter:
    payload = value[:MAX_DEAD_LETTER_PAYLOAD].decode("utf-8", "replace")
    return DeadLetter(position=position, reason=str(exc), payload=payload)
