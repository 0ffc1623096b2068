"""The OpenAPI document with request examples built from the registry's models.

FastAPI's generated examples (``"model": "string"``) are refused; these name each model with a
champion, with a record of its contract for ``/v1/transform`` and, for ``/v1/datasets``, only the
models whose source data the service is configured with (the others would be a 404). With API keys
configured, a caller without one gets the document without them (driftloop.http.docs).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from driftloop.errors import DriftloopError
from driftloop.registry import Registry


def features_document(
    app: FastAPI, registry: Registry, sources: dict[str, Any], *, with_models: bool = True
) -> dict[str, Any]:
    # Built on every call: models are registered while the service runs.
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    if not with_models:
        return document
    transform: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    for name in registry.models():
        try:
            contract = registry.resolve(name).contract
        except DriftloopError:  # no champion yet: nothing to transform for
            continue
        transform[name] = {
            "summary": f"one {name} record",
            "value": {"model": name, "records": [contract.example_record()]},
        }
        if name in sources:
            datasets[name] = {
                "summary": f"a {name} training set from its source and labelled traffic",
                "value": {"model": name},
            }
    for path, examples in (("/v1/transform", transform), ("/v1/datasets", datasets)):
        if examples:
            content = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            content["examples"] = examples
    return document
