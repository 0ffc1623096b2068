"""The telemetry events: CloudEvents 1.0, structured mode, JSON.

Schema version 1 (``data.schema``), documented in docs/telemetry.md. One event per request,
not per record: a batch of 1,000 records costs the scoring path one dict, and the forwarder
stores one row per record keyed by ``(event id, record index)``.

``driftloop.prediction`` data::

    {"schema": 1, "model": str, "version": int, "request_id": str,
     "records": [{column: value, ...}, ...],         # the raw records as received
     "predictions": [label or value, ...],            # one per record
     "probabilities": [[p, ...], ...] | None,         # classifiers: one row per record, class order
     "class_labels": [label, ...] | None,
     "latency_ms": float,                             # time spent answering the request
     "unseen": [{"record": i, "column": c, "reason": "category" | "range"}, ...],
     "event_time": time | [time, ...]}                # optional: when the records happened

``driftloop.feedback`` data::

    {"schema": 1, "model": str, "request_id": str, "record_index": int | None,
     "actual": label or value, "known_request": bool,
     "event_time": time}                              # optional: when the label became known

``event_time`` is the request's own value, checked by driftloop.eventtime and carried as sent (no
formatting on the scoring path): a time is an RFC 3339 / ISO 8601 string or Unix seconds, one for
all the records or a list of one per record; absent, the event's ``time`` (when scoring answered,
or took the feedback) is the event time. The field is optional, so the schema version stays 1: a
consumer that does not know it reads every record at the envelope's time.

``driftloop.rejected`` data::

    {"schema": 1, "model": str, "version": int | None, "request_id": str,
     "status": int, "error": {"code", "message", "details"}, "body": str (at most 4 KiB)}

The event ``id`` is made once, when the event is created (:func:`driftloop.ids.new_id`: a
random per-process prefix and a counter, unique across processes): a retried delivery carries
the same id, so every consumer deduplicates by it. Events are built on the scoring path, so
building one costs about a microsecond: no UUID object, and the timestamp's seconds part is
formatted once per second.
"""

from __future__ import annotations

import time
from typing import Any

from driftloop.ids import new_id
from driftloop.telemetry.bounds import MAX_NAME, storable_json, storable_text

SPEC_VERSION = "1.0"
SCHEMA_VERSION = 1
PREDICTION = "driftloop.prediction"
FEEDBACK = "driftloop.feedback"
REJECTED = "driftloop.rejected"
EVENT_TYPES = (PREDICTION, FEEDBACK, REJECTED)
MAX_REJECTED_BODY = 4096

Event = dict[str, Any]


_second: tuple[int, str] = (-1, "")
_MILLIS = tuple(f".{millis:03d}Z" for millis in range(1000))  # a format spec per event costs ~1 µs


def timestamp(now: float) -> str:
    """RFC 3339, UTC, milliseconds: ``2026-11-27T12:00:00.123Z``."""
    global _second
    millis = int(now * 1000)
    seconds = millis // 1000
    if _second[0] != seconds:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return _second[1] + _MILLIS[millis % 1000]


def new_event(event_type: str, source: str, data: dict[str, Any], *, event_id: str | None = None) -> Event:
    """A CloudEvent with a fresh unique id and the current time; ``data`` gets the schema version."""
    data["schema"] = SCHEMA_VERSION
    return {
        "specversion": SPEC_VERSION,
        "id": event_id or new_id(),
        "source": source,
        "type": event_type,
        "time": timestamp(time.time()),
        "datacontenttype": "application/json",
        "data": data,
    }


def prediction_event(
    source: str,
    *,
    model: str,
    version: int,
    request_id: str,
    records: list[dict[str, Any]],
    predictions: list[Any],
    probabilities: list[list[float]] | None,
    class_labels: list[Any] | None,
    latency_ms: float,
    unseen: list[dict[str, Any]] | None = None,
    event_time: Any = None,
) -> Event:
    # Built in one expression rather than through new_event: this runs once per scoring request.
    event: Event = {
        "specversion": SPEC_VERSION,
        "id": new_id(),
        "source": source,
        "type": PREDICTION,
        "time": timestamp(time.time()),
        "datacontenttype": "application/json",
        "data": {
            "schema": SCHEMA_VERSION,
            "model": model,
            "version": version,
            "request_id": request_id,
            "records": records,
            "predictions": predictions,
            "probabilities": probabilities,
            "class_labels": class_labels,
            "latency_ms": latency_ms,
            "unseen": unseen or [],
        },
    }
    if event_time is not None:  # absent unless the client said when: the envelope's time is the event time
        event["data"]["event_time"] = event_time
    return event


def feedback_event(
    source: str,
    *,
    model: str,
    request_id: str,
    record_index: int | None,
    actual: Any,
    known_request: bool,
    event_time: str | float | None = None,
) -> Event:
    data: dict[str, Any] = {
        "model": model,
        "request_id": request_id,
        "record_index": record_index,
        "actual": actual,
        "known_request": known_request,
    }
    if event_time is not None:
        data["event_time"] = event_time
    return new_event(FEEDBACK, source, data)


def rejected_event(
    source: str,
    *,
    model: str,
    version: int | None,
    request_id: str,
    status: int,
    error: dict[str, Any],
    body: bytes | str,
) -> Event:
    """A refused request, recorded whatever it held: the model name (from the URL, so any text) is cut
    to what the store holds and, like the error and the body, has NUL and lone surrogates replaced
    by U+FFFD (driftloop.telemetry.bounds), so that the event can always be stored."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return new_event(
        REJECTED,
        source,
        {
            "model": storable_text(model, MAX_NAME),
            "version": version,
            "request_id": storable_text(request_id, MAX_NAME),
            "status": status,
            "error": storable_json(error),
            "body": storable_text(text[:MAX_REJECTED_BODY]),
        },
    )
