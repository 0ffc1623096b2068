"""Instructions the scoring process executes per request, telemetry off / relayed / in process.

    .venv/bin/python bench/telemetry_instructions.py [--requests 2000] [--variants off,relayed,...]

``relayed-no-outbox`` is the relayed variant with ``DRIFTLOOP_BUS__OUTBOX=false``: the two
differ by what the outbox costs (its appends on the loop, and the user-space part of the thread
that prepares its segments; the kernel's part is not counted by callgrind).

The figure this machine's noise cannot blur: each variant runs the scoring app's ASGI callable
(16 concurrent callers, as bench/telemetry_cpu.py does) under valgrind's callgrind, which counts
the instructions of the serving process only, from after a warm-up until every event of the
measured requests is acknowledged by the Kafka broker. The relay process and the broker are
separate processes and are not counted: the figure is what telemetry costs the process that
scores. About three minutes per variant (valgrind runs the process ~50 times slower, so each
linger holds fewer events than at full speed and per-batch costs weigh a little more). Needs
valgrind (Debian's package). ``--cache-sim`` adds callgrind's simulated cache misses per request
(first level and last level, data reads and writes): what the copies cost in memory traffic, also
independent of the load. Another checkout's code is counted with ``PYTHONPATH=<its
services/common/src>``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
VARIANTS = ("off", "relayed", "relayed-no-outbox", "in process")


async def measure(home: Path, bus_url: str, variant: str, n: int) -> None:
    """Run under callgrind: instructions are counted only between the two callgrind_control calls."""
    from driftloop.telemetry.settings import BusSettings
    from driftloop_scoring.app import create_app
    from driftloop_scoring.settings import ScoringRegistrySettings, ScoringSettings
    from scoring_request_path import build
    from telemetry_cpu import _delivered, _drained, drive

    body = build(home)
    settings = ScoringSettings(
        registry=ScoringRegistrySettings(path=home / "registry", poll_interval_s=0),
        bus=BusSettings(
            url=bus_url,
            spill_path=home / "spill",
            relay=variant.startswith("relayed"),
            outbox=variant != "relayed-no-outbox",
        ),
        telemetry=variant != "off",
    )
    settings.log.json_logs = False
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        publisher = app.state.service.publisher
        await drive(app, body, 400)
        await _drained(publisher, 400)
        before = _delivered(publisher)
        count_instructions(True)
        await drive(app, body, n)
        await _drained(publisher, before + n)
        count_instructions(False)


def count_instructions(on: bool) -> None:
    """Switch callgrind's counting of this process; blocking on purpose: nothing else may run meanwhile."""
    switch = "--instr=on" if on else "--instr=off"
    subprocess.run(["callgrind_control", switch, str(os.getpid())], check=True, capture_output=True)


def instructions(bus_url: str, variant: str, n: int, work: Path, cache_sim: bool) -> list[int]:
    """Instructions of the measured requests, and with ``cache_sim`` the simulated first-level
    data misses (reads, writes) and last-level data misses (reads, writes) as callgrind counts them."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--cache-sim={'yes' if cache_sim else 'no'}",
            f"--callgrind-out-file={work / 'callgrind.out'}",
            sys.executable,
            __file__,
            "--child",
            variant,
            "--bus",
            bus_url,
            "--requests",
            str(n),
        ],
        capture_output=True,
        text=True,
        # PYTHONPATH passed on: e.g. another checkout's services/common/src, to count its code
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")]))},
    )
    collected = re.search(r"Collected : ([\d ]+)", result.stderr)
    if result.returncode != 0 or collected is None:
        raise RuntimeError(f"{variant} failed:\n{result.stderr[-3000:]}")
    counts = [int(count) for count in collected.group(1).split()]
    # With the cache simulation: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw.
    return counts[:1] + (counts[4:6] + counts[7:9] if cache_sim else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--bus")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    parser.add_argument("--cache-sim", action="store_true", help="also count simulated cache misses (slower)")
    args = parser.parse_args()
    variants = [variant.strip() for variant in args.variants.split(",")]
    if args.child:
        with tempfile.TemporaryDirectory(prefix="telemetry-instructions-") as directory:
            asyncio.run(measure(Path(directory), args.bus, args.child, args.requests))
        return
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from integration_servers import KafkaServer

    with tempfile.TemporaryDirectory(prefix="telemetry-instructions-") as directory:
        work = Path(directory)
        broker = KafkaServer(work / "kafka")
        broker.start()
        try:
            bus_url = f"kafka://{broker.bootstrap}/telemetry-instructions"
            counts = {
                variant: [
                    count / args.requests
                    for count in instructions(bus_url, variant, args.requests, work, args.cache_sim)
                ]
                for variant in variants
            }
        finally:
            broker.stop()
    misses = "  D1 misses r/w  LL misses r/w (per request)" if args.cache_sim else ""
    print(f"{'telemetry':18s} {'instructions/request':>21s} {'vs ' + variants[0]:>8s}{misses}")
    for variant, (count, *cache) in counts.items():
        cached = "  " + "  ".join(f"{miss:7.1f}" for miss in cache) if cache else ""
        print(f"{variant:18s} {count:21,.0f} {count / counts[variants[0]][0] - 1:+8.1%}{cached}")


if __name__ == "__main__":
    main()
