"""The chart's pods as processes here: a service started with exactly the environment the chart renders
for its container (the ConfigMap, then its own variables; what the Secret and the pod's volumes would
give passed as overrides), on a free port of 127.0.0.1. No cluster runs here; this is the closest a
test gets to a pod: the same command, the same settings.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from ship_helpers import Manifests, find

START_LIMIT_S = 60.0
# The module each image's entry point runs (docker/<service>.Dockerfile: python -m driftloop_<x>).
ENTRY_POINTS = {
    "scoring": ["-m", "driftloop.cli.main", "serve", "scoring"],
    "feature-engineering": ["-m", "driftloop_features"],
    "retrain-controller": ["-m", "driftloop_controller"],
}
LIVENESS = {"scoring": "/v2/health/live", "feature-engineering": "/healthz", "retrain-controller": "/healthz"}


def values_of(env: list[dict[str, Any]]) -> dict[str, str]:
    """The plain ``value`` variables of a container (not the ``valueFrom`` ones)."""
    return {e["name"]: e["value"] for e in env if "value" in e}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deployment(manifests: Manifests, component: str) -> dict[str, Any]:
    [found] = [d for d in find(manifests, "Deployment") if d["metadata"]["name"].endswith(f"-{component}")]
    return found


def rendered_env(manifests: Manifests, component: str) -> dict[str, str]:
    """The ConfigMap's variables, then the container's own (later wins, as in a pod)."""
    [container] = deployment(manifests, component)["spec"]["template"]["spec"]["containers"]
    [source] = container["envFrom"]
    [config] = find(manifests, "ConfigMap", source["configMapRef"]["name"])
    return {**config["data"], **values_of(container["env"])}


@contextmanager
def serving_files(directory: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving ``directory``: its base URL."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def service_from_chart(manifests: Manifests, component: str, tmp: Path, **overrides: str) -> Iterator[str]:
    """The component's entry point with its rendered environment and ``overrides``; its base URL once live."""
    port = free_port()
    env = {
        **os.environ,
        **rendered_env(manifests, component),
        # What the pod's volumes give it, and this machine's loopback instead of 0.0.0.0.
        "DRIFTLOOP_BUS__SPILL_PATH": str(tmp / f"spill-{component}"),
        "DRIFTLOOP_HOST": "127.0.0.1",
        "DRIFTLOOP_PORT": str(port),
        **overrides,
    }
    log = tmp / f"{component}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, *ENTRY_POINTS[component]], env=env, cwd=tmp, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + START_LIMIT_S
        while True:
            assert process.poll() is None, f"{component} exited:\n{log.read_text()[-3000:]}"
            try:
                httpx.get(base + LIVENESS[component], timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < give_up, f"{component} did not start:\n{log.read_text()[-3000:]}"
                time.sleep(0.1)  # the port is not open yet
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_script(script: str, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -c script args`` with only ``env`` (and this interpreter's directory first on PATH, as the
    images put their venv first: ``driftloop`` is found)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    command = [sys.executable, "-c", script, *args]
    return subprocess.run(command, env={**env, "PATH": path}, capture_output=True, text=True, timeout=timeout)
