"""``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``, with every asset served by the service itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank on a machine with no
internet. The JavaScript and CSS come from the ``fastapi-offline`` package (it ships
swagger-ui-dist's bundle and ReDoc's standalone build as package data), served under
``/docs/assets/``; nothing on these pages is fetched from elsewhere.

**Credentials.** When the service has keys configured, the document handed to a caller without
one is ``document(False)``: a service whose document shows data (scoring's shows each model's
columns, categories and examples) passes a builder that leaves them out. The pages themselves hold
no data. Swagger UI keeps what is entered under "Authorize" (``persistAuthorization``) and sends
it with its request for the document too, so after "Authorize" and a reload the whole document
shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from driftloop.errors import NotFoundError

from .auth import KeyChecker

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
SECURITY_SCHEMES = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "bearer": {"type": "http", "scheme": "bearer"},
}

# The key Swagger UI stored under "Authorize" is sent with its request for the document as well.
_SWAGGER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css"><link rel="icon" href="{assets}/favicon.png">
</head><body><div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
function storedKey() {{
  try {{
    const auth = JSON.parse(localStorage.getItem("authorized") || "{{}}");
    return (auth.apiKey && auth.apiKey.value) || (auth.bearer && auth.bearer.value) || null;
  }} catch (e) {{ return null; }}
}}
window.ui = SwaggerUIBundle({{
  url: {openapi}, dom_id: "#swagger-ui", persistAuthorization: true, deepLinking: true,
  layout: "BaseLayout", presets: [SwaggerUIBundle.presets.apis],
  requestInterceptor: (request) => {{
    const key = storedKey();
    if (key && !request.headers["X-API-Key"] && !request.headers["Authorization"]) request.headers["X-API-Key"] = key;
    return request;
  }},
}});
</script></body></html>
"""
_REDOC_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="{assets}/favicon.png">
<style>body {{ margin: 0; padding: 0; }}</style></head>
<body><redoc spec-url={openapi}></redoc><script src="{assets}/redoc.standalone.js"></script></body></html>
"""

Document = Callable[[bool], dict[str, Any]]
"""``document(authorized)``: the OpenAPI document for a caller with (True) or without (False) a credential."""


def asset_path(name: str) -> Any:
    return files("fastapi_offline") / "static" / name


def install_docs(app: FastAPI, keys: KeyChecker, document: Document | None = None) -> None:
    """Serve the document and both pages from ``app``; build it with FastAPI's generator unless told otherwise.

    Create ``app`` with ``openapi_url=None, docs_url=None, redoc_url=None`` (:data:`NO_FASTAPI_DOCS`).
    """
    build: Document = document or (lambda _authorized: app.openapi())

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        authorized = keys.allows_request(request)
        body = build(authorized)
        if keys.enabled:
            body = {**body, "components": {**body.get("components", {}), "securitySchemes": SECURITY_SCHEMES}}
            body["security"] = [{"apiKey": []}, {"bearer": []}]
        return JSONResponse(body)

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        return HTMLResponse(_page(_SWAGGER_PAGE, app.title + " - Swagger UI", root(request)))

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return HTMLResponse(_page(_REDOC_PAGE, app.title + " - ReDoc", root(request)))

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise NotFoundError(f"{name[:60]!r} is not an asset of the documentation pages")
        # Library code, no data: cacheable, and served without credentials like the pages.
        return FileResponse(
            str(asset_path(name)), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"}
        )


NO_FASTAPI_DOCS: dict[str, Any] = {"openapi_url": None, "docs_url": None, "redoc_url": None}
"""Keyword arguments for ``FastAPI(...)`` that leave the document and pages to :func:`install_docs`."""


def _page(template: str, title: str, root: str) -> str:
    # The document's URL as a JSON string: a root_path cannot break out of the script.
    return template.format(title=title, assets=f"{root}/docs/assets", openapi=json.dumps(f"{root}/openapi.json"))
