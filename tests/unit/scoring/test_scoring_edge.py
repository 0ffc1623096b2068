"""Scoring behind the shared HTTP edge: versions, content types, body limits, the document behind the keys,
examples that the service answers, the offline documentation pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from scoring_bundles import credit_records
from scoring_client import started_client

from driftloop_scoring.app import create_app
from driftloop_scoring.settings import AuthSettings, LimitsSettings, ScoringSettings

pytestmark = pytest.mark.anyio
KEY = {"X-API-Key": "edge-key"}


@pytest.fixture
async def secured(settings: ScoringSettings) -> AsyncIterator[httpx.AsyncClient]:
    settings.auth = AuthSettings(api_keys=SecretStr("edge-key"))
    async for client in started_client(create_app(settings)):
        yield client


# -- versions: ASCII digits only ------------------------------------------------------------


@pytest.mark.parametrize("version", ["%C2%B2", "%D9%A2", "%EF%BC%92", "1e3", "0x2", "-1"])
@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("POST", "/v1/models/credit/versions/{}/predict"),
        ("POST", "/v2/models/credit/versions/{}/infer"),
        ("GET", "/v2/models/credit/versions/{}"),
        ("GET", "/v2/models/credit/versions/{}/ready"),
    ],
)
async def test_a_version_not_in_ascii_digits_is_a_json_404(
    client: httpx.AsyncClient, method: str, route: str, version: str
) -> None:
    # '²' and Arabic-Indic '٢' pass str.isdigit(): the first reached int() (500), the second served version 2.
    response = await client.request(method, route.format(version), json={"records": credit_records(1)})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/json"
    assert "is not a model version" in response.text


async def test_an_unexpected_error_on_a_control_route_is_json(settings: ScoringSettings) -> None:
    app = create_app(settings)

    @app.get("/v2/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            response = await client.get("/v2/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert "internal error" in response.json()["error"]


# -- content types and body size ------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/xml"]
)
@pytest.mark.parametrize(
    "route", ["/v1/models/credit/predict", "/v1/models/credit/feedback", "/v2/models/credit/infer"]
)
async def test_a_body_not_declared_json_is_refused_with_415(
    client: httpx.AsyncClient, route: str, content_type: str
) -> None:
    # What a web page on another site can post without a CORS preflight.
    body = b'{"records": [{"age": 41}]}'
    response = await client.post(route, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 415, response.text
    assert "application/json" in response.text


async def test_a_body_with_no_type_is_refused_from_a_browser_and_served_to_other_clients(
    client: httpx.AsyncClient,
) -> None:
    import orjson

    body = orjson.dumps({"records": credit_records(1)})
    from_page = await client.post(
        "/v1/models/credit/predict", content=body, headers={"Origin": "https://elsewhere.example"}
    )
    assert from_page.status_code == 415
    assert (await client.post("/v1/models/credit/predict", content=body)).status_code == 200
    typed = {"Content-Type": "application/json; charset=utf-8"}
    assert (await client.post("/v1/models/credit/predict", content=body, headers=typed)).status_code == 200


async def test_a_body_over_the_limit_is_refused_while_it_is_read(settings: ScoringSettings) -> None:
    settings.limits = LimitsSettings(max_body_bytes=2048)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"records": ['
        for _ in range(100):
            yield b'{"age": 41}, ' * 10

    async for client in started_client(create_app(settings)):
        streamed = await client.post(
            "/v1/models/credit/predict", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "payload_too_large"
        declared = await client.post(
            "/v1/models/credit/reload", content=b"x" * 4096, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413


# -- the document behind the keys, and examples the service answers -------------------------


async def test_without_a_key_the_document_shows_no_model(secured: httpx.AsyncClient) -> None:
    anonymous = await secured.get("/openapi.json")
    assert anonymous.status_code == 200
    text = anonymous.text
    for secret in ("credit", "purpose", "income", "loan_amount"):
        assert secret not in text
    assert anonymous.json()["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    full = await secured.get("/openapi.json", headers=KEY)
    assert "income" in full.text
    assert "credit" in full.text


EVENT_TIME_EXAMPLE = "-event-time"


async def test_every_example_in_the_document_is_answered(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    answered: list[tuple[str, str]] = []
    predicted = await client.post("/v1/models/credit/predict", json={"records": credit_records(1)})
    request_id = predicted.json()["request_id"]
    for template, item in document["paths"].items():
        operation = item.get("post") or {}
        content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "examples" not in content:
            continue
        parameters = {p["name"]: p["example"] for p in operation["parameters"] if p["in"] == "path"}
        for key, example in content["examples"].items():
            name = key.removesuffix(EVENT_TIME_EXAMPLE)  # "credit-event-time": credit's records with their times
            if "{version}" in template and name != parameters["name"]:
                continue  # the path's version is that of the example model
            body: Any = example["value"]
            if template.endswith("/feedback"):
                body = {**body, "request_id": request_id}
            path = template.format(name=name, version=parameters.get("version"))
            response = await client.post(path, json=body)
            assert response.status_code == 200, (path, body, response.text)
            answered.append((path, key))
    assert {key.removesuffix(EVENT_TIME_EXAMPLE) for _, key in answered} == {"credit", "purpose", "rate"}
    assert ("/v1/models/credit/predict", f"credit{EVENT_TIME_EXAMPLE}") in answered
    assert ("/v1/models/purpose/feedback", "purpose") in answered  # a multiclass label, not 1
    assert ("/v1/models/rate/feedback", "rate") in answered  # a number for the regressor


async def test_each_operation_shows_the_examples_of_the_model_it_names(client: httpx.AsyncClient) -> None:
    """Swagger UI sends the path it shows with the example it shows: the two must be the same model."""
    document = (await client.get("/openapi.json")).json()
    served = {m["name"] for m in (await client.get("/v1/models")).json()["models"]}
    for template, item in document["paths"].items():
        operation = item.get("post") or {}
        examples = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("examples")
        if examples is None:
            continue
        named = {p["name"]: p.get("example") for p in operation["parameters"]}.get("name")
        model = named or template.split("/")[3]
        assert model in served, template
        assert {key.removesuffix(EVENT_TIME_EXAMPLE) for key in examples} == {model}, template
    for model in served:  # each model under its own tag, with its own record schema
        own = document["paths"][f"/v1/models/{model}/predict"]["post"]
        assert own["tags"] == [f"model {model}"]
        schema = own["requestBody"]["content"]["application/json"]["schema"]["properties"]["records"]["items"]
        assert schema["title"] == f"{model} record"


async def test_the_example_path_names_a_served_model(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    parameters = document["paths"]["/v1/models/{name}/versions/{version}/predict"]["post"]["parameters"]
    examples = {p["name"]: p["example"] for p in parameters}
    served = {m["name"]: m["version"] for m in (await client.get("/v1/models")).json()["models"]}
    assert examples["name"] in served
    assert examples["version"] == str(served[examples["name"]])


# -- the documentation pages, offline -------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_documentation_pages_load_nothing_from_elsewhere(secured: httpx.AsyncClient, page: str) -> None:
    html = (await secured.get(page)).text
    assert "http://" not in html
    assert "https://" not in html
    sources = [part.split('"')[1] for part in html.split("src=")[1:]] + [
        part.split('"')[1] for part in html.split("href=")[1:]
    ]
    assert sources
    for source in sources:
        asset = await secured.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 1000, source
    assert (await secured.get("/docs/assets/../../settings.py")).status_code == 404
