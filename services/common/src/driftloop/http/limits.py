"""What a request body may be: its size (413 beyond the limit) and its declared type (415 if not JSON).

**Size.** A ``Content-Length`` over the limit is refused before anything is read; a body sent
without one (chunked) is counted while it is read and refused at the chunk that crosses the
limit, so that no service holds more than its limit of one request in memory.

**Type.** Every POST, PUT and PATCH route of driftloop takes JSON. A body declared as anything
but ``application/json`` (or ``application/<something>+json``) is refused with a 415, and so is a
body with no ``Content-Type`` at all when it comes from a browser (it carries ``Origin``). The
three types a web page may post cross-site without a CORS preflight are ``text/plain``,
``application/x-www-form-urlencoded`` and ``multipart/form-data``, and a page can also post a body
with no type: refusing all of them means no page on another site can make a service act, even
with authentication off. Clients that are not browsers and send no type (tritonclient, the kserve
SDK) are still served. A route that reads raw bytes (the V2 inference route's binary tensor data
extension) also takes ``application/octet-stream``: no page can send that type cross-site without
a preflight either.
"""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from driftloop.errors import MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

from .auth import Headers

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


def content_type_problem(headers: Headers, *, octet_stream: bool = False) -> str | None:
    """Why a body with these headers must be refused as not JSON (nor raw bytes, with ``octet_stream``), or None."""
    media: bytes | None = None
    from_browser = False
    has_body = False
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
        elif name == b"origin":
            from_browser = True
        elif name == b"content-length":
            has_body = value.strip() != b"0"
        elif name == b"transfer-encoding":
            has_body = True
    if media is None:
        if has_body and from_browser:
            return "a body needs Content-Type: application/json"
        return None
    if media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json")):
        return None
    if octet_stream and media == b"application/octet-stream":
        return None
    accepted = "application/json or application/octet-stream" if octet_stream else "application/json"
    return f"Content-Type {media.decode('latin-1')[:60]!r} is not accepted: send {accepted}"


def declared_length(headers: Headers) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, refused with :class:`PayloadTooLargeError` at the chunk that crosses ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise MalformedRequestError("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(too_large(limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_json_body(headers: Headers, limit: int, *, octet_stream: bool = False) -> None:
    """Raise the 415 or 413 that these headers alone already call for (``octet_stream``: raw bytes accepted too)."""
    if (problem := content_type_problem(headers, octet_stream=octet_stream)) is not None:
        raise UnsupportedMediaTypeError(problem, details=[{"field": "content-type", "reason": problem}])
    length = declared_length(headers)
    if length is not None and length > limit:
        raise PayloadTooLargeError(too_large(limit), details=[{"field": "body", "reason": too_large(limit)}])


class RequestEdge:
    """ASGI middleware: the size limit on every body, the JSON type on every POST, PUT and PATCH.

    Refusals decided from the headers are answered here, before the app runs; one that shows
    only while the body is read is raised as Starlette's ``HTTPException(413)``, which FastAPI
    passes through its body parsing to the app's error handler (:mod:`driftloop.http.errors`).
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        try:
            if scope["method"] in BODY_METHODS:
                check_json_body(headers, self.limit)
            else:
                length = declared_length(headers)
                if length is not None and length > self.limit:
                    raise PayloadTooLargeError(too_large(self.limit))
        except (PayloadTooLargeError, UnsupportedMediaTypeError) as exc:
            body = orjson.dumps(exc.to_dict())
            await send(
                {
                    "type": "http.response.start",
                    "status": exc.status_code,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        limit = self.limit
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise HTTPException(413, too_large(limit))
            return message

        return counted
