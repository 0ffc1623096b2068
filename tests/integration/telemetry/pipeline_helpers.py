"""Helpers of the telemetry integration tests: topics, sample traffic, waiting for counts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from driftloop.telemetry.events import feedback_event, prediction_event, rejected_event
from driftloop.telemetry.settings import BusSettings

MODELS = ("credit", "churn", "fraud", "limits", "pricing", "collections")


def kafka_settings(bootstrap: str, topic: str, spill: Any, **overrides: Any) -> BusSettings:
    fields: dict[str, Any] = {
        "url": f"kafka://{bootstrap}/{topic}",
        "spill_path": spill,
        "linger_ms": 2,
        "send_timeout_s": 2.0,
        "retry_backoff_s": 0.2,
        "retry_backoff_max_s": 1.0,
        "poll_timeout_ms": 100,
    }
    return BusSettings(**{**fields, **overrides})


def prediction(i: int, records: int = 2) -> dict[str, Any]:
    return prediction_event(
        "it",
        model=MODELS[i % len(MODELS)],
        version=1,
        request_id=f"req-{i}",
        records=[{"income": float(i), "city": "x"}] * records,
        predictions=[i % 2] * records,
        probabilities=[[0.3, 0.7]] * records,
        class_labels=[0, 1],
        latency_ms=0.8,
    )


def feedback(i: int) -> dict[str, Any]:
    return feedback_event(
        "it", model=MODELS[i % len(MODELS)], request_id=f"req-{i}", record_index=None, actual=1, known_request=True
    )


def rejected(i: int) -> dict[str, Any]:
    return rejected_event(
        "it", model="credit", version=1, request_id=f"bad-{i}", status=422, error={"code": "invalid_input"}, body="{}"
    )


async def wait_until(condition: Callable[[], Any], what: str, within_s: float = 60.0) -> None:
    """Poll a condition (a count in a database, a counter) until it holds; fail naming it after ``within_s``."""
    deadline = time.monotonic() + within_s
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
