"""The servers under test: how each is installed, started, called, checked and stopped.

Every server runs as one worker on 127.0.0.1 on a free port, in its own process group so that
stopping it also stops the workers it forked (gunicorn, MLServer). Readiness is polled on the
server's health URL, never assumed after a sleep.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from model import MODEL_NAME, Artifacts

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
READY_TIMEOUT_SECONDS = 120.0
# Probabilities from onnxruntime (float32) and scikit-learn (float64) agree to about 1e-7.
PROBABILITY_TOLERANCE = 1e-4

Probabilities = Callable[[Any], list[float]]


@dataclass
class Server:
    """One server to benchmark; ``command`` and ``env`` may use ``{port}`` placeholders."""

    key: str
    name: str
    command: list[str]
    health_path: str
    predict_path: str
    body: Callable[[list[dict[str, Any]]], Any]
    """The request body for a list of records, in this server's API."""
    probabilities: Probabilities | None
    """Class-1 probability of each record from a response body; None for the constant endpoint."""
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[dict[str, int]], None] | None = None
    """Writes config files that need the ports before start (MLServer's settings.json)."""
    extra_ports: tuple[str, ...] = ()


@dataclass
class Running:
    server: Server
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def predict_url(self) -> str:
        return self.base_url + self.server.predict_path


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of every live process in a process group (the server and its
    workers), and of their children in other groups (the telemetry relay runs in its own session)."""
    processes: dict[int, tuple[int, int, int]] = {}  # pid -> (ppid, pgrp, ticks)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command: state, ppid, pgrp, ...
            processes[int(stat.parent.name)] = (int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]))
    group = {pid for pid, (_, pgrp, _) in processes.items() if pgrp == pgid}
    children = {pid for pid, (ppid, pgrp, _) in processes.items() if ppid in group and pgrp != pgid}
    tick = os.sysconf("SC_CLK_TCK")
    return sum(processes[pid][2] for pid in group) / tick, sum(processes[pid][2] for pid in children) / tick


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(server: Server, log_dir: Path) -> Iterator[Running]:
    """Start ``server``, wait until its health URL answers 200, and always stop it afterwards."""
    ports = {"port": free_port(), **{name: free_port() for name in server.extra_ports}}
    if server.prepare:
        server.prepare(ports)
    command = [part.format(**ports) for part in server.command]
    env = {**os.environ, **{k: v.format(**ports) for k, v in server.env.items()}}
    log = log_dir / f"server-{server.key}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, cwd=log_dir
        )
    handle = Running(server, process, f"http://127.0.0.1:{ports['port']}", log)
    try:
        _wait_ready(handle)
        yield handle
    finally:
        _stop(process)


def _wait_ready(handle: Running) -> None:
    url = handle.base_url + handle.server.health_path
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise RuntimeError(f"{handle.server.name} exited with {handle.process.returncode}:\n{_tail(handle.log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)  # poll interval, not a wait for readiness
    raise RuntimeError(f"{handle.server.name} not ready after {READY_TIMEOUT_SECONDS:.0f} s:\n{_tail(handle.log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Workers that outlived their parent share its process group.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def post(url: str, body: Any) -> tuple[int, Any]:
    """One POST of a JSON body; returns the status and the parsed response body."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def check(handle: Running, records: list[dict[str, Any]], expected: list[float]) -> None:
    """Fail unless the server answers ``records`` with 200 and the pipeline's own probabilities."""
    server = handle.server
    status, body = post(handle.predict_url, server.body(records))
    if status != 200:
        raise RuntimeError(f"{server.name} answered {status}: {str(body)[:500]}")
    if server.probabilities is None:
        return
    try:
        got = server.probabilities(body)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise RuntimeError(f"{server.name} answered an unexpected body ({exc!r}): {str(body)[:500]}") from None
    if len(got) != len(expected) or any(
        abs(g - e) > PROBABILITY_TOLERANCE for g, e in zip(got, expected, strict=False)
    ):
        raise RuntimeError(f"{server.name} answered probabilities {got}, the pipeline gives {expected}")


# -- the servers --------------------------------------------------------------------------


def ensure_venv(name: str, requirements: list[str]) -> Path:
    """bench/.venv-<name> with ``requirements`` installed; reused while the list is unchanged."""
    venv = ROOT / "bench" / f".venv-{name}"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(requirements)
    if marker.exists() and marker.read_text() == wanted:
        return venv
    base = getattr(sys, "_base_executable", sys.executable)
    print(f"creating {venv} (one-off, a few minutes)", flush=True)
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *requirements], check=True)
    marker.write_text(wanted)
    return venv


def _pinned(*packages: str) -> list[str]:
    """The main venv's versions, so that the pickled pipeline loads in the baselines' venvs."""
    return [f"{package}=={version(package)}" for package in packages]


def _class1(rows: list[list[float]]) -> list[float]:
    return [float(row[1]) for row in rows]


