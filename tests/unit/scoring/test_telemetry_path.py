"""The scoring path never waits on the bus: with the bus unreachable, requests are answered and events spilled."""

from __future__ import annotations

import pytest
from integration_servers import free_port  # a port nothing listens on
from scoring_bundles import credit_records
from scoring_client import started_client

from driftloop.telemetry.settings import BusSettings
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import ScoringSettings

pytestmark = pytest.mark.anyio


async def test_requests_are_answered_while_the_bus_is_unreachable(settings: ScoringSettings) -> None:
    spill = settings.bus.spill_path
    settings.bus = BusSettings(
        url=f"kafka://127.0.0.1:{free_port()}/predictions", spill_path=spill, send_timeout_s=1, linger_ms=1
    )
    app = create_app(settings)
    async for client in started_client(app):
        for _ in range(20):
            response = await client.post("/v1/models/credit/predict", json={"records": credit_records(1)})
            assert response.status_code == 200
        assert (await client.get("/v2/health/ready")).status_code == 200
        publisher = app.state.service.publisher
    # Stopping flushed the buffer: with no bus, every event went to the spill file, none was lost.
    assert publisher.stats.sent == 0
    assert publisher.stats.spilled == 20
    assert publisher.stats.dropped == 0


async def test_telemetry_off_publishes_nothing_and_the_service_is_still_ready(settings: ScoringSettings) -> None:
    settings.telemetry = False
    app = create_app(settings)
    async for client in started_client(app):
        assert (await client.get("/v2/health/ready")).status_code == 200
        response = await client.post("/v1/models/credit/predict", json={"records": credit_records(2)})
        assert response.status_code == 200
        assert app.state.service.publisher is None
