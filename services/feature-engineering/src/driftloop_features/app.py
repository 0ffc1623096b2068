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

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from driftloop import __version__
from driftloop.errors import DriftloopError, PayloadTooLargeError
from driftloop.http import NO_FASTAPI_DOCS, KeyChecker, install_edge
from driftloop.registry import Registry
from driftloop.store import make_engine, upgrade
from driftloop_features import metrics
from driftloop_features.datasets import Datasets
from driftloop_features.openapi import features_document
from driftloop_features.settings import FeaturesSettings
from driftloop_features.strategy import DatasetRequest
from driftloop_features.transform import Transformer

logger = logging.getLogger(__name__)


class TransformRequest(BaseModel):
    model: str = Field(min_length=1)
    """Model whose champion's contract and derived features apply."""
    records: list[Any] = Field(min_length=1)
    """Raw records, one JSON object each (at most DRIFTLOOP_LIMITS__MAX_RECORDS)."""


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

    app = FastAPI(title="driftloop features", version=__version__, lifespan=lifespan, **NO_FASTAPI_DOCS)
    app.state.settings = settings
    keys = KeyChecker(settings.auth.api_key_list)
    api_key = [Depends(keys)]
    max_records = settings.limits.max_records

    @app.post("/v1/transform", dependencies=api_key)
    async def transform(body: TransformRequest, request: Request) -> dict[str, Any]:
        if len(body.records) > max_records:
            reason = f"has {len(body.records)} records; the limit is {max_records}"
            raise PayloadTooLargeError(f"records {reason}", details=[{"field": "records", "reason": reason}])
        with metrics.timed("transform"):
            result: dict[str, Any] = await asyncio.to_thread(
                request.app.state.transformer.transform, body.model, body.records
            )
        metrics.TRANSFORMED_RECORDS.labels(body.model).inc(len(body.records))
        return result

    @app.post("/v1/datasets", status_code=201, dependencies=api_key)
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

    @app.get("/v1/datasets/{dataset_id}", dependencies=api_key)
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

    registry = Registry(settings.registry.path)
    install_edge(
        app,
        keys=keys,
        max_body_bytes=settings.limits.max_body_bytes,
        document=lambda authorized: features_document(app, registry, settings.features.sources, with_models=authorized),
    )
    return app
