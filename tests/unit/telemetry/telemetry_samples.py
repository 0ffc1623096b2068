"""Sample events for the telemetry tests (imported by name: the test directory is on sys.path)."""

from __future__ import annotations

from typing import Any

from driftloop.telemetry.events import feedback_event, prediction_event, rejected_event


def make_prediction(index: int, records: int = 1, model: str = "credit") -> dict[str, Any]:
    return prediction_event(
        "test",
        model=model,
        version=1,
        request_id=f"req-{index}",
        records=[{"income": float(index), "city": "x"} for _ in range(records)],
        predictions=[index % 2] * records,
        probabilities=[[0.25, 0.75]] * records,
        class_labels=[0, 1],
        latency_ms=1.5,
        unseen=[{"record": 0, "column": "city", "reason": "category"}],
    )


def make_feedback(index: int, record_index: int | None = None) -> dict[str, Any]:
    return feedback_event(
        "test", model="credit", request_id=f"req-{index}", record_index=record_index, actual=1, known_request=True
    )


def make_rejected(index: int) -> dict[str, Any]:
    return rejected_event(
        "test",
        model="credit",
        version=1,
        request_id=f"bad-{index}",
        status=422,
        error={"code": "invalid_input", "message": "records[0].income: not a number"},
        body=b'{"records": [{"income": "x"}]}',
    )
