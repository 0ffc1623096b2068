"""The V2 binary tensor data extension against V2 JSON, at batch 1 and 100: prints figures.

    .venv/bin/python bench/v2_binary.py [--rows 20000] [--seconds 8] [--rounds 3] [--in-process]

One driftloop scoring server (one uvicorn worker, validation and telemetry on, its own embedded
bus) on bench/scoring's model (HistGradientBoosting, the 16 credit columns). Four bodies: V2 JSON
(FP32 and BYTES ``data``, JSON outputs) and V2 binary (every input as raw bytes, every output asked
for as raw bytes), each with 1 and 100 records. Each body's answer is checked against the fitted
pipeline before load; then wrk (16 connections, 1 thread) runs a warm-up per body and measured
rounds that visit every body in turn. Prints requests/s, p50, p99 and the server's CPU time per
request (medians of the rounds), and writes them as JSON to bench/results/. Asserts nothing.

``--in-process`` measures instead the CPU time of one ASGI call of the app (no HTTP server, no
client, telemetry off), 1,000 calls per body in turn, in rounds: on a shared, noisy machine a
steadier view of what the extension itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent / "scoring"))
import load
import model
import servers

RESULTS = servers.ROOT / "bench" / "results"
HEADER = "Inference-Header-Content-Length"
BATCHES = (1, 100)


def json_body(records: list[dict[str, Any]], kinds: dict[str, str]) -> bytes:
    inputs = [
        {
            "name": name,
            "datatype": "BYTES" if kind == "categorical" else "FP32",
            "shape": [len(records), 1],
            "data": [record[name] for record in records],
        }
        for name, kind in kinds.items()
    ]
    return orjson.dumps({"inputs": inputs})


def binary_body(records: list[dict[str, Any]], kinds: dict[str, str]) -> tuple[bytes, int]:
    """The body and the size of its JSON part, as tritonclient's defaults send it."""
    inputs, blobs = [], []
    for name, kind in kinds.items():
        values = [record[name] for record in records]
        if kind == "categorical":
            blob = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
            datatype = "BYTES"
        else:
            blob = np.asarray(values, dtype="<f4").tobytes()
            datatype = "FP32"
        inputs.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": [len(records), 1],
                "parameters": {"binary_data_size": len(blob)},
            }
        )
        blobs.append(blob)
    header = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}})
    return header + b"".join(blobs), len(header)


def class1(content: bytes, header_length: int | None) -> list[float]:
    """Class-1 probabilities from a JSON or binary V2 response."""
    length = header_length if header_length is not None else len(content)
    answer = orjson.loads(content[:length])
    offset = length
    for output in answer["outputs"]:
        size = output.get("parameters", {}).get("binary_data_size")
        if output["name"] == "probabilities":
            if size is None:
                return [float(v) for v in output["data"][1::2]]
            return np.frombuffer(content[offset : offset + size], dtype="<f4")[1::2].tolist()  # type: ignore[no-any-return]
        offset += size or 0
    raise ValueError("no probabilities output")


def check(url: str, body: bytes, headers: dict[str, str], expected: list[float]) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        content = response.read()
        length = response.headers.get(HEADER)
    got = class1(content, int(length) if length is not None else None)
    off = [g for g, e in zip(got, expected, strict=False) if abs(g - e) > servers.PROBABILITY_TOLERANCE]
    if len(got) != len(expected) or off:
        raise RuntimeError(f"answered probabilities {got[:3]}..., the pipeline gives {expected[:3]}...")


