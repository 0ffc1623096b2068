"""The control plane on FastAPI: V2 server and model metadata, health, the admin reload, /metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from driftloop import __version__
from driftloop.errors import NotFoundError
from driftloop.http.health import ReadinessLog

from .auth import KeyChecker
from .endpoints import model_version
from .readiness import model_is_ready, readiness
from .service import ScoringService
from .v2 import model_metadata
from .v2_binary import EXTENSION as BINARY_EXTENSION

SERVER_NAME = "driftloop-scoring"
log = logging.getLogger(__name__)


def control_router(service: ScoringService, keys: KeyChecker, admin: KeyChecker) -> APIRouter:
    router = APIRouter()
    protect_metrics = service.settings.auth.protect_metrics

    def require_key(request: Request) -> None:
        keys.check(request.headers.raw)

    def require_admin(request: Request) -> None:
        admin.check(request.headers.raw)

    api_key = [Depends(require_key)]
    readiness_log = ReadinessLog(log, "scoring")
    admin_token = [Depends(require_admin)]

    @router.get("/v2", tags=["v2"], summary="Server metadata")
    async def server_metadata() -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": [BINARY_EXTENSION]}

    @router.get("/v2/health/live", tags=["health"], summary="Liveness")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @router.get("/v2/health/ready", tags=["health"], summary="Readiness: every model loaded and warmed up, bus started")
    async def ready() -> Response:
        # The V2 protocol: 200 means ready, anything else not; the body says why (readiness.py).
        return readiness_log.observe(readiness(service)).response()

    @router.get("/v2/models/{name}/ready", tags=["health"], summary="Model readiness")
    @router.get("/v2/models/{name}/versions/{version}/ready", tags=["health"], summary="Model version readiness")
    async def model_ready(name: str, version: str | None = None) -> Response:
        ok = model_is_ready(service, name, version)
        return JSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 400)

    @router.get(
        "/v2/models/{name}", tags=["v2"], summary="Model metadata (one input tensor per column)", dependencies=api_key
    )
    @router.get(
        "/v2/models/{name}/versions/{version}", tags=["v2"], summary="Model version metadata", dependencies=api_key
    )
    async def metadata(name: str, version: str | None = None) -> dict[str, Any]:
        runtime = await service.store.get(name, model_version(version))
        return model_metadata(runtime, service.store.registry.versions(name))

    @router.get("/v1/models", tags=["v1"], summary="Models served and their versions", dependencies=api_key)
    async def models() -> dict[str, Any]:
        served = []
        for name in service.store.names():
            runtime = service.store.champions.get(name)
            served.append({"name": name, "version": runtime.version if runtime else None, "ready": runtime is not None})
        return {"models": served}

    @router.post(
        "/v1/models/{name}/reload",
        tags=["admin"],
        summary="Swap in the current champion (admin token)",
        dependencies=admin_token,
    )
    async def reload(name: str) -> dict[str, Any]:
        if name not in service.store.names():
            raise NotFoundError(f"model {name!r} is not in the registry")
        result = await service.store.reload(name)
        return {
            "model": result.model,
            "version": result.version,
            "previous_version": result.previous_version,
            "outcome": result.outcome,
        }

    @router.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        if protect_metrics:
            keys.check(request.headers.raw)
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
