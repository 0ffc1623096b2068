"""The telemetry-forwarder service: the consume-and-store loop in the background, health and metrics.

It is a consumer, not an API: ``/healthz`` says whether the loop runs (and the bus consumer
started), ``/metrics`` exposes lag, rows written, batch latency and dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from driftloop import __version__
from driftloop.store import make_engine, upgrade
from driftloop.telemetry.bus import open_consumer
from driftloop_forwarder.core import Forwarder
from driftloop_forwarder.settings import ForwarderSettings

logger = logging.getLogger(__name__)


def create_app(settings: ForwarderSettings | None = None) -> FastAPI:
    settings = settings or ForwarderSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.store)
        if settings.store.migrate_on_start:
            await asyncio.to_thread(upgrade, engine)
        consumer = open_consumer(settings.bus)
        await consumer.start()
        forwarder = Forwarder(consumer, engine, settings.forward, poll_timeout_ms=settings.bus.poll_timeout_ms)
        task = asyncio.create_task(forwarder.run(), name="forwarder")
        app.state.forwarder = forwarder
        app.state.task = task
        logger.info("forwarding %s to the store", settings.bus.url.split("?")[0])
        try:
            yield
        finally:
            forwarder.stop()
            await task
            await consumer.stop()
            engine.dispose()

    app = FastAPI(title="driftloop forwarder", version=__version__, lifespan=lifespan)
    app.state.settings = settings

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        task: asyncio.Task[None] | None = getattr(app.state, "task", None)
        if task is None or task.done():
            return JSONResponse({"status": "down"}, status_code=503)
        stats = app.state.forwarder.stats
        return JSONResponse({"status": "ok", "records": stats.records, "lag": stats.lag})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
