"""docker/healthcheck.py, the images' HEALTHCHECK, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ship_helpers import ROOT

SCRIPT = ROOT / "docker" / "healthcheck.py"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        status = {"/v2/health/live": 200, "/v2/health/ready": 503}.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def healthcheck(port: int, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIFTLOOP_PORT": str(port)}
    return subprocess.run([sys.executable, str(SCRIPT), path], env=env, capture_output=True, text=True, check=False)


def test_healthy_on_200(port: int) -> None:
    assert healthcheck(port, "/v2/health/live").returncode == 0


def test_unhealthy_on_an_error_status_and_says_why(port: int) -> None:
    result = healthcheck(port, "/v2/health/ready")
    assert result.returncode == 1
    assert "503" in result.stderr


def test_unhealthy_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = int(sock.getsockname()[1])
    result = healthcheck(free, "/healthz")
    assert result.returncode == 1
    assert f"127.0.0.1:{free}/healthz" in result.stderr
