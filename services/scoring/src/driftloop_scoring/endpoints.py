"""The inference routes as bare ASGI endpoints: read the body, parse it with orjson, call the core, write orjson.

FastAPI's per-request machinery (dependency resolution, pydantic models, response encoding)
costs several times what the model does (docs/scoring.md, "Performance"), so these routes skip
it. They are still routes of the FastAPI app, listed in its OpenAPI document (openapi.py).
The V2 inference route also reads and writes the binary tensor data extension (v2_binary).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from driftloop.errors import DriftloopError, InvalidInputError, NotFoundError
from driftloop.http.errors import INTERNAL_MESSAGE
from driftloop.http.limits import check_json_body, read_body
from driftloop.ids import new_id

from .auth import KeyChecker
from .errors import MalformedRequestError, PayloadTooLargeError
from .service import ScoringService
from .v2_binary import HEADER_LENGTH, encode_response, split_body

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,128}")
_JSON_HEADERS = [(b"content-type", b"application/json")]
_BINARY_TYPE = (b"content-type", b"application/octet-stream")
_HEADER_LENGTH = HEADER_LENGTH.lower().encode()
INTERNAL_ERROR = DriftloopError(INTERNAL_MESSAGE)
_INVALID = object()

# (service, model name, version, parsed JSON, binary data after it, request id, start time) -> answer
Operation = Callable[[ScoringService, str, int | None, Any, memoryview | None, str, float], Awaitable[dict[str, Any]]]


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a fresh one."""
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return new_id()


def parse_json(body: bytes) -> Any:
    """The body as JSON; ``NaN``, ``Infinity`` and ``-Infinity`` are read as floats (validation: missing)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # Python's json and tritonclient's writer emit these constants; orjson reads none of them.
        if b"NaN" in body or b"Infinity" in body:
            value = _parse_with_constants(body)
            if value is not _INVALID:
                return value
        raise MalformedRequestError(f"the body is not valid JSON: {exc}") from None


def _orjson_int(text: str) -> int | float:
    """An integer as orjson reads it: a float beyond 64 bits."""
    number = int(text)
    return number if -(2**63) <= number < 2**64 else float(number)


def _finite_float(text: str) -> float:
    """A number as orjson reads it: refused when it overflows (``1e400``); only the constants are infinite."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:40]} is infinity when read as a double")
    return number


def _parse_with_constants(body: bytes) -> Any:
    """JSON with the non-standard constants, or _INVALID: nothing else that orjson would refuse gets in."""
    try:
        value = json.loads(body.decode("utf-8"), parse_int=_orjson_int, parse_float=_finite_float)
        orjson.dumps(value)  # refuses a lone surrogate, as orjson's reader does
    except (ValueError, RecursionError, OverflowError, orjson.JSONEncodeError):
        return _INVALID
    return value


def v1_error_body(error: DriftloopError) -> bytes:
    return orjson.dumps(error.to_dict())


def v2_error_body(error: DriftloopError) -> bytes:
    return orjson.dumps({"error": error.message})


def v2_status(error: DriftloopError) -> int:
    """The V2 protocol answers a bad inference request with a 400, whatever was wrong with it."""
    if isinstance(error, InvalidInputError | MalformedRequestError | PayloadTooLargeError):
        return 400
    return error.status_code


