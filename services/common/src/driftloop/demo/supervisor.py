"""Run the four services as child processes under one home directory, and stop them all.

Used by ``driftloop up``, ``driftloop demo``, the end-to-end tests and the loop benchmark. Each
service is ``python -m driftloop_<x>`` (what its container runs) with an environment built from
``ServiceSpec``; its output goes to ``<home>/logs/<name>.log``. Readiness is polled on the health
endpoint; a process that exits while starting, or later, is reported with the tail of its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from driftloop.errors import ConfigError, DriftloopError

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.1


class ServiceFailed(DriftloopError):
    """A service did not start, or died while running."""

    status_code = 500
    code = "service_failed"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port: int
    health: str
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class Ports:
    scoring: int = 8080
    features: int = 8081
    forwarder: int = 8082
    controller: int = 8083

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """Scoring on ``base``, the others on the next three ports (what ``driftloop up`` does)."""
        return cls(base, base + 1, base + 2, base + 3)

    def check_free(self) -> None:
        """Raise ``ConfigError`` naming the first port that something on 127.0.0.1 already holds."""
        for name, port in asdict(self).items():
            with socket.socket() as sock:
                # As uvicorn binds: connections of a stopped service in TIME_WAIT do not hold the port.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((HOST, port))
                except OSError:
                    raise ConfigError(f"port {port} ({name}) on {HOST} is in use: choose another --base-port") from None


def home_environment(home: Path, *, bus_url: str | None = None, store_url: str | None = None) -> dict[str, str]:
    """The settings every service shares: registry, bus, store and spill under ``home``, plain logs."""
    home = home.resolve()
    return {
        "DRIFTLOOP_REGISTRY__PATH": str(home / "registry"),
        "DRIFTLOOP_BUS__URL": bus_url or f"sqlite:///{home / 'bus.db'}",
        "DRIFTLOOP_BUS__SPILL_PATH": str(home / "spill"),
        "DRIFTLOOP_STORE__URL": store_url or f"sqlite:///{home / 'store.db'}",
        "DRIFTLOOP_LOG__JSON_LOGS": "false",
    }


def service_specs(
    home: Path,
    ports: Ports = Ports(),
    *,
    shared: Mapping[str, str] | None = None,
    extra: Mapping[str, Mapping[str, str]] | None = None,
) -> list[ServiceSpec]:
    """The four services on ``ports``, wired to each other; ``extra`` adds settings per service name."""
    base = dict(shared if shared is not None else home_environment(home))
    extra = extra or {}
    home = home.resolve()
    wiring = {
        "features": {
            "DRIFTLOOP_FEATURES__DATASETS_DIR": str(home / "datasets"),
        },
        "controller": {
            "DRIFTLOOP_FEATURES__URL": f"http://{HOST}:{ports.features}",
        },
        "forwarder": {
            "DRIFTLOOP_WEBHOOK__URL": f"http://{HOST}:{ports.controller}/v1/retrain",
        },
        "scoring": {},
    }
    layout = [
        ("scoring", "driftloop_scoring", ports.scoring, "/v2/health/ready"),
        ("features", "driftloop_features", ports.features, "/healthz"),
        ("forwarder", "driftloop_forwarder", ports.forwarder, "/healthz"),
        ("controller", "driftloop_controller", ports.controller, "/healthz"),
    ]
    return [
        ServiceSpec(name, module, port, health, {**base, **wiring[name], **extra.get(name, {})})
        for name, module, port, health in layout
    ]


def log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Supervisor:
    """Starts services in order, waits for each to be healthy, stops them all (also on error)."""

    def __init__(self, specs: list[ServiceSpec], home: Path) -> None:
        self.specs = specs
        self.logs_dir = home / "logs"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start every service and wait until each answers its health check."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        try:
            for spec in self.specs:
                self._spawn(spec)
            for spec in self.specs:
                self._wait_healthy(spec, timeout_s)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, spec: ServiceSpec) -> None:
        env = {**os.environ, **spec.env, "DRIFTLOOP_HOST": HOST, "DRIFTLOOP_PORT": str(spec.port)}
        with self.log_path(spec.name).open("ab") as log:
            # A new session: Ctrl-C in the terminal reaches us only, and we stop the children in order.
            self.processes[spec.name] = subprocess.Popen(
                [sys.executable, "-m", spec.module],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _wait_healthy(self, spec: ServiceSpec, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                self._raise_if_dead(spec.name)
                try:
                    if client.get(spec.url + spec.health).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(POLL_S)  # polling a health endpoint of another process: nothing to wait on
        raise ServiceFailed(
            f"{spec.name} was not healthy at {spec.url}{spec.health} within {timeout_s:.0f}s; "
            f"its log:\n{log_tail(self.log_path(spec.name))}"
        )

    def _raise_if_dead(self, name: str) -> None:
        code = self.processes[name].poll()
        if code is not None:
            raise ServiceFailed(f"{name} exited with code {code}; its log:\n{log_tail(self.log_path(name))}")

    def check(self) -> None:
        """Raise ``ServiceFailed`` naming the first service that has exited."""
        for name in self.processes:
            self._raise_if_dead(name)

    def stop(self) -> None:
        """SIGTERM every running service (reverse order), then SIGKILL what has not exited in time."""
        running = [p for p in reversed(self.processes.values()) if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def urls(self) -> dict[str, str]:
        return {spec.name: spec.url for spec in self.specs}

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt in the main thread, so ``finally`` blocks stop the children."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
