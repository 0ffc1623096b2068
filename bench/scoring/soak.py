"""Memory soak: driftloop's scoring service with one model under sustained load.

    .venv/bin/python bench/scoring/soak.py --minutes 10

Starts the service (one worker, validation and telemetry on), records its resident memory
before any load, then runs wrk in 30-second rounds for the given time, sampling the resident
memory after each round, and once more at the end. Prints the figures and writes them as JSON to
bench/results/. The issue's target: under 200 MB, and no growth over 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import load
import model
import servers


def resident_mb(process_group: int) -> float:
    """Resident memory of every process in the group (the server and any child it forked), in MB."""
    total_kb = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Fields after the command name, which is in parentheses and may contain spaces.
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != process_group:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # a process that ended while we looked
    return total_kb / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--round-seconds", type=float, default=30.0, help="load between two samples (default 30)")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    load.ensure_wrk()

    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="driftloop-soak-") as tmp:
        work = Path(tmp)
        print("fitting the model ...", flush=True)
        art = model.build(work / "model")
        server = servers.driftloop_server(art)
        records, expected = art.records[:1], art.expected[:1]
        script = load.write_script(model.dump(server.body(records), work / "body.json"))
        with servers.running(server, work) as handle:
            group = handle.process.pid
            servers.check(handle, records, expected)
            samples.append({"elapsed_s": 0.0, "rss_mb": round(resident_mb(group), 1), "phase": "before load"})
            print(f"RSS before load: {samples[0]['rss_mb']:.1f} MB", flush=True)
            started = time.monotonic()
            rounds = max(1, round(args.minutes * 60 / args.round_seconds))
            for index in range(rounds):
                result = load.run_wrk(
                    handle.predict_url, script, seconds=args.round_seconds, connections=args.connections
                )
                rss = resident_mb(group)
                elapsed = time.monotonic() - started
                samples.append({"elapsed_s": round(elapsed, 1), "rss_mb": round(rss, 1), **result.as_dict()})
                print(
                    f"  round {index + 1}/{rounds}: {elapsed:6.0f} s  RSS {rss:6.1f} MB  "
                    f"{result.requests_per_second:,.0f} req/s  p99 {result.p99_ms:.2f} ms  "
                    f"non-2xx {result.non_2xx}  socket errors {result.socket_errors}",
                    flush=True,
                )
            servers.check(handle, records, expected)
            samples.append({"elapsed_s": round(time.monotonic() - started, 1), "rss_mb": round(resident_mb(group), 1)})
            samples[-1]["phase"] = "after load"

    loaded = [s for s in samples if "requests" in s]
    summary = {
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "minutes": args.minutes,
        "connections": args.connections,
        "rss_before_mb": samples[0]["rss_mb"],
        "rss_after_first_round_mb": loaded[0]["rss_mb"],
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "rss_after_mb": samples[-1]["rss_mb"],
        "requests": sum(s["requests"] for s in loaded),
        "non_2xx": sum(s["non_2xx"] for s in loaded),
        "socket_errors": sum(s["socket_errors"] for s in loaded),
        "samples": samples,
    }
    print(
        f"\nRSS before {summary['rss_before_mb']} MB, after the first round {summary['rss_after_first_round_mb']} MB, "
        f"max {summary['rss_max_mb']} MB, after {summary['rss_after_mb']} MB; "
        f"{summary['requests']:,} requests, {summary['non_2xx']} non-2xx, {summary['socket_errors']} socket errors"
    )
    results = servers.ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"soak-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"written to {path.relative_to(servers.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
