"""Instructions the scoring process executes per request, with and without ``event_time``, against main.

    .venv/bin/python bench/event_time_instructions.py --baseline /path/to/main/services [--requests 1000]

What the machine's noise cannot blur (docs/benchmarks.md, "Event time"): each variant runs the
scoring app's ASGI callable in process (16 concurrent callers, bench/telemetry_cpu.py's driver),
telemetry on the embedded bus, under valgrind's callgrind, counting the serving process only from
after a warm-up until every event of the measured requests is delivered. Variants: this tree's code
with no event time, one RFC 3339 time per request, and one Unix time per record; and the baseline's
code (``--baseline``: a ``services`` directory of another checkout, e.g. ``git archive main``) with
no event time. 1-record and 10-record bodies. Needs valgrind. Asserts nothing.
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
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
EVENT_TIME = "2026-11-27T12:00:00Z"
FORMS = ("absent", "one", "per-record")


def body_with(body: bytes, form: str, records: int) -> bytes:
    payload: dict[str, Any] = orjson.loads(body)
    payload["records"] = payload["records"] * records
    if form == "one":
        payload["event_time"] = EVENT_TIME
    elif form == "per-record":
        payload["event_time"] = [1_795_780_800.0 + i for i in range(records)]
    return orjson.dumps(payload)


async def measure(home: Path, form: str, records: int, n: int) -> None:
    """Run under callgrind: instructions are counted only between the two callgrind_control calls."""
    from driftloop.telemetry.settings import BusSettings
    from driftloop_scoring.app import create_app
    from driftloop_scoring.settings import ScoringRegistrySettings, ScoringSettings
    from telemetry_cpu import _delivered, _drained, drive

    body = body_with((home / "body.json").read_bytes(), form, records)
    settings = ScoringSettings(
        registry=ScoringRegistrySettings(path=home / "registry", poll_interval_s=0),
        bus=BusSettings(url=f"sqlite:///{home}/bus-{form}-{records}.db", spill_path=home / f"spill-{form}-{records}"),
    )
    settings.log.json_logs = False
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        publisher = app.state.service.publisher
        await drive(app, body, 200)
        await _drained(publisher, 200)
        before = _delivered(publisher)
        count_instructions(True)
        await drive(app, body, n)
        await _drained(publisher, before + n)
        count_instructions(False)


def count_instructions(on: bool) -> None:
    switch = "--instr=on" if on else "--instr=off"
    subprocess.run(["callgrind_control", switch, str(os.getpid())], check=True, capture_output=True)


def instructions(code: Path | None, form: str, records: int, n: int, work: Path) -> float:
    """Instructions per request of one variant; the model and body are built once, in ``work``."""
    path = [str(BENCH)] + ([str(code / "common" / "src"), str(code / "scoring" / "src")] if code else [])
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={work / 'callgrind.out'}",
            sys.executable,
            __file__,
            "--child",
            form,
            "--records",
            str(records),
            "--requests",
            str(n),
            "--home",
            str(work),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
    )
    collected = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or collected is None:
        raise RuntimeError(f"{form} failed:\n{result.stderr[-3000:]}")
    return int(collected.group(1)) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--baseline", type=Path, help="a services/ directory of the code to compare with")
    parser.add_argument("--child", choices=FORMS)
    parser.add_argument("--records", type=int, default=1)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.child:
        asyncio.run(measure(args.home, args.child, args.records, args.requests))
        return
    print(f"{'code':10s} {'records':>7s} {'event_time':>11s} {'instructions/request':>21s} {'vs baseline':>12s}")
    with tempfile.TemporaryDirectory(prefix="event-time-instructions-") as directory:
        work = Path(directory)
        sys.path.insert(0, str(BENCH))
        from scoring_request_path import build

        (work / "body.json").write_bytes(build(work))  # trained once, outside valgrind
        for records in (1, 10):
            base = instructions(args.baseline, "absent", records, args.requests, work) if args.baseline else None
            if base is not None:
                print(f"{'baseline':10s} {records:7d} {'absent':>11s} {base:21,.0f} {'':>12s}", flush=True)
            for form in FORMS:
                count = instructions(None, form, records, args.requests, work)
                change = f"{count / base - 1:+.2%}" if base else "-"
                print(f"{'this tree':10s} {records:7d} {form:>11s} {count:21,.0f} {change:>12s}", flush=True)


if __name__ == "__main__":
    main()
