"""Where the outbox's cost goes in the serving process: CPU per request split by thread and by
user/system time, and system calls, page faults and context switches per request, outbox on and off.

    .venv/bin/python bench/outbox_cpu.py [--rounds 7] [--seconds 10] [--perf]

Both servers are the real scoring service (bench/scoring's server ``e``, relay process, embedded
bus, one record per request) and stay up for the whole run; wrk with 16 connections visits them
in turn, round by round, so that other work on the machine lands on both. Per round and server:
user and system CPU time of each thread of the serving process (``/proc/<pid>/task``: the event
loop, the outbox's preparing thread, onnxruntime's and the others) and of its relay process, per
request; with ``--perf``, ``perf stat`` counts (system calls, page faults, context switches) of
the serving process over the same round. Medians of the rounds. Prints figures, asserts nothing.
Counting instructions needs a hardware PMU, which this machine's VM has not got; CPU time and the
kernel's software counters are what it has.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "scoring"))

import load
import model
import servers

TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
PERF_EVENTS = "raw_syscalls:sys_enter,page-faults,context-switches"


def thread_times(pid: int) -> dict[str, tuple[int, int]]:
    """(user, system) clock ticks of each thread of ``pid``, by thread name (numbered when repeated)."""
    times: dict[str, tuple[int, int]] = {}
    for task in sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda p: int(p.name)):
        with contextlib.suppress(OSError):
            head, tail = task.joinpath("stat").read_text().rsplit(")", 1)
            name = "loop" if int(task.name) == pid else head.split("(", 1)[1]
            fields = tail.split()
            base, n = name, 1
            while name in times:
                n += 1
                name = f"{base}#{n}"
            times[name] = (int(fields[11]), int(fields[12]))
    return times


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def measure_round(handle: servers.Running, script: Path, seconds: float, use_perf: bool) -> dict[str, float]:
    pid = handle.process.pid
    relay = children(pid)
    before = thread_times(pid)
    relay_before = sum(sum(thread_times(child).get("loop", (0, 0))) for child in relay)
    perf = None
    if use_perf:
        perf = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", PERF_EVENTS, "-p", str(pid)],
            stderr=subprocess.PIPE,
            text=True,
        )
    result = load.run_wrk(handle.predict_url, script, seconds=seconds)
    after = thread_times(pid)
    relay_after = sum(sum(thread_times(child).get("loop", (0, 0))) for child in relay)
    n = max(result.requests, 1)
    figures: dict[str, float] = {"requests/s": result.requests_per_second}
    for name, (user, system) in after.items():
        user0, system0 = before.get(name, (0, 0))
        if user - user0 or system - system0:
            figures[f"{name} user µs"] = (user - user0) * TICK_US / n
            figures[f"{name} sys µs"] = (system - system0) * TICK_US / n
    figures["process µs"] = sum(v for k, v in figures.items() if k.endswith(" µs"))
    figures["relay µs"] = (relay_after - relay_before) * TICK_US / n
    if perf is not None:
        perf.send_signal(2)
        _, err = perf.communicate()
        for line in err.splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[0].replace(".", "").isdigit():
                figures[f"{parts[2]} /req"] = float(parts[0]) / n
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--perf", action="store_true", help="also count system calls, faults and switches")
    parser.add_argument("--on", action="append", default=[], help="extra KEY=VALUE for the outbox-on server")
    args = parser.parse_args()
    on_env = dict(item.split("=", 1) for item in args.on)
    with tempfile.TemporaryDirectory(prefix="driftloop-outbox-cpu-") as tmp:
        art = model.build(Path(tmp) / "model")
        variants = {
            "outbox on": servers.driftloop_server(art, extra_env=on_env),
            "outbox off": servers.driftloop_server(art, alternative_env={"DRIFTLOOP_BUS__OUTBOX": "false"}),
        }
        body = model.dump({"records": art.records[:1]}, Path(tmp) / "body.json")
        script = load.write_script(body)
        results: dict[str, list[dict[str, float]]] = defaultdict(list)
        with contextlib.ExitStack() as stack:
            handles = {
                name: stack.enter_context(servers.running(server, Path(tmp))) for name, server in variants.items()
            }
            for handle in handles.values():
                load.run_wrk(handle.predict_url, script, seconds=args.warmup)
            for round_number in range(1, args.rounds + 1):
                for name, handle in handles.items():
                    figures = measure_round(handle, script, args.seconds, args.perf)
                    results[name].append(figures)
                    print(
                        f"round {round_number} {name}: {figures['requests/s']:,.0f} req/s, "
                        f"{figures['process µs']:.1f} µs/request",
                        flush=True,
                    )
    keys = sorted({key for rounds in results.values() for figures in rounds for key in figures})
    print(f"\nmedians of {args.rounds} rounds (load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"{'':32}" + "".join(f"{name:>14}" for name in results))
    for key in keys:
        medians = [statistics.median(figures.get(key, 0.0) for figures in rounds) for rounds in results.values()]
        print(f"{key:32}" + "".join(f"{value:14.2f}" for value in medians))
    paired = [
        statistics.median(a["process µs"] - b["process µs"] for a, b in zip(*results.values(), strict=True)),
    ]
    print(f"paired difference of process µs/request (on - off), median: {paired[0]:+.2f}")


if __name__ == "__main__":
    main()