class InferenceEndpoint:
    """One POST route of the data plane: auth, body, operation, response; never a stack trace."""

    def __init__(
        self, service: ScoringService, keys: KeyChecker, route: str, operation: Operation, *, v2: bool
    ) -> None:
        self.service = service
        self.keys = keys
        self.route = route
        self.operation = operation
        self.v2 = v2
        self.body_limit = service.settings.limits.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        request_id = request_id_of(headers)
        params = scope.get("path_params", {})
        name: str = params.get("name", "")
        body = b""
        response_headers = _JSON_HEADERS
        try:
            self.keys.check(headers)
            version = model_version(params.get("version"))
            check_json_body(headers, self.body_limit, octet_stream=self.v2)
            body = await read_body(receive, self.body_limit)
            if self.v2:
                text, binary = split_body(body, headers)
                answer = await self.operation(
                    self.service, name, version, parse_json(text), binary, request_id, started
                )
                content, header_length = encode_response(answer)
                if header_length is not None:
                    response_headers = [_BINARY_TYPE, (_HEADER_LENGTH, str(header_length).encode())]
            else:
                answer = await self.operation(self.service, name, version, parse_json(body), None, request_id, started)
                content = orjson.dumps(answer)
            status = 200
        except DriftloopError as exc:
            self.service.refused(name, self.route, request_id, exc, body)
            status = v2_status(exc) if self.v2 else exc.status_code
            content = v2_error_body(exc) if self.v2 else v1_error_body(exc)
        except Exception:  # a bug must still answer in the documented shape, and be loud in the log
            log.exception("unexpected error on %s for model %s", self.route, name, extra={"request_id": request_id})
            self.service.refused(name, self.route, request_id, INTERNAL_ERROR, body)
            status = 500
            content = v2_error_body(INTERNAL_ERROR) if self.v2 else v1_error_body(INTERNAL_ERROR)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*response_headers, (b"x-request-id", request_id.encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})


def model_version(text: str | None) -> int | None:
    """A version path segment as a number: ASCII digits only (``str.isdigit`` also takes '²' and '٢')."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise NotFoundError(
            f"{text[:20]!r} is not a model version (versions are numbers)",
            details=[{"field": "version", "reason": "must be a number written in ASCII digits (at most 9)"}],
        )
    return int(text)


async def _predict(
    service: ScoringService, name: str, version: int | None, payload: Any, _: memoryview | None, rid: str, t0: float
) -> dict[str, Any]:
    return await service.predict(name, version, payload, rid, t0)


async def _infer(
    service: ScoringService,
    name: str,
    version: int | None,
    payload: Any,
    binary: memoryview | None,
    rid: str,
    t0: float,
) -> dict[str, Any]:
    return await service.infer(name, version, payload, rid, t0, binary=binary)


async def _feedback(
    service: ScoringService, name: str, version: int | None, payload: Any, _: memoryview | None, rid: str, t0: float
) -> dict[str, Any]:
    return await service.feedback(name, payload, rid, t0)


def inference_endpoints(service: ScoringService, keys: KeyChecker) -> dict[str, InferenceEndpoint]:
    """Path -> endpoint for every data-plane POST route."""
    predict = InferenceEndpoint(service, keys, "predict", _predict, v2=False)
    infer = InferenceEndpoint(service, keys, "infer", _infer, v2=True)
    return {
        "/v1/models/{name}/predict": predict,
        "/v1/models/{name}/versions/{version}/predict": predict,
        "/v1/models/{name}/feedback": InferenceEndpoint(service, keys, "feedback", _feedback, v2=False),
        "/v2/models/{name}/infer": infer,
        "/v2/models/{name}/versions/{version}/infer": infer,
    }


class DataPlaneRoutes:
    """Matches the data-plane POSTs to their endpoints with one split and one dict lookup.

    ``ScoringApp`` asks it first, before FastAPI's per-request work (its telemetry check, the
    middleware stack, the router's regex matching), which measured more than validation costs
    (docs/scoring.md, "Performance"). Any other request goes to FastAPI unchanged.
    """

    def __init__(self, endpoints: dict[str, InferenceEndpoint]) -> None:
        self._routes: dict[tuple[str, ...], InferenceEndpoint] = {}
        for path, endpoint in endpoints.items():
            # "/v1/models/{name}/versions/{version}/predict" -> ("v1", "models", "{}", "versions", "{}", "predict")
            shape = tuple("{}" if part.startswith("{") else part for part in path.strip("/").split("/"))
            self._routes[shape] = endpoint

    def match(self, scope: Scope) -> InferenceEndpoint | None:
        """The endpoint for this request (its path parameters set in the scope), or None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        parts = scope["path"].strip("/").split("/")
        if len(parts) == 4 and all(parts):
            endpoint = self._routes.get((parts[0], parts[1], "{}", parts[3]))
            params = {"name": parts[2]}
        elif len(parts) == 6 and all(parts) and parts[3] == "versions":
            endpoint = self._routes.get((parts[0], parts[1], "{}", "versions", "{}", parts[5]))
            params = {"name": parts[2], "version": parts[4]}
        else:
            return None
        if endpoint is not None:
            scope["path_params"] = params
        return endpoint
