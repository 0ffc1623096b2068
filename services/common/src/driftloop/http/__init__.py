"""The HTTP edge of every driftloop service, in one place (docs/http.md).

- :mod:`.errors`: one error shape, ``{"error": {"code", "message", "details"?}}``, for everything an
  app can raise, a 500 included;
- :mod:`.auth`: API keys and tokens, compared in constant time, refused with a body that names nothing;
- :mod:`.limits`: the body-size limit (413, enforced while the body is read) and the JSON content
  type on every POST, PUT and PATCH (415);
- :mod:`.health`: readiness with a reason, a message and one log line per change;
- :mod:`.docs`: ``/openapi.json``, Swagger UI and ReDoc served offline, the document behind the keys.

:func:`install_edge` puts the first, third and fifth on an app; each service adds its credential
checks to its routes (``dependencies=[Depends(checker)]``) and its readiness to its probe route.
"""

from __future__ import annotations

from fastapi import FastAPI

from .auth import UNAUTHORIZED_MESSAGE, KeyChecker
from .docs import NO_FASTAPI_DOCS, Document, install_docs
from .errors import Render, install_error_handlers, json_error
from .health import Readiness, ReadinessLog
from .limits import RequestEdge, check_json_body, read_body

__all__ = [
    "NO_FASTAPI_DOCS",
    "UNAUTHORIZED_MESSAGE",
    "Document",
    "KeyChecker",
    "Readiness",
    "ReadinessLog",
    "Render",
    "RequestEdge",
    "check_json_body",
    "install_docs",
    "install_edge",
    "install_error_handlers",
    "json_error",
    "read_body",
]


def install_edge(
    app: FastAPI,
    *,
    keys: KeyChecker,
    max_body_bytes: int,
    document: Document | None = None,
    render: Render = json_error,
) -> None:
    """Error handlers, the body limits and content types, and the offline docs behind ``keys``.

    ``app`` must be created with ``**NO_FASTAPI_DOCS``.
    """
    install_error_handlers(app, render)
    app.add_middleware(RequestEdge, max_body_bytes=max_body_bytes)
    install_docs(app, keys, document)
