"""The scoring service application: ``create_app(settings=None) -> FastAPI``.

Nothing happens at import time. The lifespan starts the telemetry publisher, loads and warms up
every served model, and starts the registry watcher; on shutdown the watcher is cancelled and
awaited, then the publisher stops last so that it flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from driftloop import __version__, metrics_workers
from driftloop.errors import DriftloopError
from driftloop.http import NO_FASTAPI_DOCS, install_edge, json_error
from driftloop.logging import configure_logging
from driftloop.registry import Registry
from driftloop.telemetry.publisher import EventPublisher, Publisher
from driftloop.telemetry.relay import RelayPublisher

from .auth import KeyChecker
from .endpoints import DataPlaneRoutes, InferenceEndpoint, inference_endpoints, v2_error_body, v2_status
from .grpc.server import GrpcServer
from .metrics import ScoringMetrics
from .models import ModelStore
from .openapi import scoring_document
from .routes import control_router
from .service import ScoringService
from .settings import ScoringSettings

METRICS_REFRESH_S = 1.0
"""Several workers: how old another worker's scrape-time gauges (buffer depth) may be."""

DESCRIPTION = (
    "Scores records with the champion ONNX model of each served name; REST (v1) and the Open Inference Protocol (V2)."
)


class ScoringApp(FastAPI):
    """FastAPI with the data plane answered before FastAPI's per-request machinery (endpoints.DataPlaneRoutes).

    The inference endpoints answer every error themselves, so they need none of its exception
    or telemetry middleware; the control routes keep all of it.
    """

    def __init__(self, endpoints: dict[str, InferenceEndpoint], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_plane = DataPlaneRoutes(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.data_plane.match(scope)
        if endpoint is not None:
            await endpoint(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()
    configure_logging("scoring", settings.log.level, settings.log.json_logs)
    metrics = ScoringMetrics()
    store = ModelStore(
        Registry(settings.registry.path),
        names=settings.registry.model_names,
        limits=settings.limits,
        metrics=metrics,
        pinned_capacity=settings.registry.pinned_versions,
    )
    service = ScoringService(settings, store, metrics)
    keys = KeyChecker(settings.auth.api_key_list)
    admin = KeyChecker([settings.auth.admin_token.get_secret_value()])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if settings.telemetry:
                publisher: Publisher = (
                    RelayPublisher(settings.bus, service.source, json_logs=settings.log.json_logs)
                    if settings.bus.relay
                    else EventPublisher(settings.bus, service.source)
                )
                await publisher.start()
                stack.push_async_callback(publisher.stop)  # pushed first: it stops last and flushes
                service.publisher = publisher
                stack.callback(setattr, service, "publisher", None)
            await store.load_all()
            # Everything allocated so far lives as long as the process: keep it out of the
            # collector's full passes, which otherwise rescan it and lengthen tail latency.
            gc.freeze()
            if settings.registry.poll_interval_s > 0:
                watcher = asyncio.create_task(store.watch(settings.registry.poll_interval_s), name="registry-watch")
                stack.push_async_callback(_cancel, watcher)
            if metrics_workers.enabled():
                refresher = asyncio.create_task(_refresh_metrics(), name="metrics-refresh")
                stack.push_async_callback(_cancel, refresher)
            if settings.grpc_port:
                grpc_server = GrpcServer(
                    service, keys, host=settings.host, port=settings.grpc_port, workers=settings.workers
                )
                await grpc_server.start()
                stack.push_async_callback(grpc_server.stop)  # stops first: its calls finish, then events flush
            yield

    endpoints = inference_endpoints(service, keys)
    app = ScoringApp(
        endpoints,
        title="driftloop scoring",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        **NO_FASTAPI_DOCS,
    )
    app.state.settings = settings
    app.state.service = service
    # The data-plane endpoints are also routes (first in line), so the router knows them;
    # ScoringApp normally reaches them before the router is involved.
    for position, (path, endpoint) in enumerate(endpoints.items()):
        app.router.routes.insert(position, Route(path, endpoint, methods=["POST"], include_in_schema=False))
    app.include_router(control_router(service, keys, admin))
    install_edge(
        app,
        keys=keys,
        max_body_bytes=settings.limits.max_body_bytes,
        document=lambda authorized: scoring_document(app, service, with_models=authorized),
        render=_render_error,
    )
    return app


def _render_error(request: Request, exc: DriftloopError) -> Response:
    # The V2 protocol's error shape on its routes, driftloop's everywhere else.
    if request.url.path.startswith("/v2"):
        return Response(v2_error_body(exc), status_code=v2_status(exc), media_type="application/json")
    return json_error(request, exc)


async def _refresh_metrics() -> None:
    """Several workers: write this worker's scrape-time gauges every second (metrics_workers.py)."""
    while True:
        metrics_workers.refresh()
        await asyncio.sleep(METRICS_REFRESH_S)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
