"""API keys on every inference and feedback route, the admin token on reload, open health probes."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr
from scoring_bundles import credit_records
from scoring_client import started_client

from driftloop_scoring.app import create_app
from driftloop_scoring.auth import KeyChecker
from driftloop_scoring.settings import AuthSettings, ScoringSettings

pytestmark = pytest.mark.anyio
KEYS = "first-key, second-key"
PROTECTED = [
    ("POST", "/v1/models/credit/predict"),
    ("POST", "/v1/models/credit/versions/1/predict"),
    ("POST", "/v1/models/credit/feedback"),
    ("POST", "/v2/models/credit/infer"),
    ("POST", "/v2/models/credit/versions/1/infer"),
    ("GET", "/v2/models/credit"),
    ("GET", "/v1/models"),
]
OPEN = ["/v2/health/live", "/v2/health/ready", "/v2/models/credit/ready", "/v2", "/metrics", "/openapi.json"]


@pytest.fixture
async def secured(settings: ScoringSettings) -> httpx.AsyncClient:  # type: ignore[misc]
    settings.auth = AuthSettings(api_keys=SecretStr(KEYS), admin_token=SecretStr("admin-secret"))
    async for client in started_client(create_app(settings)):
        yield client


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "first-key"}]
)
async def test_missing_or_wrong_keys_get_a_401_that_reveals_nothing(
    secured: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await secured.request(method, path, json={"records": credit_records(1)}, headers=headers)
    assert response.status_code == 401
    expected = "missing or invalid credentials"
    if path.startswith("/v2"):
        assert response.json() == {"error": expected}
    else:
        assert response.json() == {"error": {"code": "unauthorized", "message": expected}}


@pytest.mark.parametrize("headers", [{"X-API-Key": "second-key"}, {"Authorization": "Bearer first-key"}])
async def test_any_configured_key_in_either_header_is_accepted(
    secured: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await secured.post("/v1/models/credit/predict", json={"records": credit_records(1)}, headers=headers)
    assert response.status_code == 200
    assert (await secured.get("/v2/models/credit", headers=headers)).status_code == 200


@pytest.mark.parametrize("path", OPEN)
async def test_health_metrics_and_docs_stay_open(secured: httpx.AsyncClient, path: str) -> None:
    assert (await secured.get(path)).status_code == 200


async def test_metrics_can_be_protected(settings: ScoringSettings) -> None:
    settings.auth = AuthSettings(api_keys=SecretStr(KEYS), protect_metrics=True)
    async for client in started_client(create_app(settings)):
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"X-API-Key": "first-key"})).status_code == 200


async def test_reload_takes_the_admin_token_not_an_api_key(secured: httpx.AsyncClient) -> None:
    assert (await secured.post("/v1/models/credit/reload", headers={"X-API-Key": "first-key"})).status_code == 401
    response = await secured.post("/v1/models/credit/reload", headers={"Authorization": "Bearer admin-secret"})
    assert response.status_code == 200
    assert response.json()["outcome"] == "unchanged"


def test_key_checker() -> None:
    checker = KeyChecker(["a", "bb"])
    assert checker.allows([(b"x-api-key", b"bb")])
    assert checker.allows([(b"authorization", b"bearer a")])
    assert not checker.allows([(b"x-api-key", b"b")])
    assert not checker.allows([(b"authorization", b"Basic a")])
    assert not checker.allows([])
    assert KeyChecker([]).allows([])  # nothing configured: open
