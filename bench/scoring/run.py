"""Scoring benchmark: driftloop's scoring service against the baselines, on one model, in one run.

    .venv/bin/python bench/scoring/run.py            # or: make bench-scoring

Servers (each one worker on 127.0.0.1): (a) Flask + scikit-learn under gunicorn, (b) MLServer's
scikit-learn runtime, (c) a minimal FastAPI + onnxruntime endpoint, (d) a raw ASGI constant (the
HTTP ceiling), (e) driftloop's scoring service with validation and telemetry on. Each server's
answer is checked against the fitted pipeline before it is loaded and after; wrk (16 connections,
1 thread) runs a warm-up per server, then measured rounds that visit every server in turn, so that
other work on the machine is spread over all of them. Prints a table (medians of the rounds) and
the ratios, and writes them as JSON to bench/results/. Benchmarks print figures; they assert nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import load
import model
import servers

RESULTS = servers.ROOT / "bench" / "results"
# (numerator, denominator, target): the ratios the issue asks for; target None = for information.
SERVER_KEYS = ("a", "b", "c", "d", "e", "e-v2", "e-off", "e-alt", "e-time", "e-2w")
RATIOS = [
    ("e", "a", 25.0),
    ("e", "b", 25.0),
    ("e", "c", 0.8),
    ("c", "d", None),
    ("e", "d", None),
    ("e-v2", "b", None),
    ("e-off", "e", None),
    ("e-off", "e-alt", None),
    ("e-time", "e", None),
    ("e", "e-alt", None),
    ("e-2w", "e", None),
]


@dataclass
class Case:
    """One server with one request body, measured over several rounds."""

    server: servers.Server
    records: list[dict[str, Any]]
    expected: list[float]
    script: Path
    handle: servers.Running | None = None
    rounds: list[load.LoadResult] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    """The server's CPU time per request in each round (its whole process group)."""
    child_cpu_us: list[float] = field(default_factory=list)
    """CPU time per request of processes the server started in their own sessions (the telemetry relay)."""
    error: str | None = None

    @property
    def label(self) -> str:
        return f"[{self.server.key}] {self.server.name}, {len(self.records)} record(s) per request"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    unknown = {key.strip() for key in args.only.split(",") if key.strip()} - set(SERVER_KEYS)
    if unknown:
        raise SystemExit(f"unknown servers {sorted(unknown)}; choose from {', '.join(SERVER_KEYS)}")
    wrk = load.ensure_wrk()
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="driftloop-bench-") as tmp:
        work = Path(tmp)
        print(f"fitting the model ({args.rows:,} rows) ...", flush=True)
        art = model.build(work / "model", n_rows=args.rows)
        print(f"fitted in {art.fit_seconds:.1f} s; 16 columns; expected p(default) {art.expected[0]:.4f}", flush=True)
        cases = _cases(_servers(art, args), art, args.batch, work)
        with contextlib.ExitStack() as stack:  # stops every server at the end, even on error
            _start(cases, stack, work)
            _measure(cases, args)
        rows = [_row(case) for case in cases]
        report = _report(rows, args, wrk, art, load_before)
    _print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scoring-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {path.relative_to(servers.ROOT)}")
    return 0 if all(row["error"] is None for row in rows) else 1


def _cases(selected: list[servers.Server], art: model.Artifacts, batch: int, work: Path) -> list[Case]:
    sizes = [1, batch] if batch > 1 else [1]
    cases = []
    for server in selected:
        for size in sizes:
            if size > 1 and server.key in {"b", "d", "e-v2"}:
                continue  # the batch figure is for the servers that take {"records": [...]} lists
            records = art.records[:size]
            body = model.dump(server.body(records), work / f"body-{server.key}-{size}.json")
            cases.append(Case(server, records, art.expected[:size], load.write_script(body)))
    return cases


