"""The bounds of driftloop.telemetry.bounds are what PostgreSQL holds: events the scoring service makes
at the bounds (and refused requests it normalises) are stored, with nothing dead-lettered.

(tests/unit/scoring/test_bounds.py drives the service itself and stores its events on SQLite.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from poison_cases import good_prediction

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.store.poison import store_batch
from driftloop.telemetry.bounds import MAX_DEPTH, MAX_NAME, MAX_RECORD_INDEX
from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.events import feedback_event, rejected_event
from driftloop.telemetry.parse import parse_records


def at_the_bounds() -> list[dict[str, Any]]:
    nested: Any = 1
    for _ in range(MAX_DEPTH):
        nested = [nested]
    deep = good_prediction(1)
    deep["data"]["records"][0]["note"] = nested  # an ignored field, kept as sent
    label = {"model": "credit", "actual": 1, "known_request": False}
    return [
        deep,
        feedback_event("t", request_id="r" * MAX_NAME, record_index=MAX_RECORD_INDEX, **label),
        feedback_event("t", request_id="req-1", record_index=0, **label),
        *(
            rejected_event("t", model=model, version=None, request_id="r", status=status, error=error, body=body)
            for model, status, error, body in [
                ("m" * 250, 404, {"code": "not_found", "message": "no such model"}, b"{}"),
                ("cr\x00edit", 404, {"code": "not_found", "message": "no such model"}, b"{}"),
                ("credit", 400, {"code": "malformed_request", "message": "not JSON"}, b'{"records": [\x00]}'),
                ("credit", 422, {"code": "invalid", "details": [{"column": "no\x00te", "reason": "x"}]}, b"{}"),
            ]
        ),
    ]


def test_events_at_the_bounds_are_stored_on_postgres(
    fresh_database: str, record_property: Callable[[str, object], None]
) -> None:
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)
    events = at_the_bounds()
    batch = parse_records([Record(orjson.dumps(events), None, 0, 0)])  # one JSON batch message: the deepest wrapping
    assert batch.dead_letters == []
    outcome = store_batch(engine, batch, lambda event: event.id)
    assert outcome.poisoned == []
    assert count_rows(engine) == {"predictions": 2, "feedback": 2, "rejected": 4, "dead_letters": 0}
    engine.dispose()
    record_property("tally", ("scoring bounds", {"events stored": len(events), "dead letters": 0}))
