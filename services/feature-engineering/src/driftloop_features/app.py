"""The feature-engineering service: engineered features for batch consumers, and training sets.

Routes are thin: the transform (``transform.Transformer``) and the datasets (``datasets.Datasets``)
know nothing about HTTP. Dataset materialisation is synchronous work (pandas, Parquet), so it
runs in a worker thread and the event loop stays free for health checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from driftloop import __version__
from driftloop.errors import DriftloopError, InvalidInputError
from driftloop.registry import Registry
from driftloop.store import make_engine, upgrade
from driftloop_features import metrics
from driftloop_features.datasets import Datasets
from driftloop_features.settings import FeaturesSettings
from driftloop_features.strategy import DatasetRequest
from driftloop_features.transform import Transformer

logger = logging.getLogger(__name__)


class TransformRequest(BaseModel):
    model: str = Field(min_length=1)
    """Model whose champion's contract and derived features apply."""
    records: list[Any] = Field(min_length=1, max_length=100_000)
    """Raw records, one JSON object each."""


def create_app(settings: FeaturesSettings | None = None) -> FastAPI:
    settings = settings or FeaturesSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.store)
        if settings.store.migrate_on_start:
            await asyncio.to_thread(upgrade, engine)
        registry = Registry(settings.registry.path)
        app.state.transformer = Transformer(registry, settings.features.definitions)
        app.state.datasets = Datasets(
            registry,
            engine,
            settings.features.sources,
            settings.features.datasets_dir,
            settings.features.gate,
            settings.features.strategy,
        )
        logger.info("feature-engineering ready; datasets in %s", settings.features.datasets_dir)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(title="driftloop features", version=__version__, lifespan=lifespan)
    app.state.settings = settings

    @app.post("/v1/transform")
    async def transform(body: TransformRequest, request: Request) -> dict[str, Any]:
        with metrics.timed("transform"):
            result: dict[str, Any] = await asyncio.to_thread(
                request.app.state.transformer.transform, body.model, body.records
            )
        metrics.TRANSFORMED_RECORDS.labels(body.model).inc(len(body.records))
        return result

    @app.post("/v1/datasets", status_code=201)
    async def create_dataset(body: DatasetRequest, request: Request) -> dict[str, Any]:
        began = time.perf_counter()
        try:
            manifest: dict[str, Any] = await asyncio.to_thread(request.app.state.datasets.create, body)
        except DriftloopError as exc:
            # An unknown model is counted under one label: requests must not mint metric series.
            metrics.DATASETS.labels("unknown" if exc.status_code == 404 else body.model, exc.code).inc()
            raise
        metrics.DATASETS.labels(body.model, "ready").inc()
        metrics.LATENCY.labels("datasets").observe(time.perf_counter() - began)
        return manifest

    @app.get("/v1/datasets/{dataset_id}")
    async def get_dataset(dataset_id: str, request: Request) -> dict[str, Any]:
        manifest: dict[str, Any] = request.app.state.datasets.get(dataset_id)
        return manifest

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        ready = hasattr(request.app.state, "datasets")
        return JSONResponse({"status": "ok" if ready else "starting"}, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(DriftloopError)
    async def driftloop_error(_request: Request, exc: DriftloopError) -> JSONResponse:
        if exc.status_code >= 500:
            logger.error("request failed: %s", exc.message)
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        # Unknown paths and wrong methods in the same error shape as everything else.
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": {"code": code, "message": str(exc.detail)}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(map(str, e["loc"][1:])), "reason": e["msg"]} for e in exc.errors()]
        error = InvalidInputError("the request does not have the expected shape", details=problems)
        return await driftloop_error(request, error)

    return app