def _start(cases: list[Case], stack: contextlib.ExitStack, work: Path) -> None:
    """Start every server once and check its answers; all stay up so the rounds can interleave."""
    handles: dict[str, servers.Running | str] = {}
    for case in cases:
        key = case.server.key
        if key not in handles:
            print(f"starting {case.server.name} ...", flush=True)
            try:
                handles[key] = stack.enter_context(servers.running(case.server, work))
            except RuntimeError as exc:
                handles[key] = str(exc)
        started = handles[key]
        if isinstance(started, str):
            case.error = started
            continue
        try:
            servers.check(started, case.records, case.expected)
            case.handle = started
        except RuntimeError as exc:
            case.error = str(exc)
        if case.error:
            print(f"    FAILED: {case.error}", flush=True)


def _measure(cases: list[Case], args: argparse.Namespace) -> None:
    """A warm-up per case, then ``--rounds`` measured runs, the cases interleaved in each round.

    Interleaving spreads whatever else the machine is doing over every server instead of
    letting it land on one; each figure is the median of its rounds.
    """
    for case in cases:
        if case.handle:
            load.run_wrk(case.handle.predict_url, case.script, seconds=args.warmup, connections=args.connections)
    for round_number in range(1, args.rounds + 1):
        print(f"\nround {round_number}/{args.rounds}", flush=True)
        for case in cases:
            if not case.handle or case.error:
                continue
            cpu_before = servers.group_cpu_seconds(case.handle.process.pid)
            try:
                result = load.run_wrk(
                    case.handle.predict_url, case.script, seconds=args.seconds, connections=args.connections
                )
            except RuntimeError as exc:
                case.error = str(exc)
                continue
            cpu_after = servers.group_cpu_seconds(case.handle.process.pid)
            cpu_us, child_cpu_us = (
                (after - before) / max(result.requests, 1) * 1e6
                for before, after in zip(cpu_before, cpu_after, strict=True)
            )
            case.rounds.append(result)
            case.cpu_us.append(cpu_us)
            case.child_cpu_us.append(child_cpu_us)
            print(
                f"  {case.label}: {result.requests_per_second:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                f"p99 {result.p99_ms:.2f} ms, server CPU {cpu_us:.0f} µs/request "
                f"(+ {child_cpu_us:.0f} in its relay), non-2xx {result.non_2xx}, "
                f"socket errors {result.socket_errors}",
                flush=True,
            )
    for case in cases:
        if case.handle and not case.error:
            try:  # a server that broke under load must not post a figure
                servers.check(case.handle, case.records, case.expected)
            except RuntimeError as exc:
                case.error = f"after the load: {exc}"


def _row(case: Case) -> dict[str, Any]:
    row: dict[str, Any] = {
        "server": case.server.key,
        "name": case.server.name,
        "records": len(case.records),
        "error": case.error,
    }
    if case.error or not case.rounds:
        row["error"] = case.error or "no measured round"
        return row
    row.update(
        requests_per_second=statistics.median(r.requests_per_second for r in case.rounds),
        p50_ms=statistics.median(r.p50_ms for r in case.rounds),
        p99_ms=statistics.median(r.p99_ms for r in case.rounds),
        server_cpu_us_per_request=round(statistics.median(case.cpu_us), 1),
        relay_cpu_us_per_request=round(statistics.median(case.child_cpu_us), 1),
        requests=sum(r.requests for r in case.rounds),
        non_2xx=sum(r.non_2xx for r in case.rounds),
        socket_errors=sum(r.socket_errors for r in case.rounds),
        rounds=[r.as_dict() for r in case.rounds],
    )
    return row


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured run per server (default 15)")
    parser.add_argument("--warmup", type=float, default=15.0, help="warm-up run per server (default 15)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per server, interleaved (default 3)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--only",
        default="a,b,c,d,e",
        help="servers to run, e.g. c,d,e (e-v2: the service's V2 route; e-time: e with event_time; "
        "e-2w: e with two workers)",
    )
    parser.add_argument("--batch", type=int, default=0, help="also send N-record bodies (a, c, e), e.g. 10")
    parser.add_argument("--rows", type=int, default=model.N_ROWS, help="training rows")
    parser.add_argument("--mlserver-workers", type=int, default=1, help="MLServer parallel_workers (0 or 1)")
    parser.add_argument(
        "--telemetry-off",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        type=_assignment,
        help="environment that turns the service's telemetry off; adds server e-off",
    )
    parser.add_argument(
        "--service-env",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        type=_assignment,
        help="extra environment for the service (e, e-off, e-alt), e.g. DRIFTLOOP_BUS__URL=kafka://host:port/topic",
    )
    parser.add_argument(
        "--alternative",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        type=_assignment,
        help="environment of a second telemetry-on service to compare; adds server e-alt",
    )
    return parser


