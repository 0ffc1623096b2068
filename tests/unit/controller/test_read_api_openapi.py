"""The read APIs' OpenAPI: each route documents its parameters, an example answer and each error."""

from __future__ import annotations

import pytest

from driftloop_controller.app import create_app

ROUTES = {
    "/v1/models/{name}/windows": {"name", "version", "since", "until", "limit"},
    "/v1/models/{name}/windows/{version}/{index}": {"name", "version", "index"},
    "/v1/models/{name}/firings": {"name", "since", "limit"},
}


@pytest.mark.parametrize(("path", "parameters"), ROUTES.items())
def test_each_read_route_has_its_parameters_an_example_and_its_errors(path: str, parameters: set[str]) -> None:
    operation = create_app().openapi()["paths"][path]["get"]
    documented = {p["name"]: p for p in operation["parameters"]}
    assert parameters <= set(documented)
    assert all(documented[name].get("description") for name in parameters - {"name"}), documented
    example = operation["responses"]["200"]["content"]["application/json"]["example"]
    assert example["model"] == "credit"
    for status in ("401", "404", "422"):
        error = operation["responses"][status]["content"]["application/json"]["example"]["error"]
        assert error["code"] in {"unauthorized", "not_found", "invalid_input"}
