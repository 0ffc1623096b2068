"""``driftloop serve``: each service starts from the command line, its options win over the environment,
and scoring's workers each answer with telemetry files of their own."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from integration_servers import free_port

HEALTH = {"scoring": "/v2/health/live", "features": "/healthz", "forwarder": "/healthz", "controller": "/healthz"}
START_TIMEOUT_S = 90
UNBINDABLE = "192.0.2.1"  # TEST-NET-1: no local interface has it, so listening there fails


def _environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DRIFTLOOP_HOST": UNBINDABLE,  # the options below must win, or the service cannot start
        "DRIFTLOOP_PORT": str(free_port()),
        "DRIFTLOOP_REGISTRY__PATH": str(tmp_path / "registry"),
        "DRIFTLOOP_BUS__URL": f"sqlite:///{tmp_path / 'bus.db'}",
        "DRIFTLOOP_BUS__SPILL_PATH": str(tmp_path / "spill"),
        "DRIFTLOOP_STORE__URL": f"sqlite:///{tmp_path / 'store.db'}",
        "DRIFTLOOP_REGISTRY_PATH": "/a/typo",
    }


@contextlib.contextmanager
def _serve(
    tmp_path: Path, *args: str, environment: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "driftloop.cli.main", "serve", *args]
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            command,
            env={**_environment(tmp_path), **(environment or {})},
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, log
    finally:
        process.terminate()
        process.wait(timeout=60)


def _get(process: subprocess.Popen[bytes], log: Path, url: str) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert process.poll() is None, f"driftloop serve exited:\n{log.read_text()[-3000:]}"
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"no answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.1)  # polling a port that is not open yet; no event to wait on


@pytest.mark.parametrize("service", sorted(HEALTH))
def test_serve_listens_where_the_options_say(service: str, tmp_path: Path) -> None:
    port = free_port()
    with _serve(tmp_path, service, "--host", "127.0.0.1", "--port", str(port)) as (process, log):
        assert _get(process, log, f"http://127.0.0.1:{port}{HEALTH[service]}").status_code == 200
        # The typo in the environment is in the service's own log, with the name it was meant to be.
        warning = (
            "DRIFTLOOP_REGISTRY_PATH is set but no driftloop setting reads it; did you mean DRIFTLOOP_REGISTRY__PATH?"
        )
        assert warning in log.read_text()


# -- scoring with two workers ---------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # /proc/<pid>/stat: "pid (comm) state ppid ...", comm may hold spaces: split after ')'
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _open_files(pid: int) -> list[Path]:
    files = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            files.append(Path(os.readlink(fd)))
    return files


def _workers(parent: int) -> dict[int, int]:
    """Worker slot -> pid, read from the ``.worker-N.lock`` each worker holds open."""
    slots = {}
    for pid in _children(parent):
        for path in _open_files(pid):
            if found := re.fullmatch(r"\.worker-(\d+)\.lock", path.name):
                slots[int(found.group(1))] = pid
    return slots


@contextlib.contextmanager
def _only(others: list[int]) -> Iterator[None]:
    """Let none of ``others`` run meanwhile: a stopped worker accepts nothing, so every new
    connection goes to the one left."""
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def _refused(port: int) -> httpx.Response:
    response = httpx.post(f"http://127.0.0.1:{port}/v1/models/nope/predict", json={"records": [{}]}, timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    return response


def _answered_by(pid: int, others: list[int], port: int) -> str:
    """The request-id prefix (random per process) of the worker ``pid``, the only one let run meanwhile."""
    with _only(others):
        response = _refused(port)
    return response.headers["x-request-id"][:16]


def _two_workers(process: subprocess.Popen[bytes], log: Path, port: int) -> dict[int, int]:
    assert _get(process, log, f"http://127.0.0.1:{port}/v2/health/live").status_code == 200
    while log.read_text().count("Application startup complete") < 2:
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.1)  # polling the log for the second worker's start; no event to wait on
    workers = _workers(process.pid)
    assert sorted(workers) == [0, 1], workers
    return workers


def test_two_scoring_workers_answer_each_with_its_own_outbox(tmp_path: Path) -> None:
    port = free_port()
    spill = tmp_path / "spill"
    with _serve(tmp_path, "scoring", "--host", "127.0.0.1", "--port", str(port), "--workers", "2") as (process, log):
        workers = _two_workers(process, log, port)

        directories = {0: spill, 1: spill / "worker-1"}
        for slot, pid in workers.items():
            # The worker's telemetry outbox: its lock file is held open by that worker, in its directory only.
            outbox_locks = [p for p in _open_files(pid) if p.suffix == ".lock" and not p.name.startswith(".worker-")]
            assert outbox_locks, _open_files(pid)
            assert {lock.parent for lock in outbox_locks} == {directories[slot]}
            assert list(directories[slot].glob("*.outbox")), f"no outbox segments in {directories[slot]}"

        prefixes = {
            slot: _answered_by(pid, [other for other in workers.values() if other != pid], port)
            for slot, pid in workers.items()
        }
        assert prefixes[0] != prefixes[1]  # two processes answered


def test_a_worker_started_again_takes_over_its_slot(tmp_path: Path) -> None:
    port = free_port()
    with _serve(tmp_path, "scoring", "--host", "127.0.0.1", "--port", str(port), "--workers", "2") as (process, log):
        assert _get(process, log, f"http://127.0.0.1:{port}/v2/health/live").status_code == 200
        while sorted(workers := _workers(process.pid)) != [0, 1]:
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)  # polling until both workers hold their slot; no event to wait on
        os.kill(workers[1], signal.SIGKILL)
        # uvicorn starts a new worker in its place; the only free slot is the dead one's, with its files.
        while (replaced := _workers(process.pid)).get(1) in (None, workers[1]):
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)  # polling for the replacement worker; no event to wait on
        assert replaced[0] == workers[0]
        assert sorted(replaced) == [0, 1]


REFUSED = re.compile(r'^driftloop_scoring_requests_total\{model="_unknown",route="predict",status="404"\} (\S+)$', re.M)


def test_two_scoring_workers_answer_one_metrics_for_both(tmp_path: Path) -> None:
    port, directory = free_port(), tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_12345.db").write_bytes(b"a previous run's")  # not this run's: removed at start
    serve = ("scoring", "--host", "127.0.0.1", "--port", str(port), "--workers", "2")
    with _serve(tmp_path, *serve, environment={"PROMETHEUS_MULTIPROC_DIR": str(directory)}) as (process, log):
        workers = _two_workers(process, log, port)
        for slot, requests in ((0, 3), (1, 2)):
            with _only([pid for other, pid in workers.items() if other != slot]):
                for _ in range(requests):
                    _refused(port)

        for pid in workers.values():
            with _only([other for other in workers.values() if other != pid]):
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
            # Whichever worker answers the scrape counts both workers' requests: 3 + 2.
            assert [float(value) for value in REFUSED.findall(text)] == [5.0], text[-2000:]
            # The scrape-time gauge crosses processes too: one merged series per source.
            assert re.search(r'^driftloop_telemetry_buffer_depth\{source="[^"]+"\} \S+$', text, re.M), text

        # The relays' figures come to /metrics through their workers: a relay writes no file of its own.
        relays = [child for pid in workers.values() for child in _children(pid)]
        files = {path.name for path in directory.glob("*.db")}
        assert relays
        assert files
        assert "counter_12345.db" not in files
        assert not [name for name in files if any(name.endswith(f"_{relay}.db") for relay in relays)]
