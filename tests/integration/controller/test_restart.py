"""A controller killed mid-job (SIGKILL, a real process).

Its training worker dies with it, and after a restart the job is failed and the registry unchanged.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import orjson
from controller_harness import SECRET, running, wait_for, write_policy
from integration_servers import free_port
from standins import FeaturesStandIn

from driftloop import webhook
from driftloop.registry import Registry
from driftloop_controller.settings import ControllerSettings


def start_controller(settings: ControllerSettings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DRIFTLOOP_PORT": str(port),
        "DRIFTLOOP_REGISTRY__PATH": str(settings.registry.path),
        "DRIFTLOOP_STORE__URL": settings.store.url,
        "DRIFTLOOP_WEBHOOK__SECRET": SECRET,
        "DRIFTLOOP_FEATURES__URL": settings.features.url,
        "DRIFTLOOP_FEATURES__POLL_SECONDS": "0.05",
        # Still training when it is killed.
        "DRIFTLOOP_POLICY": write_policy(
            log.with_name("policy.yaml"), training={"time_budget": 120, "families": ["linear"]}
        ),
        "DRIFTLOOP_LOG__JSON_LOGS": "false",
    }
    with open(log, "wb") as output:
        return subprocess.Popen([sys.executable, "-m", "driftloop_controller"], env=env, stdout=output, stderr=output)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the controller exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # waiting for a process to listen: there is nothing to be notified by
    raise AssertionError(f"the controller did not become healthy: {log.read_text()[-2000:]}")


def test_killed_controller_leaves_the_job_failed_after_restart(
    settings: ControllerSettings, registry: Registry, features: tuple[FeaturesStandIn, str],
    after_shift: tuple[object, object], tmp_path: Path,
) -> None:  # fmt: skip
    features[0].datasets["credit"] = after_shift  # type: ignore[assignment]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_controller(settings, port, tmp_path / "controller.log")
    try:
        wait_healthy(url, process, tmp_path / "controller.log")
        body = orjson.dumps({"firing_id": "crash-1", "model": "credit", "trigger": "drift:psi"})
        headers = webhook.sign(SECRET, body, idempotency_key="crash-1")
        job_id = httpx.post(f"{url}/v1/retrain", content=body, headers=headers).json()["job_id"]
        deadline = time.monotonic() + 60
        while not (
            training := [line for line in httpx.get(f"{url}/v1/jobs/{job_id}").json()["log"] if "worker" in line]
        ):
            assert time.monotonic() < deadline, "the job never started training"
            time.sleep(0.05)
        worker_pid = int(re.search(r"worker process (\d+)", training[0]).group(1))  # type: ignore[union-attr]
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        # The kernel kills the orphaned worker (PR_SET_PDEATHSIG): it cannot register a version later.
        deadline = time.monotonic() + 10
        while _alive(worker_pid):
            assert time.monotonic() < deadline, f"the training worker {worker_pid} outlived its controller"
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)

    async def restarted() -> dict[str, object]:
        async with running(settings) as client:
            finished: dict[str, object] = await wait_for(client, job_id)
            return finished

    job = anyio.run(restarted)
    assert job["state"] == "failed"
    assert "the controller stopped while the job was running" in str(job["error"])
    assert registry.versions("credit") == [1]
    assert registry.aliases("credit") == {"champion": 1}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