def _assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _servers(art: model.Artifacts, args: argparse.Namespace) -> list[servers.Server]:
    wanted = [key.strip() for key in args.only.split(",") if key.strip()]
    off_env = dict(args.telemetry_off)
    service_env = dict(args.service_env)
    alternative_env = dict(args.alternative)
    if off_env and "e-off" not in wanted:
        wanted.append("e-off")
    if alternative_env and "e-alt" not in wanted:
        wanted.append("e-alt")
    factories = {
        "a": lambda: servers.flask_server(art),
        "b": lambda: servers.mlserver_server(art, args.mlserver_workers),
        "c": lambda: servers.onnx_server(art),
        "d": servers.constant_server,
        "e": lambda: servers.driftloop_server(art, extra_env=service_env),
        "e-v2": lambda: servers.driftloop_v2_server(art),
        "e-off": lambda: servers.driftloop_server(art, telemetry_off_env=off_env, extra_env=service_env),
        "e-alt": lambda: servers.driftloop_server(art, extra_env=service_env, alternative_env=alternative_env),
        "e-time": lambda: servers.driftloop_event_time_server(art, extra_env=service_env),
        "e-2w": lambda: servers.driftloop_workers_server(art, 2, extra_env=service_env),
    }
    return [factories[key]() for key in wanted]


def _report(
    rows: list[dict[str, Any]], args: argparse.Namespace, wrk: str, art: model.Artifacts, load_before: float
) -> dict[str, Any]:
    single = {row["server"]: row for row in rows if row["records"] == 1 and row["error"] is None}
    ratios = []
    for top, bottom, target in RATIOS:
        if top in single and bottom in single:
            value = single[top]["requests_per_second"] / single[bottom]["requests_per_second"]
            ratios.append({"ratio": f"{top}/{bottom}", "value": round(value, 3), "target": target})
    return {
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            # Other work on the machine shows here: load near 1 means wrk and the server alone.
            "load_average_1m_start": load_before,
            "load_average_1m_end": round(os.getloadavg()[0], 2),
        },
        "load": {
            "tool": wrk,
            "connections": args.connections,
            "threads": 1,
            "warmup_s": args.warmup,
            "measured_s": args.seconds,
            "rounds": args.rounds,
            "figure": "median of the rounds",
        },
        "model": {"rows": args.rows, "columns": len(art.contract.columns), "fit_seconds": round(art.fit_seconds, 2)},
        "results": rows,
        "ratios": ratios,
    }


def _print(report: dict[str, Any]) -> None:
    print(
        "\n| server | records/request | requests/s | p50 ms | p99 ms | server CPU µs/request "
        "| its relay's CPU µs/request | non-2xx | socket errors | rounds (req/s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in report["results"]:
        if row["error"]:
            print(f"| ({row['server']}) {row['name']} | {row['records']} | failed | | | | | | | |")
            continue
        spread = " / ".join(f"{r['requests_per_second']:,.0f}" for r in row["rounds"])
        print(
            f"| ({row['server']}) {row['name']} | {row['records']} | {row['requests_per_second']:,.0f} | "
            f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['server_cpu_us_per_request']:.0f} | "
            f"{row['relay_cpu_us_per_request']:.0f} | "
            f"{row['non_2xx']} | {row['socket_errors']} | {spread} |"
        )
    for row in report["results"]:
        if row["error"]:
            print(f"\n({row['server']}) failed: {row['error']}")
    print("\n| ratio (requests/s) | value | target |")
    print("| --- | ---: | ---: |")
    for ratio in report["ratios"]:
        target = f">= {ratio['target']}" if ratio["target"] else "-"
        print(f"| {ratio['ratio']} | {ratio['value']:.2f} | {target} |")


if __name__ == "__main__":
    sys.exit(main())
