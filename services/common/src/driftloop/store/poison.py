"""Storing a batch that may hold poison: an event the store refuses is parked, the rest is stored.

``write_batch`` stores a batch in one transaction, so one event whose data the database refuses
(a record index beyond 32 bits, NUL in a JSON string, a name longer than its column) fails all
of them, every time the batch is read again. :func:`store_batch` classifies the failure
(store/failures.py): a *database* error is raised for the caller to retry with backoff; a *data*
error is searched for by bisection (halves are written in transactions of their own, down to
the one event that fails alone), each such event is parked in ``dead_letters`` with the reason
and the event as JSON, and everything else is stored. Every write is idempotent by key, so a
database error in the middle of a bisection loses nothing: the caller retries the whole batch
and what was already committed is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from driftloop.store.failures import Failure, classify
from driftloop.store.writer import WriteResult, write_batch
from driftloop.telemetry.parse import MAX_DEAD_LETTER_PAYLOAD, DeadLetter, ParsedBatch, ParsedEvent

# Where an event came from on the bus (``topic/partition@offset#index``), for its dead letter.
Locate = Callable[[ParsedEvent], str]


class DatabaseWriteError(Exception):
    """A write failed because of the database (connection, disk, shutdown, ...): retry the batch."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


@dataclass
class StoreOutcome:
    result: WriteResult
    """Rows offered per table; ``dead_letters`` counts the parse's and the store's."""
    stored: ParsedBatch
    """The events that were stored (the poisoned ones left out) and the parse's dead letters."""
    poisoned: list[DeadLetter] = field(default_factory=list)
    """Events the store refused because of their data, as they were parked."""


def store_batch(engine: Engine, batch: ParsedBatch, locate: Locate) -> StoreOutcome:
    """Store ``batch``, parking the events whose data the store refuses; raises DatabaseWriteError."""
    try:
        return StoreOutcome(write_batch(engine, batch), batch)
    except Exception as exc:  # classified: only the data's errors are handled here
        failure = _raise_unless_data(exc)
    result = WriteResult()
    stored: list[ParsedEvent] = []
    poisoned: list[DeadLetter] = []

    def attempt(events: list[ParsedEvent]) -> None:
        try:
            _add(result, write_batch(engine, ParsedBatch(events=events)))
        except Exception as exc:
            isolate(events, _raise_unless_data(exc))
        else:
            stored.extend(events)

    def isolate(events: list[ParsedEvent], failure: Failure) -> None:
        """``events`` failed together with ``failure``: write each half alone, recurse into the failing."""
        if len(events) == 1:
            reason = f"the store refused this event: {failure.reason}"
            poisoned.append(DeadLetter(position=locate(events[0]), reason=reason, payload=event_json(events[0])))
            return
        middle = len(events) // 2
        attempt(events[:middle])
        attempt(events[middle:])

    if batch.dead_letters:  # the failure may not be the events': write them without the parse's letters
        attempt(batch.events)
    elif batch.events:
        isolate(batch.events, failure)
    letters = [*batch.dead_letters, *poisoned]
    if letters:
        try:
            _add(result, write_batch(engine, ParsedBatch(dead_letters=letters)))
        except Exception as exc:  # dead letters are made storable (writer.batch_rows): this is the database
            raise DatabaseWriteError(classify(exc)) from exc
    return StoreOutcome(result, ParsedBatch(events=stored, dead_letters=batch.dead_letters), poisoned)


def event_json(event: ParsedEvent) -> str:
    """The event as JSON, ASCII-escaped so that NUL and lone surrogates survive as text."""
    document = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time.isoformat(),
        "data": event.data.model_dump(by_alias=True),
    }
    return json.dumps(document, ensure_ascii=True, default=str)[:MAX_DEAD_LETTER_PAYLOAD]


def _raise_unless_data(exc: Exception) -> Failure:
    failure = classify(exc)
    if failure.kind != "data":
        raise DatabaseWriteError(failure) from exc
    return failure


def _add(total: WriteResult, part: WriteResult) -> None:
    total.predictions += part.predictions
    total.feedback += part.feedback
    total.rejected += part.rejected
    total.dead_letters += part.dead_letters
