"""The scoring process's CPU per request with telemetry on vs off, in process: prints microseconds.

    .venv/bin/python bench/telemetry_cpu.py [--requests 40000] [--bus kafka,embedded] [--profile]

Builds the benchmark's model (bench/scoring_request_path.py), starts the scoring app's lifespan
and drives its ASGI app with 16 concurrent callers (no HTTP server, no wrk: only the service's own
work is on the clock), then waits until the publisher has sent every event. It reports the
process's CPU time (all threads: the event loop, the embedded bus's SQLite thread, onnxruntime)
per request, for each bus publishing in process and through the relay process (whose CPU is
reported apart), relayed without the outbox (``DRIFTLOOP_BUS__OUTBOX=false``), and with
``DRIFTLOOP_TELEMETRY=false``, rounds interleaved. The Kafka
broker (started here, KRaft, the integration tests' server class) runs in its own process and is
not counted: in production it is another machine. This is the figure the HTTP benchmark
(bench/scoring/kafka.py) turns into throughput on a CPU-bound 2-core machine. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from integration_servers import KafkaServer  # noqa: E402

from driftloop.telemetry.settings import BusSettings  # noqa: E402
from driftloop_scoring.app import create_app  # noqa: E402
from driftloop_scoring.settings import ScoringRegistrySettings, ScoringSettings  # noqa: E402
from scoring_request_path import build  # noqa: E402

CALLERS = 16


async def drive(app: Any, body: bytes, n: int) -> None:
    scope = {"type": "http", "method": "POST", "path": "/v1/models/credit/predict", "headers": [],
             "query_string": b"", "root_path": ""}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    statuses: list[int] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def caller(count: int) -> None:
        for _ in range(count):
            await app(dict(scope), receive, send)
            await asyncio.sleep(0)  # a server yields between requests (socket reads and writes)

    await asyncio.gather(*(caller(n // CALLERS) for _ in range(CALLERS)))
    if set(statuses) != {200}:
        raise RuntimeError(f"unexpected statuses {sorted(set(statuses))}")


def relay_cpu_seconds(publisher: Any) -> float:
    """CPU seconds of the publisher's relay process so far (0 without one)."""
    process = getattr(publisher, "_process", None)
    if process is None or process.returncode is not None:
        return 0.0
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_run(
    home: Path, bus_url: str | None, relay: bool, n: int, profile: bool, outbox: bool = True
) -> tuple[float, float, float, float]:
    """CPU µs, of which system µs, wall µs and the relay's CPU µs per request, including sending every event."""
    body = build(home) if not (home / "registry").exists() else (home / "body.json").read_bytes()
    (home / "body.json").write_bytes(body)
    settings = ScoringSettings(
        registry=ScoringRegistrySettings(path=home / "registry", poll_interval_s=0),
        bus=BusSettings(
            url=bus_url or f"sqlite:///{home}/bus.db",
            spill_path=home / f"spill-{time.time_ns()}",
            relay=relay,
            outbox=outbox,
        ),
        telemetry=bus_url is not None,
    )
    settings.log.json_logs = False
    app = create_app(settings)
    service = app.state.service
    async with app.router.lifespan_context(app):
        await drive(app, body, 2_000)  # warm-up (and the Kafka producer's connection)
        publisher = service.publisher
        await _drained(publisher, 2_000)
        sent_before = _delivered(publisher)
        profiler = cProfile.Profile() if profile and bus_url else None
        relay_cpu = relay_cpu_seconds(publisher)
        cpu, system, wall = time.process_time(), os.times().system, time.perf_counter()
        if profiler:
            profiler.enable()
        await drive(app, body, n)
        await _drained(publisher, sent_before + n)
        if profiler:
            profiler.disable()
        cpu, system, wall = time.process_time() - cpu, os.times().system - system, time.perf_counter() - wall
        relay_cpu = relay_cpu_seconds(publisher) - relay_cpu
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return cpu / n * 1e6, system / n * 1e6, wall / n * 1e6, relay_cpu / n * 1e6


def _delivered(publisher: Any) -> int:
    return 0 if publisher is None else publisher.stats.sent + publisher.stats.replayed


async def _drained(publisher: Any, expected: int) -> None:
    while publisher is not None and _delivered(publisher) < expected:  # noqa: ASYNC110 - stats, polled
        await asyncio.sleep(0.001)
    if publisher is not None and (publisher.stats.dropped or publisher.stats.spilled):
        raise RuntimeError(f"events spilled or dropped: {publisher.stats}")


@contextlib.contextmanager
def kafka(work: Path) -> Iterator[str]:
    broker = KafkaServer(work / "kafka")
    broker.start()
    try:
        yield f"kafka://{broker.bootstrap}/telemetry-cpu"
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bus", default="kafka")
    parser.add_argument("--profile", action="store_true", help="cProfile the last round of each bus")
    args = parser.parse_args()
    buses = args.bus.split(",")
    with tempfile.TemporaryDirectory(prefix="telemetry-cpu-") as directory, contextlib.ExitStack() as stack:
        home = Path(directory)
        variants: dict[str, tuple[str | None, bool, bool]] = {"off": (None, False, False)}
        for bus in buses:
            url = stack.enter_context(kafka(home)) if bus == "kafka" else f"sqlite:///{home}/bus.db"
            variants[f"{bus} in process"] = (url, False, True)
            variants[f"{bus} relayed"] = (url, True, True)
            variants[f"{bus} relayed, no outbox"] = (url, True, False)
        results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in variants}
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        for round_ in range(args.rounds):
            for name, (url, relay, outbox) in variants.items():
                last = round_ == args.rounds - 1
                run = one_run(home, url, relay, args.requests, args.profile and last, outbox)
                results[name].append(asyncio.run(run))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    off = statistics.median(run[0] for run in results["off"])
    header = ("telemetry", "CPU µs/request", "of it system", "wall µs/request", "CPU vs off", "relay CPU µs")
    print(f"{header[0]:26s} {header[1]:>15s} {header[2]:>13s} {header[3]:>16s} {header[4]:>11s} {header[5]:>13s}")
    for name, runs in results.items():
        cpu, system, wall, relay_cpu = (statistics.median(run[i] for run in runs) for i in range(4))
        print(f"{name:26s} {cpu:15.1f} {system:13.1f} {wall:16.1f} {cpu / off - 1:+10.1%} {relay_cpu:13.1f}")


if __name__ == "__main__":
    main()
