"""``driftloop serve``: each service starts from the command line and answers its health probe."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from integration_servers import free_port

HEALTH = {"scoring": "/v2/health/live", "features": "/healthz", "forwarder": "/healthz", "controller": "/healthz"}


@pytest.mark.parametrize("service", sorted(HEALTH))
def test_serve_starts_the_service(service: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DRIFTLOOP_PORT": str(port),
        "DRIFTLOOP_REGISTRY__PATH": str(tmp_path / "registry"),
        "DRIFTLOOP_BUS__URL": f"sqlite:///{tmp_path / 'bus.db'}",
        "DRIFTLOOP_STORE__URL": f"sqlite:///{tmp_path / 'store.db'}",
    }
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "driftloop.cli.main", "serve", service]
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"driftloop serve {service} exited:\n{log.read_text()[-3000:]}"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}{HEALTH[service]}", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"no answer within 60 s:\n{log.read_text()[-3000:]}"
                time.sleep(0.1)  # polling a port that is not open yet
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
