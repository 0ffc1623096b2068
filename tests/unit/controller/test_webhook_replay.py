"""Replaying a captured signed retrain request never creates a second job.

Each replay comes after the original's job has *finished* (failed, so no cooldown either): the
model has no active job to coalesce into, and only the signed key can stop a second job.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import httpx
import orjson
import pytest
from controller_support import SECRET

from driftloop import webhook
from driftloop.store import jobs as states
from driftloop_controller.controller import Controller

pytestmark = pytest.mark.anyio

BODY = orjson.dumps({"firing_id": "f-1", "model": "credit", "trigger": "drift:psi"})
Tally = Callable[[str, object], None]


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return await client.post("/v1/retrain", content=body, headers={"Content-Type": "application/json", **headers})


def finish(controller: Controller, job_id: str) -> None:
    assert controller.jobs.transition(job_id, (states.QUEUED,), states.FAILED, finished_at=states.now())


async def jobs(client: httpx.AsyncClient) -> int:
    return len((await client.get("/v1/jobs")).json()["jobs"])


async def test_a_replay_with_another_key_or_none_is_refused(
    client: httpx.AsyncClient, controller: Controller, record_property: Tally
) -> None:
    captured = webhook.sign(SECRET, BODY, idempotency_key="f-1")
    first = await post(client, captured)
    assert first.status_code == 202
    finish(controller, first.json()["job_id"])
    replays = [
        {**captured, webhook.IDEMPOTENCY_HEADER: "f-1-replayed"},  # a new key within the tolerance window
        {k: v for k, v in captured.items() if k != webhook.IDEMPOTENCY_HEADER},  # the key dropped
    ]
    for headers in replays:
        response = await post(client, headers)
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "the signature does not match"
    assert await jobs(client) == 1
    record_property("tally", ("webhook replays", {"replays": len(replays), "second jobs": await jobs(client) - 1}))


async def test_a_request_signed_without_a_key_sent_twice_makes_one_job(
    client: httpx.AsyncClient, controller: Controller, record_property: Tally
) -> None:
    captured = webhook.sign(SECRET, BODY)
    assert webhook.IDEMPOTENCY_HEADER not in captured
    first = await post(client, captured)
    assert first.status_code == 202
    assert first.json()["job"]["idempotency_key"].startswith("sig-")  # keyed by its signature
    finish(controller, first.json()["job_id"])
    again = await post(client, captured)
    assert again.status_code == 200
    assert again.json()["job_id"] == first.json()["job_id"]
    assert await jobs(client) == 1
    # A new request (signed at another time) is not a replay: it makes its own job.
    fresh = await post(client, webhook.sign(SECRET, BODY, now=time.time() + 1))
    assert fresh.status_code == 202
    assert await jobs(client) == 2
    record_property("tally", ("webhook replays", {"replays": 1, "second jobs": 0}))


async def test_a_retried_delivery_with_the_same_key_gets_the_same_job(
    client: httpx.AsyncClient, controller: Controller
) -> None:
    first = await post(client, webhook.sign(SECRET, BODY, idempotency_key="f-1"))
    finish(controller, first.json()["job_id"])
    retried = await post(client, webhook.sign(SECRET, BODY, idempotency_key="f-1", now=time.time() + 5))
    assert retried.status_code == 200
    assert retried.json()["job_id"] == first.json()["job_id"]


async def test_the_first_scheme_is_refused_with_the_reason(client: httpx.AsyncClient) -> None:
    stamp = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {
        webhook.TIMESTAMP_HEADER: str(stamp),
        webhook.SIGNATURE_HEADER: f"sha256={digest}",  # timestamp + body: the key was not signed
        webhook.IDEMPOTENCY_HEADER: "f-1",
    }
    response = await post(client, headers)
    assert response.status_code == 401
    assert "does not cover the Idempotency-Key" in response.json()["error"]["message"]
    assert await jobs(client) == 0


@pytest.mark.parametrize("key", ["k" * 201, "with space", "caf\u00e9"])
async def test_a_key_the_job_store_cannot_hold_is_a_422(client: httpx.AsyncClient, key: str) -> None:
    headers: dict[str, str | bytes] = {**webhook.sign(SECRET, BODY, idempotency_key=key)}
    headers[webhook.IDEMPOTENCY_HEADER] = key.encode("latin-1")  # HTTP headers are bytes: the server reads Latin-1
    response = await client.post("/v1/retrain", content=BODY, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "Idempotency-Key"}
    assert await jobs(client) == 0
