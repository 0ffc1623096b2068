"""The request-side rules of the retrain-controller's API: signature, idempotency, coalescing, change points, admin."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pytest
from controller_support import ADMIN, SECRET

from driftloop import webhook
from driftloop.store import jobs as states
from driftloop_controller.controller import Controller

pytestmark = pytest.mark.anyio

FIRING: dict[str, object] = {
    "firing_id": "f-1",
    "model": "credit",
    "trigger": "drift:psi",
    "evidence": [{"column": "income"}],
}


def signed(body: bytes, *, key: str | None = "f-1", now: float | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", **webhook.sign(SECRET, body, idempotency_key=key, now=now)}


async def post_firing(
    client: httpx.AsyncClient, firing: dict[str, object] = FIRING, **kwargs: object
) -> httpx.Response:
    body = orjson.dumps(firing)
    return await client.post("/v1/retrain", content=body, headers=signed(body, **kwargs))  # type: ignore[arg-type]


async def test_a_signed_request_queues_a_job(client: httpx.AsyncClient) -> None:
    response = await post_firing(client)
    assert response.status_code == 202
    job = response.json()["job"]
    assert job["state"] == "queued"
    assert job["model"] == "credit"
    assert job["trigger"] == "drift:psi"
    assert job["evidence"]["evidence"] == [{"column": "income"}]
    fetched = await client.get(f"/v1/jobs/{response.json()['job_id']}")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == job["id"]


async def test_unsigned_request_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/retrain", content=orjson.dumps(FIRING))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the request is not signed"
    assert 'driftloop_controller_webhooks_total{answer="unauthorized"}' in (await client.get("/metrics")).text


async def test_wrong_signature_is_refused(client: httpx.AsyncClient) -> None:
    body = orjson.dumps(FIRING)
    headers = webhook.sign("another-secret", body, idempotency_key="f-1")
    response = await client.post("/v1/retrain", content=body, headers=headers)
    assert response.status_code == 401
    assert "does not match" in response.json()["error"]["message"]


async def test_tampered_body_is_refused(client: httpx.AsyncClient) -> None:
    body = orjson.dumps(FIRING)
    tampered = orjson.dumps({**FIRING, "model": "other"})
    response = await client.post("/v1/retrain", content=tampered, headers=signed(body))
    assert response.status_code == 401


async def test_replayed_old_signature_is_refused(client: httpx.AsyncClient) -> None:
    response = await post_firing(client, now=time.time() - 301)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]
    assert (await client.get("/v1/jobs")).json()["jobs"] == []


async def test_repeated_idempotency_key_gives_the_same_job(client: httpx.AsyncClient) -> None:
    first = await post_firing(client)
    again = await post_firing(client)  # a retried delivery: fresh signature, same key
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.json()["created"] is False
    assert len((await client.get("/v1/jobs", params={"model": "credit"})).json()["jobs"]) == 1


async def test_a_second_firing_while_a_job_is_active_is_coalesced(client: httpx.AsyncClient) -> None:
    first = await post_firing(client, key="f-1")
    second = await post_firing(client, {**FIRING, "firing_id": "f-2"}, key="f-2")
    assert second.status_code == 202  # accepted: the running job is working on it
    assert second.json()["job_id"] == first.json()["job_id"]
    assert (second.json()["created"], second.json()["coalesced"]) == (False, True)
    assert first.json()["coalesced"] is False
    assert len((await client.get("/v1/jobs")).json()["jobs"]) == 1
    assert 'driftloop_controller_webhooks_total{answer="coalesced"}' in (await client.get("/metrics")).text


async def test_a_firing_while_a_job_runs_joins_it_never_a_429(
    client: httpx.AsyncClient, controller: Controller
) -> None:
    running = controller.jobs.create("credit", "drift:feature-drift", {}, "earlier")
    assert controller.jobs.transition(running.id, (states.QUEUED,), states.RUNNING, started_at=states.now())
    response = await post_firing(client)
    assert response.status_code == 202
    assert response.json()["job_id"] == running.id
    assert response.json()["coalesced"] is True


@pytest.mark.parametrize("outcome", [states.SUCCEEDED, states.FAILED])
async def test_a_firing_right_after_a_retrain_queues_a_new_job(
    client: httpx.AsyncClient, controller: Controller, outcome: str
) -> None:
    # No wall-clock cooldown: a rejected (succeeded, not promoted) or failed retrain never blocks the next one.
    job = controller.jobs.create("credit", "drift:psi", {}, "earlier")
    assert controller.jobs.transition(job.id, (states.QUEUED,), outcome, finished_at=states.now())
    response = await post_firing(client)
    assert response.status_code == 202
    assert response.json()["created"] is True
    assert response.json()["job_id"] != job.id


async def test_a_change_point_is_kept_with_the_job(client: httpx.AsyncClient) -> None:
    change = {"time": "2026-03-01T12:00:00+01:00", "labelled": 640}
    response = await post_firing(client, {**FIRING, "change_point": change})
    assert response.status_code == 202
    assert response.json()["job"]["evidence"]["change_point"] == change


@pytest.mark.parametrize(
    ("change_point", "field"),
    [
        ({"labelled": 3}, "change_point.time"),
        ({"time": "yesterday"}, "change_point.time"),
        ({"time": "2026-03-01T12:00:00"}, "change_point.time"),  # no offset: which instant is it?
        ({"time": "2026-03-01T12:00:00Z", "labelled": -1}, "change_point.labelled"),
        ("2026-03-01T12:00:00Z", "change_point"),
    ],
)
async def test_a_malformed_change_point_is_a_422_naming_the_field(
    client: httpx.AsyncClient, change_point: object, field: str
) -> None:
    response = await post_firing(client, {**FIRING, "change_point": change_point})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == field
    assert (await client.get("/v1/jobs")).json()["jobs"] == []


@pytest.mark.parametrize(
    ("firing", "status", "field"),
    [({"trigger": "x"}, 422, "model"), ({"model": 3}, 422, "model"), ({"model": "unknown"}, 404, "model")],
)
async def test_bad_requests_name_the_field(
    client: httpx.AsyncClient, firing: dict[str, object], status: int, field: str
) -> None:
    response = await post_firing(client, firing)
    assert response.status_code == status
    assert response.json()["error"]["details"]["field"] == field


async def test_body_that_is_not_json_is_a_422(client: httpx.AsyncClient) -> None:
    body = b"{not json"
    response = await client.post("/v1/retrain", content=body, headers=signed(body))
    assert response.status_code == 422
    assert "not JSON" in response.json()["error"]["message"]


async def test_unknown_job_is_a_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/jobs/nope")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/models/credit/promote", {"version": 2, "reason": "test"}),
        ("POST", "/v1/models/credit/rollback", {"reason": "test"}),
    ],
)
async def test_state_changing_routes_need_the_admin_token(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, object]
) -> None:
    before = (await client.get("/v1/models/credit/versions")).json()["aliases"]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN}):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.get("/v1/models/credit/versions")).json()["aliases"] == before


async def test_promote_then_rollback_with_the_admin_token(client: httpx.AsyncClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    promoted = await client.post("/v1/models/credit/promote", json={"version": 2, "reason": "by hand"}, headers=admin)
    assert promoted.status_code == 200
    assert promoted.json() | {"rollout": None} == {
        "model": "credit", "champion": 2, "previous": 1, "reason": "by hand", "rollout": None,
    }  # fmt: skip
    rolled = await client.post("/v1/models/credit/rollback", json={"reason": "bad"}, headers=admin)
    assert rolled.status_code == 200
    assert rolled.json()["champion"] == 1
    versions = (await client.get("/v1/models/credit/versions")).json()
    assert versions["aliases"] == {"champion": 1}
    assert [v["version"] for v in versions["versions"]] == [1, 2]
    assert [move["reason"] for move in versions["history"]][-2:] == ["by hand", "bad"]


async def test_promote_names_the_bad_field(client: httpx.AsyncClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    response = await client.post("/v1/models/credit/promote", json={"version": "two"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "version"
    missing = await client.post("/v1/models/credit/promote", json={"version": 9}, headers=admin)
    assert missing.status_code == 404


async def test_cancel_needs_the_admin_token_and_cancels_once(client: httpx.AsyncClient) -> None:
    job_id = (await post_firing(client)).json()["job_id"]
    assert (await client.post(f"/v1/jobs/{job_id}/cancel")).status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN}"}
    cancelled = await client.post(f"/v1/jobs/{job_id}/cancel", headers=admin)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    again = await client.post(f"/v1/jobs/{job_id}/cancel", headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_finished"
    # A cancelled job is no longer active: a new firing queues a new job.
    assert (await post_firing(client, {**FIRING, "firing_id": "f-3"}, key="f-3")).status_code == 202


async def test_model_names_outside_the_registry_are_404s(client: httpx.AsyncClient, registry_path: Path) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for name in ("..", "missing", "%2E%2E%2Fescape"):
        assert (await client.post(f"/v1/models/{name}/rollback", headers=admin)).status_code == 404
        promoted = await client.post(f"/v1/models/{name}/promote", json={"version": 1}, headers=admin)
        assert promoted.status_code == 404
    assert (await post_firing(client, {"model": "../credit"})).status_code == 404
    assert not (registry_path.parent / "escape").exists()