def in_process(art: model.Artifacts, bodies: dict[tuple[str, int], tuple[bytes, dict[str, str]]], rounds: int) -> None:
    """CPU µs of one ASGI call of the app per body (no HTTP server, telemetry off), bodies in turn, in rounds."""
    from starlette.types import Message

    from driftloop.telemetry.settings import BusSettings
    from driftloop_scoring.app import create_app
    from driftloop_scoring.settings import ScoringRegistrySettings, ScoringSettings

    settings = ScoringSettings(
        registry=ScoringRegistrySettings(path=art.registry, poll_interval_s=0),
        bus=BusSettings(url=f"sqlite:///{art.directory}/bus-in-process.db", spill_path=art.directory / "spill"),
        telemetry=False,
    )
    app = create_app(settings)
    per_round: dict[tuple[str, int], list[float]] = {key: [] for key in bodies}
    statuses: set[int] = set()

    async def call(body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        scope = {"type": "http", "method": "POST", "path": f"/v2/models/{model.MODEL_NAME}/infer", "headers": headers}

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.add(message["status"])

        await app(scope, receive, send)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            for _ in range(rounds + 1):  # the first round warms up
                for key, (body, headers) in bodies.items():
                    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
                    started = time.process_time()
                    for _ in range(1000):
                        await call(body, raw_headers)
                    per_round[key].append((time.process_time() - started) / 1000 * 1e6)

    asyncio.run(run())
    print(f"\nstatuses answered: {sorted(statuses)}")
    print(f"{'body':<10} {'records':>7} {'CPU µs per call, median':>24}  rounds")
    for (body_name, size), values in per_round.items():
        rest = " / ".join(f"{v:.0f}" for v in values[1:])
        print(f"{body_name:<10} {size:>7} {statistics.median(values[1:]):>24.0f}  {rest}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="training rows for the model")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of one measured wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds over every body")
    parser.add_argument("--in-process", action="store_true", help="CPU per request of the app in process, no wrk")
    args = parser.parse_args(argv)
    load.ensure_wrk()
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="driftloop-bench-v2-") as tmp:
        work = Path(tmp)
        print(f"fitting the model ({args.rows:,} rows) ...", flush=True)
        art = model.build(work / "model", n_rows=args.rows, n_records=max(BATCHES))
        kinds = {spec.name: spec.kind.value for spec in art.contract.columns}
        server = servers.driftloop_v2_server(art)
        cases: list[dict[str, Any]] = []
        for size in BATCHES:
            records = art.records[:size]
            path = work / f"json-{size}.json"
            path.write_bytes(json_body(records, kinds))
            cases.append({"body": "V2 JSON", "records": size, "path": path, "headers": load.JSON_HEADERS})
            cases[-1]["bytes"] = path.stat().st_size
            content, length = binary_body(records, kinds)
            path = work / f"binary-{size}.bin"
            path.write_bytes(content)
            headers = {"Content-Type": "application/octet-stream", HEADER: str(length)}
            cases.append(
                {"body": "V2 binary", "records": size, "path": path, "headers": headers, "bytes": len(content)}
            )
        if args.in_process:
            bodies = {(c["body"], c["records"]): (c["path"].read_bytes(), c["headers"]) for c in cases}
            in_process(art, bodies, args.rounds)
            return 0
        for case in cases:
            case.update(script=load.write_script(case["path"], case["headers"]), rounds=[], cpu_us=[])
        with servers.running(server, work) as handle:
            for case in cases:
                expected = art.expected[: case["records"]]
                check(handle.predict_url, case["path"].read_bytes(), case["headers"], expected)
                load.run_wrk(handle.predict_url, case["script"], seconds=2)  # warm-up
            for round_number in range(1, args.rounds + 1):
                for case in cases:
                    cpu_before, _ = servers.group_cpu_seconds(handle.process.pid)
                    result = load.run_wrk(handle.predict_url, case["script"], seconds=args.seconds)
                    cpu_after, _ = servers.group_cpu_seconds(handle.process.pid)
                    cpu_us = (cpu_after - cpu_before) / max(result.requests, 1) * 1e6
                    case["rounds"].append(result)
                    case["cpu_us"].append(cpu_us)
                    print(
                        f"round {round_number}: {case['body']}, {case['records']} record(s): "
                        f"{result.requests_per_second:,.0f} req/s, p99 {result.p99_ms:.2f} ms, "
                        f"CPU {cpu_us:.0f} µs/request, non-2xx {result.non_2xx}",
                        flush=True,
                    )
    rows = []
    for case in cases:
        rounds = case["rounds"]
        rows.append(
            {
                "body": case["body"],
                "records": case["records"],
                "body_bytes": case["bytes"],
                "requests_per_second": statistics.median(r.requests_per_second for r in rounds),
                "p50_ms": statistics.median(r.p50_ms for r in rounds),
                "p99_ms": statistics.median(r.p99_ms for r in rounds),
                "cpu_us_per_request": statistics.median(case["cpu_us"]),
                "non_2xx": sum(r.non_2xx for r in rounds),
            }
        )
    print(f"\n{'body':<10} {'records':>7} {'bytes':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs/req':>10}")
    for row in rows:
        print(
            f"{row['body']:<10} {row['records']:>7} {row['body_bytes']:>6} {row['requests_per_second']:>8,.0f} "
            f"{row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} {row['cpu_us_per_request']:>10.0f}"
        )
    for size in BATCHES:
        plain, binary = (row for row in rows if row["records"] == size)
        print(
            f"batch {size}: binary/JSON req/s {binary['requests_per_second'] / plain['requests_per_second']:.2f}, "
            f"CPU per request {binary['cpu_us_per_request'] / plain['cpu_us_per_request']:.2f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    output = RESULTS / f"v2-binary-{stamp}.json"
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "load_before": load_before}
    output.write_text(json.dumps({"machine": machine, "seconds": args.seconds, "rows": rows}, indent=2))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
