"""Event time: when a record happened, as its client says (docs/telemetry.md, "Event time").

One module for every place that reads one: the v1 predict request's ``event_time``, the V2 infer
request's ``parameters.event_time``, a feedback item's ``event_time``, and the prediction and
feedback events on the bus. A value is an RFC 3339 / ISO 8601 string (with an offset or ``Z``; a
time without an offset is UTC) or Unix seconds (a JSON number); inside driftloop it is Unix
seconds, a float (within a microsecond up to the year 2200, and within 0.1 ms up to 9999).

The range is what every store holds: Python's ``datetime`` (years 1 to 9999), which SQLite's
text timestamps are written from, is narrower than PostgreSQL's ``timestamptz``. A value outside
it, not finite, a boolean, or a list of the wrong length is refused with an error naming the field
(``event_time``, ``event_time[3]``, ``parameters.event_time``) and the reason.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from driftloop.errors import InvalidInputError

MIN_SECONDS = -62_135_596_800.0
"""0001-01-01T00:00:00Z."""
MAX_SECONDS = 253_402_300_800.0
"""10000-01-01T00:00:00Z, excluded."""
MAX_TEXT = 64
"""Longer text is no timestamp: refused before it is parsed."""

FORMS = "an RFC 3339 / ISO 8601 time such as 2026-11-27T12:00:00Z, or Unix seconds"
RANGE_REASON = "is outside the years 1 to 9999 (UTC), more than the telemetry store can hold"


class BadEventTime(ValueError):
    """One value that is not an event time; the message is the reason."""


class InvalidEventTimeError(InvalidInputError):
    """A request whose event time cannot be used; ``details`` name the field and the reason."""

    code = "invalid_event_time"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", details=[{"field": field, "reason": reason}])
        self.field = field
        self.reason = reason


def seconds_of(value: Any) -> float:
    """Unix seconds of one event time value; raises BadEventTime with the reason."""
    kind = type(value)
    if kind is float or kind is int:
        try:
            seconds = float(value)
        except OverflowError:
            raise BadEventTime(RANGE_REASON) from None
        if not math.isfinite(seconds):
            raise BadEventTime("is not a finite number")
    elif kind is str:
        seconds = _parse_text(value)
    else:
        shown = "a boolean" if kind is bool else "null" if value is None else f"a {kind.__name__}"
        raise BadEventTime(f"expected {FORMS}, got {shown}")
    if not MIN_SECONDS <= seconds < MAX_SECONDS:
        raise BadEventTime(RANGE_REASON)
    return seconds


def _parse_text(text: str) -> float:
    if len(text) > MAX_TEXT:
        raise BadEventTime(f"expected {FORMS}, got text of {len(text)} characters")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        detail = "" if str(exc).startswith("Invalid isoformat") else f" ({exc})"
        raise BadEventTime(f"{text[:40]!r} is not {FORMS}{detail}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):  # an offset that moves year 1 or 9999 out of the calendar
        raise BadEventTime(RANGE_REASON) from None


def parse_request_time(value: Any, records: int, field: str = "event_time") -> float | list[float] | None:
    """A request's event time: one value for every record, or a list of one value per record;
    None (absent or null): the server's clock.

    Raises InvalidEventTimeError naming ``field`` (or ``field[i]``) and the reason.
    """
    if value is None:
        return None
    if type(value) is not list:
        try:
            return seconds_of(value)
        except BadEventTime as exc:
            raise InvalidEventTimeError(field, str(exc)) from None
    if len(value) != records:
        raise InvalidEventTimeError(
            field, f"has {len(value)} values for {records} records: give one value, or one per record"
        )
    if len(value) >= VECTOR_FROM and _all_numbers_in_range(value):
        return value  # plain numbers: the values are their own Unix seconds
    times = []
    for index, item in enumerate(value):
        try:
            times.append(seconds_of(item))
        except BadEventTime as exc:
            raise InvalidEventTimeError(f"{field}[{index}]", str(exc)) from None
    return times


VECTOR_FROM = 32
"""Lists at least this long are checked by numpy first when they are all numbers (a fifth of the
time of one by one on 1,000 values); shorter ones one by one, which is faster there."""
_NUMBER_TYPES = {float, int}


def _all_numbers_in_range(values: list[Any]) -> bool:
    """Whether every value is a plain number (no bool: ``type``, not ``isinstance``) in range; False
    sends the list through the one-by-one path, which names the first bad value."""
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return False
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:
        return False
    return bool(((array >= MIN_SECONDS) & (array < MAX_SECONDS)).all())  # NaN compares false


def read_event_value(value: Any, records: int | None, field: str) -> float | list[float]:
    """The event time of an event read off the bus (a string or number, or a list of them, one per
    record); raises BadEventTime naming the field, which makes the event a dead letter."""
    try:
        if records is not None and type(value) is list:
            return parse_request_time(value, records, field)  # type: ignore[return-value]
        return seconds_of(value)
    except InvalidEventTimeError as exc:
        raise BadEventTime(exc.message) from None
    except BadEventTime as exc:
        raise BadEventTime(f"{field}: {exc}") from None


def to_datetime(seconds: float) -> datetime:
    """An aware UTC datetime (the store's ``time`` columns) from Unix seconds."""
    return datetime.fromtimestamp(seconds, UTC)
