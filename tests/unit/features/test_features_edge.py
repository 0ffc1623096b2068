"""The feature-engineering service behind the shared edge: API keys, the body limit, the record-count limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from pydantic import SecretStr

from driftloop.http.settings import ApiKeys
from driftloop_features.app import create_app
from driftloop_features.settings import FeaturesLimits, FeaturesSettings

pytestmark = pytest.mark.anyio
KEY = {"X-API-Key": "features-key"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(settings: FeaturesSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://features") as http:
            yield http


@pytest.fixture
async def secured(settings: FeaturesSettings) -> AsyncIterator[httpx.AsyncClient]:
    settings.auth = ApiKeys(api_keys=SecretStr("other-key, features-key"))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://features") as http:
            yield http


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/transform", {"model": "credit", "records": [{"age": 30}]}),
        ("POST", "/v1/datasets", {"model": "credit"}),
        ("GET", "/v1/datasets/0123abcd", None),
    ],
)
async def test_every_data_route_needs_a_key_and_the_refusal_names_nothing(
    secured: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        response = await secured.request(method, path, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": {"code": "unauthorized", "message": "missing or invalid credentials"}}
        assert response.headers["www-authenticate"] == "Bearer"
    allowed = await secured.request(method, path, json=body, headers=KEY)
    assert allowed.status_code != 401


async def test_health_and_metrics_stay_open(secured: httpx.AsyncClient) -> None:
    assert (await secured.get("/healthz")).status_code == 200
    assert (await secured.get("/metrics")).status_code == 200


async def test_a_hundred_thousand_records_are_refused_naming_the_field(settings: FeaturesSettings) -> None:
    settings.limits = FeaturesLimits(max_body_bytes=64 * 1024 * 1024)  # the record count, not the size, refuses
    app = create_app(settings)
    body = {"model": "credit", "records": [{"age": 30}] * 100_000}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://features") as client:
            response = await client.post("/v1/transform", json=body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["details"] == [{"field": "records", "reason": "has 100000 records; the limit is 10000"}]


async def test_a_body_over_the_limit_is_refused_before_it_is_parsed(client: httpx.AsyncClient) -> None:
    body = orjson.dumps({"model": "credit", "records": [{"age": 30, "note": "x" * 1000}] * 5000})  # ~5 MB
    response = await client.post("/v1/transform", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5000):
            yield b" " * 1000

    streamed = await client.post("/v1/transform", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_not_declared_json_is_refused(client: httpx.AsyncClient, content_type: str) -> None:
    body = b'{"model": "credit"}'
    response = await client.post("/v1/datasets", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 415


async def test_a_malformed_request_names_its_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/transform", json={"model": "", "records": []})
    assert response.status_code == 422
    fields = {problem["field"] for problem in response.json()["error"]["details"]}
    assert fields == {"model", "records"}


# -- the document's examples name the registry's models, and the service answers them ----------


async def test_every_example_in_the_document_is_answered(client: httpx.AsyncClient, store: object) -> None:
    document = (await client.get("/openapi.json")).json()
    answered = []
    for path in ("/v1/transform", "/v1/datasets"):
        content = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        for key, example in content["examples"].items():
            assert example["value"]["model"] == key == "credit"
            response = await client.post(path, json=example["value"])
            assert 200 <= response.status_code < 300, (path, response.text)
            answered.append(path)
    assert answered == ["/v1/transform", "/v1/datasets"]


async def test_without_a_key_the_document_names_no_model(secured: httpx.AsyncClient) -> None:
    assert "credit" not in (await secured.get("/openapi.json")).text
    assert "credit" in (await secured.get("/openapi.json", headers=KEY)).text
