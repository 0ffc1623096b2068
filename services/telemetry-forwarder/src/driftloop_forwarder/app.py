"""The telemetry-forwarder service: the consume-and-store loop in the background, health and metrics.

It is a consumer, not an API: ``/healthz`` says whether the loop runs, commits and keeps up
(health.py), ``/metrics`` exposes lag, rows written, batch latency and dead letters, and the drift
windows, firings and webhook deliveries of ``DriftWatch`` (drift_watch.py) when drift is enabled.
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
from driftloop.drift.reference import registry_references
from driftloop.drift.stage import DriftStage
from driftloop.http import NO_FASTAPI_DOCS, KeyChecker, install_edge
from driftloop.policy import load_policy
from driftloop.registry import Registry
from driftloop.store import make_engine, upgrade
from driftloop.telemetry.bus import open_consumer
from driftloop_forwarder.core import Forwarder, tune_collector
from driftloop_forwarder.drift_watch import DriftStats, DriftWatch, FiringOutbox
from driftloop_forwarder.settings import ForwarderSettings

logger = logging.getLogger(__name__)


def create_app(settings: ForwarderSettings | None = None) -> FastAPI:
    settings = settings or ForwarderSettings()

    # Validated now: a wrong policy file stops the service at start with the rule and field named.
    policy = load_policy(settings.policy or settings.drift.rules or None) if settings.drift.enabled else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            engine = make_engine(settings.store)
            stack.callback(engine.dispose)
            if settings.store.migrate_on_start:
                await asyncio.to_thread(upgrade, engine)
            consumer = open_consumer(settings.bus)
            await consumer.start()
            stack.push_async_callback(consumer.stop)
            stopping = asyncio.Event()
            timer: asyncio.Task[None] | None = None
            watch: DriftWatch | None = None
            if policy is not None:
                stats = DriftStats()
                outbox = await stack.enter_async_context(FiringOutbox(engine, settings.webhook, stats))
                references = registry_references(Registry(settings.registry.path))
                stage = DriftStage(policy, references, label_memory=settings.drift.label_memory)
                watch = DriftWatch(engine, stage, outbox, stats, idle_close_s=settings.drift.idle_close_s)
                await watch.start()
                stack.push_async_callback(watch.stop)  # first out: queued batches finish, firings are sent
                interval = min(settings.drift.flush_interval_s, settings.drift.retrain_poll_s)
                timer = asyncio.create_task(watch.run_timer(interval, stopping), name="drift-timer")
            forwarder = Forwarder(
                consumer,
                engine,
                settings.forward,
                poll_timeout_ms=settings.bus.poll_timeout_ms,
                sinks=[watch] if watch is not None else [],
            )
            forwarder.health.export()
            tune_collector(settings.forward.gc_gen0_threshold)
            task = asyncio.create_task(forwarder.run(), name="forwarder")
            app.state.forwarder = forwarder
            app.state.drift = watch
            app.state.task = task
            logger.info("forwarding %s to the store", settings.bus.url.split("?")[0])
            try:
                yield
            finally:
                forwarder.stop()
                stopping.set()
                await task
                if timer is not None:
                    await timer

    app = FastAPI(title="driftloop forwarder", version=__version__, lifespan=lifespan, **NO_FASTAPI_DOCS)
    # Its routes read health and metrics only: the edge's errors and offline docs, no credentials.
    install_edge(app, keys=KeyChecker([]), max_body_bytes=settings.limits.max_body_bytes)
    app.state.settings = settings

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        task: asyncio.Task[None] | None = getattr(app.state, "task", None)
        if task is None or task.done():
            return JSONResponse({"status": "down"}, status_code=503)
        forwarder: Forwarder = app.state.forwarder
        verdict = forwarder.health.verdict()
        stats = forwarder.stats
        body: dict[str, object] = {
            **verdict.summary(),
            "records": stats.records,
            "events": stats.events,
            "lag": stats.lag,
            "dead_letters": stats.dead_letters,
            "store_errors": {"data": stats.data_errors, "database": stats.database_errors},
        }
        watch: DriftWatch | None = app.state.drift
        if watch is not None:
            body["drift"] = {
                "windows": watch.stats.windows,
                "alarms": watch.stats.alarms,
                "firings": watch.stats.firings,
                "errors": watch.stats.errors,
            }
        return JSONResponse(body, status_code=200 if verdict.healthy else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
