"""Read APIs: a model's drift windows, one window's statistics, and its rule firings (read-only).

Behind the dashboard's token (``DRIFTLOOP_DASHBOARD__TOKEN``, the same check as ``/dashboard``'s
JSON API), so whoever may look at the charts may read the numbers behind them. The SQL is in
``driftloop.store.drift_read``; docs/controller.md ("Read APIs") describes the documents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Engine

from driftloop.errors import InvalidInputError, NotFoundError
from driftloop.report import parse_time
from driftloop.store import drift_read
from driftloop_controller.dashboard import Token

MAX_LIMIT = 1000

WINDOW_EXAMPLE: dict[str, Any] = {
    "model": "credit",
    "version": 1,
    "index": 6,
    "start": "2026-12-03T10:04:10.512000Z",
    "end": "2026-12-03T10:04:31.087000Z",
    "rows": 1000,
    "drift_share": 0.0625,
    "label_coverage": 0.94,
    "columns": {
        "income": {"drifted": True, "score": 0.21, "threshold": 0.2, "n": 1000},
        "age": {"drifted": False, "score": 0.03, "threshold": 0.2, "n": 1000},
    },
    "predictions": {"drifted": False, "score": 0.05, "threshold": 0.2, "n": 1000},
    "performance": {
        "labelled": 940,
        "label_coverage": 0.94,
        "metrics": {"roc_auc": 0.47, "log_loss": 0.81, "accuracy": 0.61},
        "degradation": {"roc_auc": 0.37},
    },
}
FIRING_EXAMPLE: dict[str, Any] = {
    "id": "5f0c3c1e9a7b4d2f8e6a1b0c9d8e7f6a",
    "rule": "performance-drop",
    "action": "retrain",
    "statistic": "performance_drop",
    "threshold": 0.15,
    "consecutive": 2,
    "version": 1,
    "window": {"index": 6, "start": "2026-12-03T10:04:10Z", "end": "2026-12-03T10:04:31Z", "rows": 1000},
    "fired_at": "2026-12-03T10:04:31.087000Z",
    "recorded_at": "2026-12-03T10:04:31.402000Z",
    "evidence": [{"column": "__performance__", "statistic": "roc_auc_degradation", "value": 0.37, "threshold": 0.15}],
    "delivery": {"status": "delivered", "attempts": 1, "http_status": 202, "error": None, "finished_at": "..."},
    "job": {
        "id": "275e3636c1f04f4e9a0d3b8f7c6e5d4a",
        "state": "succeeded",
        "trigger": "drift:performance-drop",
        "created_at": "2026-12-03T10:04:31.390000Z",
        "finished_at": "2026-12-03T10:04:50.118000Z",
        "challenger_version": 2,
        "decision": "promoted",
        "error": None,
    },
}


def _error(code: str, message: str, field: str) -> dict[str, Any]:
    body = {"error": {"code": code, "message": message, "details": {"field": field}}}
    return {"description": message, "content": {"application/json": {"example": body}}}


NOT_FOUND = _error("not_found", "model 'churn' is not in the registry", "name")
BAD_QUERY = {
    "description": "A query parameter is malformed; ``details`` names it.",
    "content": {
        "application/json": {
            "example": {
                "error": {
                    "code": "invalid_input",
                    "message": "invalid request: limit",
                    "details": [{"field": "limit", "message": "Input should be greater than or equal to 1"}],
                }
            }
        }
    },
}
UNAUTHORIZED = _error("unauthorized", "the dashboard needs its token", "authorization")

ModelName = Annotated[str, Path(description="The model's name in the registry.", examples=["credit"])]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many, newest first.")]
Since = Annotated[
    str | None,
    Query(description="Window end at or after: ISO 8601 time or a duration back from now (15m, 6h, 7d)."),
]
Until = Annotated[str | None, Query(description="Window end at or before: ISO 8601 time.")]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.controller.jobs.engine
    return engine


def _known_model(request: Request, name: str) -> None:
    if not request.app.state.controller.registry.versions(name):
        raise NotFoundError(f"model {name!r} is not in the registry", details={"field": "name"})


def _range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is not None and end is not None and end < start:
        raise InvalidInputError("until must not be before since", details={"field": "until"})
    return start, end


def read_router() -> APIRouter:
    router = APIRouter(prefix="/v1/models/{name}", tags=["drift"])

    @router.get(
        "/windows",
        responses={
            200: {"content": {"application/json": {"example": {"model": "credit", "windows": [WINDOW_EXAMPLE]}}}},
            401: UNAUTHORIZED,
            404: NOT_FOUND,
            422: BAD_QUERY,
        },
    )
    def list_windows(
        request: Request,
        name: ModelName,
        _: Token,
        version: Annotated[int | None, Query(ge=1, description="Only this version's windows.")] = None,
        since: Since = None,
        until: Until = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        """The model's closed drift windows, newest first: rows, drift share, each column's verdict,
        the predictions' verdict, and the performance on the window's labelled records."""
        _known_model(request, name)
        start, end = _range(since, until)
        found = drift_read.windows(_engine(request), name, version=version, since=start, until=end, limit=limit)
        return {"model": name, "windows": found}

    @router.get(
        "/windows/{version}/{index}",
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {
                            **WINDOW_EXAMPLE,
                            "statistics": {
                                "income": {
                                    "psi": 0.21,
                                    "ks": 0.12,
                                    "ks_pvalue": 1e-9,
                                    "wasserstein": 0.3,
                                    "drift_score": 0.21,
                                    "drifted": 1.0,
                                }
                            },
                        }
                    }
                }
            },
            401: UNAUTHORIZED,
            404: _error("not_found", "window 9 of credit@1 is not in the store", "index"),
            422: BAD_QUERY,
        },
    )
    def one_window(
        request: Request,
        name: ModelName,
        _: Token,
        version: Annotated[int, Path(ge=1, description="The model version.")],
        index: Annotated[int, Path(ge=0, description="The window's number in the version's sequence.")],
    ) -> dict[str, Any]:
        """One window with every statistic of every column (``statistics``) besides its summary."""
        _known_model(request, name)
        found = drift_read.window(_engine(request), name, version, index)
        if found is None:
            raise NotFoundError(f"window {index} of {name}@{version} is not in the store", details={"field": "index"})
        return found

    @router.get(
        "/firings",
        responses={
            200: {"content": {"application/json": {"example": {"model": "credit", "firings": [FIRING_EXAMPLE]}}}},
            401: UNAUTHORIZED,
            404: NOT_FOUND,
            422: BAD_QUERY,
        },
    )
    def list_firings(
        request: Request,
        name: ModelName,
        _: Token,
        since: Annotated[
            str | None, Query(description="Fired at or after (the windows' clock): ISO 8601 time or 15m, 6h, 7d.")
        ] = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        """The model's rule firings, newest first: rule, action, window, evidence, the webhook's
        delivery (retrain rules; ``pending`` until it ends) and the retrain job it led to."""
        _known_model(request, name)
        start = parse_time(since, "since")
        return {"model": name, "firings": drift_read.firings(_engine(request), name, since=start, limit=limit)}

    return router
