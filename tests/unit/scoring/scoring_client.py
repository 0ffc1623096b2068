"""In-process clients of the scoring app and a reader of its telemetry bus (shared by the unit tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from driftloop.telemetry.bus import open_consumer
from driftloop.telemetry.wire import decode
from driftloop_scoring.settings import ScoringSettings


async def started_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client with the app's lifespan run around it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            yield client


async def bus_events(settings: ScoringSettings) -> list[dict[str, Any]]:
    """Every event on the app's embedded bus (read after the app stopped, so the publisher flushed)."""
    consumer = open_consumer(settings.bus, group="scoring-tests")
    await consumer.start()
    try:
        events: list[dict[str, Any]] = []
        while batch := await consumer.poll(1000, 50):
            events.extend(event for record in batch for event in decode(record.value))
        return events
    finally:
        await consumer.stop()
