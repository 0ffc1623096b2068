"""Helpers of the controller's integration tests: a running controller, waiting for a job.

A module of its own because test modules cannot import a conftest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from driftloop_controller.app import create_app
from driftloop_controller.settings import ControllerSettings

SECRET = "integration-secret"
ADMIN = "integration-admin"
KUBE_TOKEN = "service-account-token"
FINISHED = ("succeeded", "failed", "cancelled")
# A short search and a light bootstrap: what every job of these tests needs to finish promptly.
FAST_RETRAIN: dict[str, Any] = {
    "training": {"time_budget": 5, "max_trials": 2, "families": ["linear"]},
    "gate": {"bootstrap": 300},
}


def write_policy(path: Path, **retrain: Any) -> str:
    """A policy file (JSON is YAML) whose ``retrain`` block is FAST_RETRAIN with ``retrain``'s blocks over it."""
    path.write_bytes(orjson.dumps({"retrain": {**FAST_RETRAIN, **retrain}}))
    return str(path)


@asynccontextmanager
async def running(settings: ControllerSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The controller app with its lifespan (job queue, worker process) and a client over ASGITransport."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://controller", timeout=30) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def wait_for(client: httpx.AsyncClient, job_id: str, until: Any = None, patience: float = 120) -> dict[str, Any]:
    """Poll the job until ``until(job)`` holds (default: it finished); fail after ``patience`` seconds."""
    until = until or (lambda job: job["state"] in FINISHED)
    deadline = time.monotonic() + patience
    while True:
        job: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}")).json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not get there in {patience}s: {job}")
        await asyncio.sleep(0.05)
