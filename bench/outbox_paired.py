"""What the outbox costs the scoring process, in CPU time per request, measured in pairs.

    .venv/bin/python bench/outbox_paired.py [--pairs 40] [--block 2000]

Two scoring apps live in this one process, each with its lifespan open (relay process, embedded
bus of its own): one with the outbox (the default), one with ``DRIFTLOOP_BUS__OUTBOX=false``.
Their ASGI callables are driven in blocks of ``--block`` requests (16 concurrent callers, one
record each, as bench/telemetry_cpu.py does), alternating A B B A ..., each followed by a wait
until its relay has sent every event of it; a block's figure is the process's CPU time (all
threads: the event loop, the outbox's preparing thread, onnxruntime) per request while it is
driven (the flushes to the relay and its reports happen then too; the wait is not counted), with
the process's page faults, context switches and read/write system calls. Neighbouring blocks see
the same machine, so the difference of each pair is far less noisy than two separate runs on
a machine other work shares: the median of the paired differences is the figure. The relay
processes' CPU is reported apart. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driftloop.telemetry.settings import BusSettings
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import ScoringRegistrySettings, ScoringSettings
from scoring_request_path import build
from telemetry_cpu import _delivered, _drained, drive, relay_cpu_seconds


def make_app(home: Path, name: str, outbox: bool) -> Any:
    settings = ScoringSettings(
        registry=ScoringRegistrySettings(path=home / "registry", poll_interval_s=0),
        bus=BusSettings(url=f"sqlite:///{home}/bus-{name}.db", spill_path=home / f"spill-{name}", outbox=outbox),
    )
    settings.log.json_logs = False
    return create_app(settings)


def counters() -> dict[str, float]:
    """This process's CPU seconds (all threads; the event loop's thread alone), page faults, context
    switches of all its threads, and read and write system calls (/proc/self/io)."""
    found = {"cpu": time.process_time(), "loop cpu": time.thread_time(), "faults": 0.0, "switches": 0.0}
    found["faults"] = float(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[7])
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            for line in task.joinpath("status").read_text().splitlines():
                if line.endswith("ctxt_switches") or "ctxt_switches:" in line:
                    found["switches"] += float(line.split()[1])
    for line in Path("/proc/self/io").read_text().splitlines():
        name, value = line.split(":")
        if name in ("syscr", "syscw"):
            found[name] = float(value)
    return found


async def block(app: Any, body: bytes, n: int) -> dict[str, float]:
    """Per request sent, for ``n`` requests: CPU µs of this process and of the app's relay, and the counts."""
    publisher = app.state.service.publisher
    target = _delivered(publisher) + n
    before, relay = counters(), relay_cpu_seconds(publisher)
    await drive(app, body, n)
    after = counters()  # before the wait for the relay: polling its stats would be counted too
    await _drained(publisher, target)
    figures = {name: (after[name] - before[name]) / n for name in after}
    figures["cpu"] *= 1e6
    figures["loop cpu"] *= 1e6
    figures["relay cpu"] = (relay_cpu_seconds(publisher) - relay) / n * 1e6
    return figures


async def run(home: Path, pairs: int, n: int) -> None:
    body = build(home)
    apps = {"outbox on": make_app(home, "on", True), "outbox off": make_app(home, "off", False)}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in apps}
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        for app in apps.values():  # warm-up: caches, the relays' bus connections, the outbox's spares
            await block(app, body, 4 * n)
        order = list(apps)
        for pair in range(pairs):
            for name in order if pair % 2 == 0 else reversed(order):
                rounds[name].append(await block(apps[name], body, n))
    on, off = rounds["outbox on"], rounds["outbox off"]
    print(f"{pairs} pairs of {n} requests, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'per request (medians)':24s} {'outbox on':>10s} {'outbox off':>10s} {'paired diff':>12s}")
    for key in on[0]:
        print(
            f"{key:24s} {statistics.median(r[key] for r in on):10.3f} {statistics.median(r[key] for r in off):10.3f} "
            f"{statistics.median(a[key] - b[key] for a, b in zip(on, off, strict=True)):+12.3f}"
        )
    differences = [a["cpu"] - b["cpu"] for a, b in zip(on, off, strict=True)]
    base = statistics.median(r["cpu"] for r in off)
    median = statistics.median(differences)
    print(
        f"CPU µs, paired difference (on - off): median {median:+.2f} µs/request ({median / base:+.2%}), "
        f"mean {statistics.fmean(differences):+.2f}, quartiles {_quartiles(differences)}"
    )


def _quartiles(values: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.1f} .. {q3:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--block", type=int, default=2000, help="requests per block")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="outbox-paired-") as directory:
        asyncio.run(run(Path(directory), args.pairs, args.block))


if __name__ == "__main__":
    main()
