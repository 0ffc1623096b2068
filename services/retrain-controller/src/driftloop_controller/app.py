"""The retrain-controller's HTTP API: thin routes over ``Controller`` (see docs/controller.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from driftloop import __version__
from driftloop.errors import DriftloopError
from driftloop.http import NO_FASTAPI_DOCS, KeyChecker, install_edge, json_error
from driftloop.registry import Registry
from driftloop.store.engine import make_engine
from driftloop.store.migrate import upgrade
from driftloop_controller.controller import Controller
from driftloop_controller.dashboard import dashboard_reader, dashboard_router
from driftloop_controller.handoff import PipelineReport
from driftloop_controller.metrics import WEBHOOKS
from driftloop_controller.openapi import controller_document
from driftloop_controller.read_api import read_router
from driftloop_controller.settings import ControllerSettings


class PromoteBody(BaseModel):
    version: int = Field(ge=1)
    """The version to make champion."""
    reason: str = Field(default="promoted by an operator", max_length=500)


class RollbackBody(BaseModel):
    reason: str = Field(default="rolled back by an operator", max_length=500)


def _controller(request: Request) -> Controller:
    controller: Controller = request.app.state.controller
    return controller


def _render_error(request: Request, exc: DriftloopError) -> Response:
    if request.url.path == "/v1/retrain":
        WEBHOOKS.labels(exc.code).inc()
    return json_error(request, exc)


ControllerDep = Annotated[Controller, Depends(_controller)]


def create_app(settings: ControllerSettings | None = None) -> FastAPI:
    settings = settings or ControllerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            engine = make_engine(settings.store)
            stack.callback(engine.dispose)
            if settings.store.migrate_on_start:
                upgrade(engine)
            app.state.controller = await stack.enter_async_context(Controller(settings, engine))
            yield

    app = FastAPI(title="driftloop retrain-controller", version=__version__, lifespan=lifespan, **NO_FASTAPI_DOCS)
    app.state.settings = settings
    # State changes take the admin token; reads (jobs, versions, the dashboard, the OpenAPI
    # document) the dashboard's token; the webhook is signed instead (controller.submit).
    Admin = Depends(KeyChecker([settings.auth.admin_token]))
    reader = dashboard_reader(settings)
    Reader = Depends(reader)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/retrain", status_code=202)
    async def retrain(request: Request, controller: ControllerDep) -> JSONResponse:
        submitted = controller.submit(await request.body(), request.headers)
        job = submitted.job
        answer = "queued" if submitted.created else "coalesced" if submitted.coalesced else "existing"
        WEBHOOKS.labels(answer).inc()
        body = {
            "job_id": job.id,
            "state": job.state,
            "created": submitted.created,
            "coalesced": submitted.coalesced,
            "job": job.to_dict(),
        }
        # Accepted (202) whenever a job is working on it, new or joined; 200 for a repeated idempotency key.
        return JSONResponse(body, status_code=200 if not (submitted.created or submitted.coalesced) else 202)

    @app.get("/v1/jobs", dependencies=[Reader])
    async def list_jobs(controller: ControllerDep, model: str | None = None) -> dict[str, Any]:
        return {"jobs": [job.to_dict() for job in controller.jobs.recent(model)]}

    @app.get("/v1/jobs/{job_id}", dependencies=[Reader])
    async def get_job(job_id: str, controller: ControllerDep) -> dict[str, Any]:
        return controller.job(job_id).to_dict()

    @app.post("/v1/jobs/{job_id}/cancel", dependencies=[Admin])
    async def cancel_job(job_id: str, controller: ControllerDep) -> dict[str, Any]:
        return controller.cancel(job_id).to_dict()

    @app.post("/v1/jobs/{job_id}/pipeline-run", dependencies=[Admin])
    async def report_pipeline_run(job_id: str, body: PipelineReport, controller: ControllerDep) -> dict[str, Any]:
        # The retrain pipeline the job was handed to reports its end (handoff.py).
        return controller.report_pipeline_run(job_id, body).to_dict()

    @app.get("/v1/models/{name}/versions", dependencies=[Reader])
    async def versions(name: str, controller: ControllerDep) -> dict[str, Any]:
        return controller.versions(name)

    @app.post("/v1/models/{name}/promote", dependencies=[Admin])
    async def promote(name: str, body: PromoteBody, controller: ControllerDep) -> dict[str, Any]:
        return await controller.promote(name, body.version, body.reason)

    @app.post("/v1/models/{name}/rollback", dependencies=[Admin])
    async def rollback(name: str, controller: ControllerDep, body: RollbackBody | None = None) -> dict[str, Any]:
        return await controller.rollback(name, (body or RollbackBody()).reason)

    app.include_router(dashboard_router())
    app.include_router(read_router())
    registry = Registry(settings.registry.path)
    install_edge(
        app,
        keys=reader,
        max_body_bytes=settings.limits.max_body_bytes,
        document=lambda authorized: controller_document(app, registry, with_models=authorized),
        render=_render_error,
    )
    return app
