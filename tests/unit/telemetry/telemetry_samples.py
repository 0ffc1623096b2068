"""Sample events and helpers of the telemetry tests (imported by name: the test directory is on sys.path)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from driftloop.telemetry.bus import open_consumer
from driftloop.telemetry.events import feedback_event, prediction_event, rejected_event
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import decode


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


async def read_all(settings: BusSettings, group: str = "reader") -> list[str]:
    """Request ids of every event on the bus, in bus order."""
    consumer = open_consumer(settings, group)
    await consumer.start()
    ids: list[str] = []
    while records := await consumer.poll(1000, 50):
        ids.extend(event["data"]["request_id"] for r in records for event in decode(r.value))
    await consumer.stop()
    return ids


async def until(condition: Callable[[], bool]) -> None:
    """Let the publisher's sender run until the condition holds (fails after 10 s)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - the stats have no event to wait on: poll them
            await asyncio.sleep(0.005)
