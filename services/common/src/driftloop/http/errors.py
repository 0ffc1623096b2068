"""One error shape for every service: ``{"error": {"code", "message", "details"?}}``.

:func:`install_error_handlers` maps everything a FastAPI app can raise onto it:

- a :class:`~driftloop.errors.DriftloopError` keeps its status and code;
- Starlette's own refusals (unknown path, wrong method, and the edge's 413 and 415 raised while a
  body is read) get the code of their status;
- a request that does not parse into a route's model is a 422 ``invalid_input`` whose details name
  each field (dotted path, without FastAPI's ``body``/``query`` prefix) and the reason;
- anything else is a bug: logged with its stack, answered 500 ``internal_error`` in the same shape
  (never Starlette's ``text/plain`` "Internal Server Error").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from driftloop.errors import DriftloopError, InvalidInputError

log = logging.getLogger(__name__)

Render = Callable[[Request, DriftloopError], Response | Awaitable[Response]]

_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
INTERNAL_MESSAGE = "internal error: the request was not processed; the service log has the details"


class HttpError(DriftloopError):
    """A refusal of Starlette's or of the edge's, carried as a DriftloopError so that one renderer draws it."""

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = _CODES.get(status_code, "http_error")
        self.headers = headers


def json_error(_request: Request, exc: DriftloopError) -> Response:
    """The error as JSON, with ``WWW-Authenticate`` on a 401 (RFC 9110) and Starlette's headers (``Allow``)."""
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers or None)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "records", 3)`` -> ``"records.3"``; ``("query", "since")`` -> ``"since"``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(map(str, parts)) or "body"


def validation_error(exc: RequestValidationError) -> InvalidInputError:
    problems = [{"field": field_path(e["loc"]), "reason": e["msg"]} for e in exc.errors()]
    first = problems[0] if problems else {"field": "body", "reason": "invalid"}
    message = f"invalid request: {first['field']}: {first['reason']}"
    return InvalidInputError(message, details=problems[:20])


def install_error_handlers(app: FastAPI, render: Render = json_error) -> None:
    """Every error of ``app`` rendered by ``render`` (default: :func:`json_error`)."""

    async def draw(request: Request, exc: DriftloopError) -> Response:
        response = render(request, exc)
        return await response if isinstance(response, Awaitable) else response

    async def driftloop_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DriftloopError)
        if exc.status_code >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return await draw(request, exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return await draw(request, HttpError(exc.status_code, str(exc.detail), exc.headers))

    async def request_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return await draw(request, validation_error(exc))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return await draw(request, DriftloopError(INTERNAL_MESSAGE))

    app.add_exception_handler(DriftloopError, driftloop_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_error)
    app.add_exception_handler(Exception, unexpected)
