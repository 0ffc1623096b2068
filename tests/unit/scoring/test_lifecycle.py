"""Model lifecycle in process: readiness, reload and swap, refused bundles, the registry watcher."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
from scoring_bundles import credit_frame, credit_records, register, train_model
from scoring_client import started_client

from driftloop.registry import Registry
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import ScoringRegistrySettings, ScoringSettings

pytestmark = pytest.mark.anyio
PREDICT = "/v1/models/credit/predict"


@pytest.fixture
def own_registry(registry: Registry, tmp_path: Path, settings: ScoringSettings) -> Registry:
    """A copy of the session registry that a test may change."""
    root = tmp_path / "registry"
    shutil.copytree(registry.root, root)
    settings.registry = ScoringRegistrySettings(path=root, poll_interval_s=0, models="credit")
    return Registry(root)


def warnings_about_readiness(err: str) -> list[str]:
    return [line for line in err.splitlines() if '"level":"warning"' in line and "ready" in line]


async def test_not_ready_until_a_model_is_loaded(
    registry: Registry, settings: ScoringSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "empty"
    settings.registry = ScoringRegistrySettings(path=root, poll_interval_s=2.5)
    app = create_app(settings)
    async for client in started_client(app):
        assert (await client.get("/v2/health/live")).status_code == 200
        for _ in range(3):  # probed again and again: one log line, not one per probe
            ready = await client.get("/v2/health/ready")
            assert ready.status_code == 503
            assert ready.json() == {
                "ready": False,
                "reason": "no_model",
                "message": f"no model in the registry at {root} yet: register one (driftloop train --registry "
                f"{root}, or the chart's seed.enabled); it is loaded within 2.5 s",
                "models": {},
            }
        response = await client.post(PREDICT, json={"records": credit_records(1)})
        assert response.status_code == 404
        logged = warnings_about_readiness(capsys.readouterr().err)
        assert len(logged) == 1, logged
        assert "scoring is not ready (no_model): no model in the registry at" in logged[0]

        shutil.copytree(registry.root / "credit", root / "credit")  # a first model arrives
        assert (await client.post("/v1/models/credit/reload")).json()["outcome"] == "swapped"
        ready = await client.get("/v2/health/ready")
        assert (ready.status_code, ready.json()) == (
            200,
            {"ready": True, "models": {"credit": {"ready": True, "version": 1}}},
        )
        assert (await client.get("/v2/health/ready")).status_code == 200
        logged = warnings_about_readiness(capsys.readouterr().err)
        assert len(logged) == 1, logged
        assert "scoring is ready again" in logged[0]

        app.state.service.publisher = None  # as before the lifespan has started the publisher
        ready = await client.get("/v2/health/ready")
        assert (ready.status_code, ready.json()["reason"]) == (503, "bus_not_started")


async def test_a_model_that_cannot_load_is_named_with_its_reason(
    own_registry: Registry, settings: ScoringSettings
) -> None:
    contract = own_registry.resolve("credit").contract
    broken = register(own_registry, "credit", b"not an onnx graph", contract)
    own_registry.set_alias("credit", "champion", broken.version)
    async for client in started_client(create_app(settings)):
        ready = await client.get("/v2/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["reason"] == "model_not_loaded"
        assert body["models"]["credit"]["ready"] is False
        assert "version 3 refused" in body["models"]["credit"]["reason"]
        assert "the ONNX graph cannot be loaded" in body["message"]
        response = await client.post(PREDICT, json={"records": credit_records(1)})
        assert (response.status_code, response.json()["error"]["code"]) == (503, "model_not_ready")


async def test_reload_swaps_to_the_moved_champion(own_registry: Registry, settings: ScoringSettings) -> None:
    async for client in started_client(create_app(settings)):
        assert (await client.post(PREDICT, json={"records": credit_records(1)})).json()["version"] == 1
        own_registry.set_alias("credit", "champion", 2)
        response = await client.post("/v1/models/credit/reload")
        assert response.json() == {"model": "credit", "version": 2, "previous_version": 1, "outcome": "swapped"}
        assert (await client.post(PREDICT, json={"records": credit_records(1)})).json()["version"] == 2
        metrics = (await client.get("/metrics")).text
        assert 'driftloop_scoring_model_version{model="credit"} 2.0' in metrics
        assert 'driftloop_scoring_reloads_total{model="credit",outcome="swapped"} 2.0' in metrics


async def test_a_broken_bundle_is_refused_and_the_old_model_keeps_serving(
    own_registry: Registry, settings: ScoringSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = own_registry.resolve("credit").contract
    broken = register(own_registry, "credit", b"not an onnx graph", contract)
    async for client in started_client(create_app(settings)):
        own_registry.set_alias("credit", "champion", broken.version)
        response = await client.post("/v1/models/credit/reload")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "bundle_refused"
        assert "the ONNX graph cannot be loaded" in response.json()["error"]["message"]
        assert (await client.post(PREDICT, json={"records": credit_records(1)})).json()["version"] == 1
        assert (await client.get("/v2/health/ready")).status_code == 200
    assert "refused credit version 3: credit@3: the ONNX graph cannot be loaded" in capsys.readouterr().err


async def test_an_incompatible_contract_is_refused(own_registry: Registry, settings: ScoringSettings) -> None:
    frame = credit_frame(600).drop(columns=["default"])
    model, contract = train_model(frame, "purpose", "multiclass")  # another task, and "default" is no input
    incompatible = register(own_registry, "credit", model, contract)
    async for client in started_client(create_app(settings)):
        own_registry.set_alias("credit", "champion", incompatible.version)
        response = await client.post("/v1/models/credit/reload")
        assert response.status_code == 409
        assert "incompatible contract: task changes from binary to multiclass" in response.json()["error"]["message"]
        assert (await client.post(PREDICT, json={"records": credit_records(1)})).json()["version"] == 1


async def test_the_watcher_picks_up_a_moved_alias(own_registry: Registry, settings: ScoringSettings) -> None:
    settings.registry.poll_interval_s = 0.05
    app = create_app(settings)
    async for client in started_client(app):
        own_registry.set_alias("credit", "champion", 2)
        store = app.state.service.store
        for _ in range(200):  # bounded wait for the watcher's swap (polls every 50 ms)
            if store.champions["credit"].version == 2:
                break
            await asyncio.sleep(0.05)
        assert (await client.post(PREDICT, json={"records": credit_records(1)})).json()["version"] == 2


async def test_unknown_model_reload_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/models/nope/reload")).status_code == 404


async def test_a_model_whose_champion_fails_at_start_keeps_the_service_unready(
    own_registry: Registry, settings: ScoringSettings
) -> None:
    contract = own_registry.resolve("credit").contract
    broken = register(own_registry, "credit", b"garbage", contract)
    own_registry.set_alias("credit", "champion", broken.version)
    async for client in started_client(create_app(settings)):
        assert (await client.get("/v2/health/ready")).status_code == 503
        assert (await client.get("/v2/models/credit/ready")).json() == {"name": "credit", "ready": False}
        own_registry.set_alias("credit", "champion", 1)
        assert (await client.post("/v1/models/credit/reload")).json()["outcome"] == "swapped"
        assert (await client.get("/v2/health/ready")).status_code == 200