def flask_server(art: Artifacts) -> Server:
    venv = ensure_venv(
        "flask",
        ["flask", "gunicorn", "protobuf<7", *_pinned("scikit-learn", "numpy", "pandas", "skl2onnx")],
    )
    return Server(
        key="a",
        name="Flask + scikit-learn (gunicorn, 1 sync worker)",
        command=[
            str(venv / "bin" / "gunicorn"),
            "--workers=1",
            "--worker-class=sync",
            "--bind=127.0.0.1:{port}",
            f"--chdir={APPS}",
            "flask_app:create_app()",
        ],
        env={"OMP_NUM_THREADS": "1", "BENCH_PICKLE": str(art.pickle), "BENCH_CONTRACT": str(art.contract_path)},
        health_path="/health",
        predict_path="/predict",
        body=lambda records: {"records": records},
        probabilities=lambda body: _class1(body["probabilities"]),
    )


def mlserver_server(art: Artifacts, parallel_workers: int) -> Server:
    venv = ensure_venv(
        "mlserver",
        [
            "mlserver==1.7.1",
            "mlserver-sklearn==1.7.1",
            "uvloop==0.21.*",  # 1.7.1's parallel workers failed to start with uvloop 0.23
            "protobuf<7",
            *_pinned("scikit-learn", "numpy", "skl2onnx"),
        ],
    )
    home = art.directory / "mlserver"
    model_dir = home / MODEL_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.joblib").write_bytes(art.joblib.read_bytes())
    model_settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings))

    def prepare(ports: dict[str, int]) -> None:
        settings = {
            "host": "127.0.0.1",
            "http_port": ports["port"],
            "grpc_port": ports["grpc"],
            "metrics_port": ports["metrics"],
            "parallel_workers": parallel_workers,
        }
        (home / "settings.json").write_text(json.dumps(settings))

    kinds = {spec.name: spec.kind.value for spec in art.contract.columns}

    def body(records: list[dict[str, Any]]) -> dict[str, Any]:
        # The pandas codec: one input per column, the whole request decoded to a DataFrame.
        inputs = v2_inputs(records, kinds)
        return {"parameters": {"content_type": "pd"}, "inputs": inputs, "outputs": [{"name": "predict_proba"}]}

    return Server(
        key="b",
        name=f"MLServer 1.7.1 scikit-learn runtime (parallel_workers={parallel_workers})",
        command=[str(venv / "bin" / "mlserver"), "start", str(home)],
        env={"OMP_NUM_THREADS": "1"},
        health_path=f"/v2/models/{MODEL_NAME}/ready",
        predict_path=f"/v2/models/{MODEL_NAME}/infer",
        body=body,
        probabilities=lambda response: v2_class1(response, "predict_proba"),
        prepare=prepare,
        extra_ports=("grpc", "metrics"),
    )


def v2_inputs(records: list[dict[str, Any]], kinds: dict[str, str]) -> list[dict[str, Any]]:
    """Open Inference Protocol V2 input tensors: one per column, BYTES for categoricals."""
    return [
        {
            "name": name,
            "shape": [len(records)],
            "datatype": "BYTES" if kind == "categorical" else "FP64",
            "data": [record[name] for record in records],
        }
        for name, kind in kinds.items()
    ]


def v2_class1(response: dict[str, Any], output_name: str) -> list[float]:
    """Class-1 probabilities from a V2 response's ``[N, 2]`` probability output."""
    output = response["outputs"][0]
    if output["name"] != output_name or output["shape"][-1] != 2:
        raise ValueError(f"output {output['name']!r} of shape {output['shape']}")
    return [float(v) for v in output["data"]][1::2]


def _uvicorn(app: str, *extra: str) -> list[str]:
    return [
        str(MAIN_PYTHON),
        "-m",
        "uvicorn",
        *extra,
        app,
        "--loop=uvloop",
        "--http=httptools",
        "--host=127.0.0.1",
        "--port={port}",
        "--workers=1",
        "--no-access-log",
    ]


def onnx_server(art: Artifacts) -> Server:
    return Server(
        key="c",
        name="minimal FastAPI + onnxruntime",
        command=_uvicorn("onnx_app:create_app", "--factory", f"--app-dir={APPS}"),
        env={"BENCH_ONNX_MODEL": str(art.onnx), "BENCH_CONTRACT": str(art.contract_path)},
        health_path="/health",
        predict_path="/predict",
        body=lambda records: {"records": records},
        probabilities=lambda body: _class1(body["probabilities"]),
    )


def constant_server() -> Server:
    return Server(
        key="d",
        name="raw ASGI constant (HTTP ceiling)",
        command=_uvicorn("constant_app:app", f"--app-dir={APPS}"),
        health_path="/",
        predict_path="/predict",
        body=lambda records: {"records": records},
        probabilities=None,
    )


