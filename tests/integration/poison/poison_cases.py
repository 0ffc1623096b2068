"""The known poisons: events (or raw bus messages) that the store refused and that once stopped the forwarder.

Each case is what reaches the bus, and what each store does with it: ``"stored"`` when the
database can hold it, otherwise the words its dead letter's reason must contain. They are put on
the bus as a producer made them (a scoring service from before the bounds of docs/scoring.md,
or a foreign producer), so the forwarder must survive them whatever the edge does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from driftloop.telemetry.events import feedback_event, prediction_event, rejected_event


def good_prediction(i: int, model: str = "credit") -> dict[str, Any]:
    return prediction_event(
        "poison-test",
        model=model,
        version=1,
        request_id=f"req-{i}",
        records=[{"income": float(i), "city": "paris"}, {"income": float(i) + 0.5, "city": "lyon"}],
        predictions=[i % 2, (i + 1) % 2],
        probabilities=[[0.4, 0.6], [0.7, 0.3]],
        class_labels=[0, 1],
        latency_ms=1.25,
    )


def good_feedback(i: int) -> dict[str, Any]:
    return feedback_event(
        "poison-test", model="credit", request_id=f"req-{i}", record_index=0, actual=1, known_request=True
    )


def _feedback_with_huge_record_index() -> dict[str, Any]:
    # Answered 200 by the scoring service before its bounds: the largest unsigned 64-bit integer.
    event = good_feedback(10_001)
    event["data"]["record_index"] = 18446744073709551615
    return event


def _prediction_with_nul_in_a_category() -> dict[str, Any]:
    event = good_prediction(10_002)
    event["data"]["records"][0]["city"] = "pa\x00ris"
    return event


def _rejected_with_a_long_model_name() -> dict[str, Any]:
    # A 404 for an unknown model, recorded as refused with the whole name from the URL.
    event = rejected_event(
        "poison-test",
        model="unknown",
        version=None,
        request_id="req-404",
        status=404,
        error={"code": "not_found", "message": "model is not served here"},
        body=b"{}",
    )
    event["data"]["model"] = "m" * 250
    return event


def _prediction_that_parses_but_cannot_be_stored() -> dict[str, Any]:
    # Built by hand: valid to the parser, but a latency below zero has no place on the rollup's log scale.
    event = good_prediction(10_004)
    event["data"]["latency_ms"] = -3.0
    return event


def _lone_surrogate_message() -> bytes:
    # A foreign producer's event with an unpaired surrogate escape: orjson cannot even write one.
    event = orjson.dumps(good_feedback(10_005)).replace(b'"req-10005"', b'"req-\\ud800"')
    assert b"\\ud800" in event
    return event


@dataclass(frozen=True)
class Case:
    name: str
    sqlite: str
    """"stored", or words that the dead letter's reason has on SQLite."""
    postgresql: str
    event: dict[str, Any] | None = None
    """An event published through the publisher (packed with good events in a JSON batch)."""
    raw: bytes | None = None
    """Or bytes written to the bus as one message of their own."""

    def expected(self, backend: str) -> str:
        return self.sqlite if backend == "sqlite" else self.postgresql


CASES = [
    Case(
        "record_index beyond 64 bits",
        sqlite="OverflowError",
        postgresql="NumericValueOutOfRange (22003)",
        event=_feedback_with_huge_record_index(),
    ),
    Case(
        "NUL in a category",
        sqlite="stored",
        postgresql="UntranslatableCharacter (22P05)",
        event=_prediction_with_nul_in_a_category(),
    ),
    Case(
        "250-character model name",
        sqlite="stored",
        postgresql="StringDataRightTruncation (22001)",
        event=_rejected_with_a_long_model_name(),
    ),
    Case(
        "garbage that parses but cannot be stored",
        sqlite="ValueError: math domain error",
        postgresql="ValueError: math domain error",
        event=_prediction_that_parses_but_cannot_be_stored(),
    ),
    Case("lone surrogate", sqlite="not JSON", postgresql="not JSON", raw=_lone_surrogate_message()),
    Case(
        "NUL bytes that are not JSON",
        sqlite="not JSON",
        postgresql="not JSON",
        raw=b"\x00\x01garbage\x00",
    ),
]
