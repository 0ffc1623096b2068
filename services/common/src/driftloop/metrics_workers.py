"""Prometheus metrics of several worker processes as one: prometheus_client's multiprocess mode.

With several uvicorn workers on one port, a scrape reaches whichever worker the kernel hands its
connection to, so per-process counters would jump between workers' totals. In multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``) every process writes its values into memory-mapped files in one
directory and any worker's ``/metrics`` merges them: counters and histograms summed over every
process that ever ran (a dead worker's counts stay counted), gauges as each declares
(``multiprocess_mode``: per live worker, their sum or their minimum).

Two things do not cross processes by themselves, and are handled here:

- *Gauges read at scrape time* (``set_function``, e.g. the publisher's buffer depth) write no file;
  in multiprocess mode they are written by :func:`refresh`, which a worker runs every second and
  before it answers a scrape, so another worker's value is at most a second old.
- *Live gauges of a dead worker* stay in its files until someone says it is dead: a worker that
  starts forgets those of processes that no longer run (:func:`forget_dead_processes`), which is
  what happens when uvicorn starts a worker in place of one that died.

With one worker nothing of this is switched on, and ``/metrics`` is the process's registry as before.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db")
_AT_SCRAPE: dict[int, tuple[Any, Callable[[], float]]] = {}


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def prepare(workers: int) -> Path | None:
    """Before ``workers`` processes start: with more than one, an empty directory for their metric
    files (``PROMETHEUS_MULTIPROC_DIR`` if set, else a new one), named in the environment they inherit."""
    if workers <= 1:
        return None
    directory = Path(os.environ.get(ENV) or tempfile.mkdtemp(prefix="driftloop-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's values are not this run's
        stale.unlink()
    os.environ[ENV] = str(directory)
    return directory


def at_scrape(child: Any, read: Callable[[], float]) -> None:
    """``child.set_function(read)``, or in multiprocess mode the same value written by :func:`refresh`."""
    if enabled():
        _AT_SCRAPE[id(child)] = (child, read)
    else:
        child.set_function(read)


def refresh() -> None:
    for child, read in list(_AT_SCRAPE.values()):
        child.set(read())


def exposition() -> bytes:
    """Every process's metrics merged (call only when :func:`enabled`)."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    refresh()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return bytes(generate_latest(registry))


def forget_dead_processes() -> None:
    """Drop the live gauges of processes that no longer run (a worker that died and was replaced)."""
    if not enabled():
        return
    from prometheus_client import multiprocess

    for path in Path(os.environ[ENV]).glob("gauge_live*.db"):
        if (found := _LIVE_FILE.fullmatch(path.name)) and not _running(int(found.group(1))):
            multiprocess.mark_process_dead(int(found.group(1)))  # type: ignore[no-untyped-call]


def child_environment(environment: dict[str, str]) -> dict[str, str]:
    """The environment for a helper process whose figures its parent reports (the telemetry relay):
    it must not write metric files of its own, or they would be counted twice."""
    return {name: value for name, value in environment.items() if name != ENV}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
