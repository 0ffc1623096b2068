"""The retrain-controller behind the shared edge: reads behind the dashboard token, refusals that name nothing,
a time range that cannot be computed is a 422."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from controller_support import ADMIN

from driftloop.report.data import CHARTS
from driftloop_controller.app import create_app
from driftloop_controller.controller import Controller
from driftloop_controller.settings import ControllerSettings, DashboardSettings

pytestmark = pytest.mark.anyio
TOKEN = "read-token"
REFUSED = {"error": {"code": "unauthorized", "message": "missing or invalid credentials"}}


@pytest.fixture
async def guarded(settings: ControllerSettings, controller: Controller) -> AsyncIterator[httpx.AsyncClient]:
    settings.dashboard = DashboardSettings(token=TOKEN)
    app = create_app(settings)
    app.state.controller = controller
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://controller") as client:
        yield client


@pytest.mark.parametrize(
    "path",
    ["/v1/jobs", "/v1/jobs/nope", "/v1/models/credit/versions", "/dashboard/api/models", "/dashboard/models/credit"],
)
async def test_reads_need_the_dashboard_token(guarded: httpx.AsyncClient, path: str) -> None:
    refused = await guarded.get(path)
    assert (refused.status_code, refused.json()) == (401, REFUSED)
    assert "DRIFTLOOP" not in refused.text
    assert (await guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"})).status_code != 401
    assert (await guarded.get(f"{path}?token={TOKEN}")).status_code != 401


async def test_state_changes_take_the_admin_token_and_the_refusal_names_no_setting(guarded: httpx.AsyncClient) -> None:
    refused = await guarded.post("/v1/models/credit/rollback", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (refused.status_code, refused.json()) == (401, REFUSED)
    assert refused.headers["www-authenticate"] == "Bearer"
    allowed = await guarded.post("/v1/models/credit/rollback", headers={"Authorization": f"Bearer {ADMIN}"})
    assert allowed.status_code != 401


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize("since", ["800000d", "99999999999999999999w", "0001-01-01T00:00:00Z/"])
async def test_a_range_reaching_before_year_one_is_a_422(client: httpx.AsyncClient, chart: str, since: str) -> None:
    response = await client.get(f"/dashboard/api/models/credit/{chart}", params={"since": since})
    assert response.status_code == 422, response.text
    assert "since" in response.json()["error"]["message"]


async def test_a_webhook_body_not_declared_json_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/retrain", content=b"{}", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
