"""The controller's OpenAPI: each read route documents its parameters, an example answer and each error;
"Try it out" names a model of the registry and is answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from controller_support import ADMIN, SECRET, TINY

from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.store.engine import make_engine
from driftloop.store.migrate import upgrade
from driftloop.store.settings import StoreSettings
from driftloop.train.run import train_model
from driftloop_controller.app import create_app
from driftloop_controller.controller import Controller
from driftloop_controller.settings import AuthSettings, ControllerSettings, WebhookSecretSettings

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


@pytest.fixture
async def churn_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A controller over a registry whose only model is not the ``credit`` of the fixed illustrations."""
    registry = Registry(tmp_path / "registry")
    train_model(pd.DataFrame(make_credit(400, seed=3)), config=TINY, name="churn", registry=registry)
    settings = ControllerSettings(
        registry={"path": registry.root},
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        webhook=WebhookSecretSettings(secret=SECRET),
        auth=AuthSettings(admin_token=ADMIN),
        features={"url": "http://127.0.0.1:9"},
    )
    upgrade(make_engine(settings.store))
    app = create_app(settings)
    app.state.controller = Controller(settings, make_engine(settings.store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://controller") as client:
        yield client


@pytest.mark.anyio
async def test_try_it_out_names_a_model_of_the_registry_and_is_answered(churn_client: httpx.AsyncClient) -> None:
    document = (await churn_client.get("/openapi.json")).json()
    answered = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            parameters = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
            if "name" not in parameters:
                continue
            assert parameters["name"]["example"] == "churn", template
            assert "examples" not in parameters["name"]["schema"], template
            if set(parameters) - {"name", "chart"}:
                continue  # a window's version and index: no example names one that exists
            path = template.format(name="churn", chart=parameters.get("chart", {}).get("example"))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
            if method == "post" and body is None:
                continue  # rollback: there is no earlier champion to go back to
            headers = {"Authorization": f"Bearer {ADMIN}"} if method == "post" else {}
            response = await churn_client.request(method, path, json=body, headers=headers)
            assert 200 <= response.status_code < 300, (path, response.text)
            answered.append(path)
    assert "/v1/models/churn/promote" in answered
    assert "/dashboard/api/models/churn/volume" in answered
    # The promote example re-asserts the champion: nothing served changes.
    versions = (await churn_client.get("/v1/models/churn/versions")).json()
    assert versions["aliases"]["champion"] == 1
