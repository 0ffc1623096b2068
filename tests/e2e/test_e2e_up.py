"""``driftloop up`` as a user runs it: trains the sample model when there is none, starts the four
services, and stops every one of them on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from driftloop.registry import Registry

pytestmark = pytest.mark.slow


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def four_consecutive_free_ports() -> int:
    """A base port such that base .. base+3 can all be bound on 127.0.0.1 (`up` numbers from a base)."""
    for base in range(20_000, 60_000, 97):
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + 4):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no four consecutive free ports between 20000 and 60000")


def test_up_starts_the_four_services_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    base = four_consecutive_free_ports()
    all_ports = [base, base + 1, base + 2, base + 3]
    home = tmp_path / "home"
    command = [sys.executable, "-m", "driftloop.cli.main", "up", "--home", str(home)]
    command += ["--time-budget", "3", "--base-port", str(base)]
    log = (tmp_path / "up.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        with httpx.Client(timeout=2.0) as client:
            # No deadline: until it says Ready or exits (the suite's own time limit bounds it).
            while "Ready." not in (tmp_path / "up.log").read_text():
                assert process.poll() is None, (tmp_path / "up.log").read_text()
                time.sleep(0.2)  # polling the output of another process
            output = (tmp_path / "up.log").read_text()
            assert "Ready." in output, output
            assert client.get(f"http://127.0.0.1:{base}/v2/health/ready").status_code == 200
            for port in all_ports[1:]:
                assert client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            models = client.get(f"http://127.0.0.1:{base}/v1/models").json()
        assert "credit" in str(models)
        assert Registry(home / "registry").aliases("credit")["champion"] == 1
        for port in all_ports:
            assert f":{port}" in output
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        log.close()
    assert code == 0, (tmp_path / "up.log").read_text()
    assert not any(_port_open(port) for port in all_ports)
