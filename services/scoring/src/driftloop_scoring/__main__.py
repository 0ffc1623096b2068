"""``python -m driftloop_scoring``: serve with uvicorn, uvloop and httptools (what the container image runs).

``driftloop serve scoring --host --port --workers`` overrides ``DRIFTLOOP_HOST``, ``DRIFTLOOP_PORT``
and ``DRIFTLOOP_WORKERS``. Every worker process builds its app with :func:`worker_app`, which gives
it telemetry files of its own: the spill file is one writer's file, so two processes must never
share one (docs/scoring.md, "Workers").
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from driftloop import metrics_workers
from driftloop.cli.launch import exit_on_error, service_settings

from .app import create_app
from .settings import ScoringSettings


class _NoHealthProbes(logging.Filter):
    """Mutes access-log lines of the health probes (Kubernetes calls them every few seconds)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "/v2/health/" not in record.getMessage()


def main(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    settings = service_settings(ScoringSettings, "scoring")
    workers = settings.workers if workers is None else workers
    metrics_workers.prepare(workers)  # several workers: one /metrics for all of them
    uvicorn.run(
        "driftloop_scoring.__main__:worker_app",
        factory=True,
        host=settings.host if host is None else host,
        port=settings.port if port is None else port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=settings.access_log,
    )


def worker_app() -> FastAPI:
    """One worker's app: the scoring app with the telemetry directory of the worker slot it holds."""
    settings = ScoringSettings()
    logging.getLogger("uvicorn.access").addFilter(_NoHealthProbes())
    metrics_workers.forget_dead_processes()  # the worker this one replaces, if it died
    if not settings.telemetry:
        return create_app(settings)
    slot, lock = claim_worker_slot(settings.bus.spill_path)
    bus = settings.bus.model_copy(update={"spill_path": slot})
    app = create_app(settings.model_copy(update={"bus": bus}))
    app.state.worker_slot_lock = lock  # held (open) for as long as the worker lives
    return app


def claim_worker_slot(spill_path: Path) -> tuple[Path, int]:
    """The telemetry directory of the first free worker slot under ``spill_path``, and the lock that holds it.

    Slot 0 is ``spill_path`` itself (so one worker uses the directory as before, and what it left
    is found again when workers are added), slot n is ``spill_path/worker-n``. A slot is held
    by an ``flock`` the kernel releases however the worker ends, so a worker that uvicorn starts
    again in place of a dead one takes over that one's directory and recovers its events.
    """
    spill_path.mkdir(parents=True, exist_ok=True)
    for number in itertools.count():
        fd = os.open(spill_path / f".worker-{number}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        directory = spill_path if number == 0 else spill_path / f"worker-{number}"
        directory.mkdir(exist_ok=True)
        return directory, fd
    raise AssertionError("unreachable")  # itertools.count() never ends


if __name__ == "__main__":
    exit_on_error(main)
