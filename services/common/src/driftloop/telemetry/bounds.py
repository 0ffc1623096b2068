"""What every store can hold, checked where events are made (docs/scoring.md, "Bounds").

An event the scoring service publishes must be storable on SQLite and on PostgreSQL alike, or
the forwarder has to dead-letter it (docs/telemetry.md, "Poison"). The limits:

- names and ids (model, request id, source) are ``varchar(200)`` in the store: at most
  :data:`MAX_NAME` characters;
- a record index is an ``integer`` (32-bit signed on PostgreSQL): 0 to :data:`MAX_RECORD_INDEX`;
- text may hold neither NUL (PostgreSQL's ``text`` and ``jsonb`` refuse U+0000) nor a lone UTF-16
  surrogate (no UTF-8 encoder will write one);
- a value kept in an event may nest at most :data:`MAX_DEPTH` levels (the event must be encodable).

:func:`unstorable` finds such text anywhere in a JSON value; :func:`storable_text` and
:func:`storable_json` normalise it where a value must be recorded whatever it holds (a refused
request's model name, error and body).
"""

from __future__ import annotations

from typing import Any

MAX_NAME = 200
MAX_RECORD_INDEX = 2**31 - 1
REPLACEMENT = "\ufffd"

MAX_DEPTH = 100
"""Nesting of a value inside a record. The forwarder's parser (pydantic's) reads at most 200 levels and
orjson writes at most 254; on the bus a record sits five levels deep (batch, event, data, records, record)."""

NUL_REASON = "contains a NUL character (U+0000), which the telemetry store cannot hold"
SURROGATE_REASON = "contains an unpaired UTF-16 surrogate, which is not valid Unicode text"
DEPTH_REASON = f"is nested more than {MAX_DEPTH} levels deep, more than its telemetry event can hold"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored as it is, or None."""
    if "\x00" in text:
        return NUL_REASON
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_REASON
    return None


def unstorable(value: Any) -> str | None:
    """Why a parsed JSON value (keys included, at any depth) cannot be recorded, or None.

    Iterative, so that the deepest nesting a JSON parser accepts (orjson: 1024) cannot exhaust
    the stack.
    """
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        kind = type(item)
        if kind is str:
            if (problem := text_problem(item)) is not None:
                return problem
        elif kind is dict or kind is list:
            if depth == MAX_DEPTH:
                return DEPTH_REASON
            children = [*item.keys(), *item.values()] if kind is dict else item
            pending.extend((child, depth + 1) for child in children)
    return None


def storable_text(text: str, limit: int | None = None) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD, cut to ``limit`` characters."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # Through UTF-16: a high and low surrogate that follow each other become the one
            # character they encode, and only truly unpaired ones are replaced.
            text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text if limit is None else text[:limit]


def storable_json(value: Any) -> Any:
    """A copy of a JSON value whose every string (keys too) went through :func:`storable_text`."""
    kind = type(value)
    if kind is str:
        return storable_text(value)
    if kind is dict:
        return {storable_text(str(k)): storable_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [storable_json(item) for item in value]
    return value