def driftloop_probabilities(body: dict[str, Any]) -> list[float]:
    """Class-1 probabilities from the predict response (a list per class, or a map by label)."""
    if "version" not in body:
        raise KeyError("version")
    result = []
    for prediction in body["predictions"]:
        probabilities = prediction["probabilities"]
        if isinstance(probabilities, dict):
            value = probabilities.get("1", probabilities.get(1))
            if value is None:
                raise KeyError("probabilities['1']")
            result.append(float(value))
        else:
            result.append(float(probabilities[1]))
    return result


def driftloop_server(
    art: Artifacts,
    *,
    telemetry_off_env: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    alternative_env: dict[str, str] | None = None,
) -> Server:
    """The service on ``/v1/.../predict``; telemetry on (each server its own embedded bus) unless switched off.

    ``extra_env`` overrides the service's settings (e.g. a Kafka bus URL instead of the embedded bus);
    ``alternative_env`` makes server e-alt, telemetry on with other settings (e.g. no relay process).
    """
    key = "e-off" if telemetry_off_env is not None else "e-alt" if alternative_env else "e"
    return dataclasses.replace(
        _driftloop(art, key, {**(extra_env or {}), **(telemetry_off_env or {}), **(alternative_env or {})}),
        name={
            "e": "driftloop scoring (validation + telemetry)",
            "e-off": "driftloop scoring (telemetry off)",
            "e-alt": "driftloop scoring (validation + telemetry, "
            + ", ".join(f"{k}={v}" for k, v in (alternative_env or {}).items())
            + ")",
        }[key],
    )


EVENT_TIME = "2026-11-27T12:00:00Z"


def driftloop_event_time_server(art: Artifacts, *, extra_env: dict[str, str] | None = None) -> Server:
    """Server e with each request saying when its records happened (docs/telemetry.md, "Event time"):
    one RFC 3339 time for a 1-record body, one Unix time per record for a batch."""

    def body(records: list[dict[str, Any]]) -> dict[str, Any]:
        start = 1_795_780_800.0
        event_time: Any = EVENT_TIME if len(records) == 1 else [start + i for i in range(len(records))]
        return {"records": records, "event_time": event_time}

    return dataclasses.replace(
        _driftloop(art, "e-time", extra_env or {}),
        name="driftloop scoring (validation + telemetry), requests with event_time",
        body=body,
    )


def _driftloop(art: Artifacts, key: str, env_overrides: dict[str, str]) -> Server:
    env = {
        "DRIFTLOOP_REGISTRY__PATH": str(art.registry),
        "DRIFTLOOP_BUS__URL": f"sqlite:///{art.directory}/bus-{key}.db",
        "DRIFTLOOP_BUS__SPILL_PATH": str(art.directory / f"spill-{key}"),
        **env_overrides,
    }
    return Server(
        key=key,
        name=key,
        command=_uvicorn("driftloop_scoring.app:create_app", "--factory"),
        env=env,
        health_path="/v2/health/ready",
        predict_path=f"/v1/models/{MODEL_NAME}/predict",
        body=lambda records: {"records": records},
        probabilities=driftloop_probabilities,
    )


def driftloop_workers_server(art: Artifacts, workers: int, *, extra_env: dict[str, str] | None = None) -> Server:
    """Server e started as users start it (``python -m driftloop_scoring``) with ``workers`` uvicorn
    workers on one port, each with its own telemetry files and one /metrics for all of them."""
    key = f"e-{workers}w"
    server = _driftloop(art, key, {"DRIFTLOOP_WORKERS": str(workers), "DRIFTLOOP_HOST": "127.0.0.1",
                                   "DRIFTLOOP_PORT": "{port}", **(extra_env or {})})  # fmt: skip
    return dataclasses.replace(
        server, name=f"driftloop scoring, {workers} workers", command=[str(MAIN_PYTHON), "-m", "driftloop_scoring"]
    )


def driftloop_v2_server(art: Artifacts) -> Server:
    """The service on its V2 route with MLServer's request: the same protocol as (b)."""
    kinds = {spec.name: spec.kind.value for spec in art.contract.columns}
    return Server(
        key="e-v2",
        name="driftloop scoring, V2 infer (validation + telemetry)",
        command=_uvicorn("driftloop_scoring.app:create_app", "--factory"),
        env={
            "DRIFTLOOP_REGISTRY__PATH": str(art.registry),
            "DRIFTLOOP_BUS__URL": f"sqlite:///{art.directory}/bus-e-v2.db",
            "DRIFTLOOP_BUS__SPILL_PATH": str(art.directory / "spill-e-v2"),
        },
        health_path="/v2/health/ready",
        predict_path=f"/v2/models/{MODEL_NAME}/infer",
        body=lambda records: {"inputs": v2_inputs(records, kinds), "outputs": [{"name": "probabilities"}]},
        probabilities=lambda response: v2_class1(response, "probabilities"),
    )
