"""Event time values: the forms a client may send, the range every store holds, and errors that name the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from driftloop.eventtime import (
    MAX_SECONDS,
    MIN_SECONDS,
    BadEventTime,
    InvalidEventTimeError,
    parse_request_time,
    read_event_value,
    seconds_of,
    to_datetime,
)

NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T12:00:00Z", NOON),
        ("2026-11-27T12:00:00+00:00", NOON),
        ("2026-11-27T13:30:00+01:30", NOON),
        ("2026-11-27T12:00:00", NOON),  # no offset: UTC
        ("2026-11-27 12:00:00.250Z", NOON + 0.25),
        (NOON, NOON),
        (int(NOON), NOON),
        (0, 0.0),
        (-1.5, -1.5),  # before 1970 is a time too
        ("0001-01-01T00:00:00Z", MIN_SECONDS),
        ("9999-12-31T23:59:59Z", MAX_SECONDS - 1),
    ],
)
def test_the_accepted_forms_give_unix_seconds(value: object, expected: float) -> None:
    assert seconds_of(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "got a boolean"),
        (None, "got null"),
        ({"t": 1}, "got a dict"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (10**400, "outside the years 1 to 9999"),
        (MAX_SECONDS, "outside the years 1 to 9999"),
        (MIN_SECONDS - 1, "outside the years 1 to 9999"),
        ("0001-01-01T00:30:00+01:00", "outside the years 1 to 9999"),  # year 0 in UTC
        ("2026-11-27T25:00:00Z", "hour must be in 0..23"),
        ("yesterday", "'yesterday' is not an RFC 3339 / ISO 8601 time"),
        ("1795780800", "is not an RFC 3339 / ISO 8601 time"),  # Unix seconds are a number, not text
        ("2" * 65, "text of 65 characters"),
    ],
)
def test_a_bad_value_says_why(value: object, reason: str) -> None:
    with pytest.raises(BadEventTime, match="^.*" + reason.replace("(", r"\(").replace(".", r"\.")):
        seconds_of(value)


def test_a_request_gives_one_time_or_one_per_record() -> None:
    assert parse_request_time(None, 3) is None
    assert parse_request_time("2026-11-27T12:00:00Z", 3) == NOON
    assert parse_request_time([NOON, "2026-11-27T12:00:01Z", int(NOON) + 2], 3) == [NOON, NOON + 1, NOON + 2]


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ("noon", "event_time", "'noon' is not"),
        ([NOON, NOON], "event_time", "has 2 values for 3 records"),
        ([NOON, NOON, NOON, NOON], "event_time", "has 4 values for 3 records"),
        ([NOON, NOON, False], "event_time[2]", "got a boolean"),
        ([NOON, "x", NOON], "event_time[1]", "'x' is not"),
        ([NOON, [NOON], NOON], "event_time[1]", "got a list"),
    ],
)
def test_a_bad_request_time_names_its_field(value: object, field: str, reason: str) -> None:
    with pytest.raises(InvalidEventTimeError) as raised:
        parse_request_time(value, 3)
    error = raised.value
    assert error.status_code == 422
    assert error.field == field
    assert reason in error.reason
    assert error.details == [{"field": field, "reason": error.reason}]
    assert error.message.startswith(f"{field}: ")


def test_the_field_name_is_the_callers() -> None:
    with pytest.raises(InvalidEventTimeError) as raised:
        parse_request_time([NOON, "x"], 2, "parameters.event_time")
    assert raised.value.field == "parameters.event_time[1]"


def test_an_event_reads_back_what_the_request_sent() -> None:
    assert read_event_value("2026-11-27T12:00:00.5Z", 2, "event_time") == NOON + 0.5
    assert read_event_value(NOON, 2, "event_time") == NOON
    assert read_event_value([NOON, "2026-11-27T12:00:01Z"], 2, "event_time") == [NOON, NOON + 1]
    with pytest.raises(BadEventTime, match=r"^event_time\[1\]: expected .*, got a boolean$"):
        read_event_value([NOON, True], 2, "event_time")
    with pytest.raises(BadEventTime, match=r"^event_time: has 1 values for 2 records"):
        read_event_value([NOON], 2, "event_time")
    with pytest.raises(BadEventTime, match=r"^event_time: expected .*, got a list$"):
        read_event_value([NOON], None, "event_time")  # feedback: one value


@pytest.mark.parametrize(
    ("bad", "reason"),
    [(True, "got a boolean"), (float("nan"), "not a finite number"), (10**400, "outside"), (1e300, "outside")],
)
def test_long_lists_of_numbers_take_the_fast_check_and_still_name_the_bad_one(bad: object, reason: str) -> None:
    values = [NOON + i for i in range(99)]
    assert parse_request_time(values, 99) == values
    with pytest.raises(InvalidEventTimeError) as raised:
        parse_request_time([*values[:50], bad, *values[50:]], 100)
    assert raised.value.field == "event_time[50]"
    assert reason in raised.value.reason


def test_the_whole_range_converts_to_the_stores_datetimes() -> None:
    assert to_datetime(MIN_SECONDS) == datetime(1, 1, 1, tzinfo=UTC)
    assert to_datetime(MAX_SECONDS - 1) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert to_datetime(NOON).tzinfo is UTC
