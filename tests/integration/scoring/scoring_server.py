"""A real scoring server (uvicorn, uvloop, httptools) on 127.0.0.1, as the benchmark and the docs start it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from integration_servers import free_port

from driftloop.registry import Registry

STARTUP_TIMEOUT_S = 30.0


class ScoringServer:
    """One scoring process, started with the command the benchmark and the docs give."""

    def __init__(self, workdir: Path, env: dict[str, str], command: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / "scoring.log"
        self.env = {**os.environ, **env}
        self.command = command or [
            sys.executable, "-m", "uvicorn", "--factory", "driftloop_scoring.app:create_app",
            "--loop", "uvloop", "--http", "httptools", "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command, cwd=self.workdir, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling a process we do not control: nothing to wait on but the port
        self.stop()
        raise RuntimeError(f"the scoring server did not become ready; its log:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def log(self) -> str:
        return self.log_path.read_text()


def server_env(registry: Registry, workdir: Path, **extra: str) -> dict[str, str]:
    return {
        "DRIFTLOOP_REGISTRY__PATH": str(registry.root),
        "DRIFTLOOP_BUS__URL": f"sqlite:///{workdir}/bus.db",
        "DRIFTLOOP_BUS__SPILL_PATH": str(workdir / "spill"),
        **extra,
    }
