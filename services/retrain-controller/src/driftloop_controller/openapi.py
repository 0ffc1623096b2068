"""The OpenAPI document with path and body examples from the registry, so "Try it out" names a real model.

Every ``{name}`` parameter shows the registry's first model (not a fixed ``credit``); promote shows
its champion version. A caller without the dashboard token (when one is set) gets the routes only,
without any model name (driftloop.http.docs).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from driftloop.registry import CHAMPION, Registry

CHART_EXAMPLE = "volume"


def controller_document(app: FastAPI, registry: Registry, *, with_models: bool = True) -> dict[str, Any]:
    # Built on every call: models are registered and promoted while the controller runs.
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    models = [name for name in registry.models() if registry.versions(name)] if with_models else []
    model = models[0] if models else None
    for item in document.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] != "name" or parameter["in"] != "path":
                    if parameter["name"] == "chart":
                        parameter["example"] = CHART_EXAMPLE
                    continue
                parameter.get("schema", {}).pop("examples", None)  # the fixed illustration of read_api.py
                if model is not None:
                    parameter["example"] = model
    if model is not None:
        # The champion itself: "Execute" on the example then re-asserts what is served instead of
        # swapping the model under live traffic (it is still recorded in the registry's history).
        version = registry.aliases(model).get(CHAMPION) or registry.versions(model)[-1]
        promote = document["paths"]["/v1/models/{name}/promote"]["post"]["requestBody"]["content"]["application/json"]
        promote["example"] = {"version": version, "reason": f"promoted by an operator: {model}@{version}"}
    return document
