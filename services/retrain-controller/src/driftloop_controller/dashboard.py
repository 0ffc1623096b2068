"""``/dashboard``: the per-model dashboard page and the JSON aggregates behind each chart (read-only).

The aggregates are ``driftloop.report`` (SQL over the store, plus the registry's history), the
same as ``driftloop report`` writes into a static file. With ``DRIFTLOOP_DASHBOARD__TOKEN`` set,
every route but the Plotly asset needs it: ``Authorization: Bearer <token>`` or ``?token=`` (a
browser cannot set a header when it opens a page; the page passes it on as a header).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from driftloop.errors import NotFoundError
from driftloop.http import KeyChecker
from driftloop.report import CHARTS, ReportData, parse_time, plotly_js_path, render_page
from driftloop_controller.settings import ControllerSettings


def dashboard_reader(settings: ControllerSettings) -> KeyChecker:
    """The dashboard token, as a header or ``?token=``: the dashboard, /v1/jobs and the OpenAPI document."""
    return KeyChecker([settings.dashboard.token], query_param="token")


def _token(
    request: Request,
    token: Annotated[str | None, Query(description="The dashboard token, for opening the page in a browser.")] = None,
) -> str:
    """The configured token, once the request has shown it (empty when none is configured): the page passes it on."""
    settings: ControllerSettings = request.app.state.settings
    dashboard_reader(settings)(request)
    return settings.dashboard.token


def _data(request: Request) -> ReportData:
    controller = request.app.state.controller
    return ReportData(controller.jobs.engine, controller.registry, controller.policy)


Token = Annotated[str, Depends(_token)]
Data = Annotated[ReportData, Depends(_data)]
Since = Annotated[str | None, Query(description="ISO 8601 time or a duration back from now (15m, 6h, 7d).")]
Until = Annotated[str | None, Query(description="ISO 8601 time (default: the last prediction).")]


def dashboard_router() -> APIRouter:
    """Every route but the Plotly asset behind the dashboard token (:func:`dashboard_reader`)."""
    router = APIRouter(prefix="/dashboard", tags=["dashboard"])

    @router.get("", include_in_schema=False)
    def index(request: Request, data: Data, token: Token) -> Response:
        models = data.models()
        if not models:
            return HTMLResponse("<!doctype html><title>driftloop</title><p>No models in the registry yet.</p>")
        query = f"?token={quote(token)}" if token else ""
        return RedirectResponse(f"{_root(request)}/models/{models[0]}{query}")

    @router.get("/models/{name}", response_class=HTMLResponse)
    def page(name: str, request: Request, data: Data, token: Token) -> HTMLResponse:
        """The dashboard of one model."""
        if name not in data.models():
            raise NotFoundError(f"model {name!r} is not in the registry", details={"field": "name"})
        root = _root(request)
        config = {"model": name, "root": root, "api": f"{root}/api", "token": token, "models": data.models()}
        return HTMLResponse(render_page(f"driftloop: {name}", config, plotly_src=f"{root}/assets/plotly.min.js"))

    @router.get("/assets/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        # Library code, no data: served without the token so that browsers may cache it.
        return FileResponse(
            plotly_js_path(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    @router.get("/api/models")
    def models(data: Data, _: Token) -> dict[str, Any]:
        return {"models": data.models(), "charts": list(CHARTS)}

    @router.get("/api/models/{name}/{chart}")
    def chart(name: str, chart: str, data: Data, _: Token, since: Since = None, until: Until = None) -> dict[str, Any]:
        """One chart's aggregates: volume, latency, predictions, drift, columns, performance or timeline."""
        rng = data.time_range(name, parse_time(since, "since"), parse_time(until, "until"))
        return {"model": name, "chart": chart, **data.chart(chart, name, rng)}

    return router


def _root(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/dashboard"
