"""V2 gRPC against V2 HTTP JSON and v1 on one scoring server: requests/s and p99 at 16 connections.

    .venv/bin/python bench/scoring/grpc_load.py [--seconds 10] [--rounds 3] [--batch 1]

One server (uvicorn + the gRPC server on its event loop, telemetry on, one worker) with the
benchmark's credit model (model.py); wrk drives v1 and V2 HTTP, ghz drives gRPC with typed
contents and with raw_input_contents (what tritonclient sends). Each mode's answer is checked
against the pipeline's own probabilities before the load. Rounds visit every mode in turn;
figures are the medians of the rounds. Prints figures, asserts nothing.

ghz is built from the Go module proxy into tools/cache/bin when missing
(``go install github.com/bojand/ghz/cmd/ghz@latest``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import grpc
import load
import model
import numpy as np
import servers

from driftloop_scoring.grpc import grpc_predict_v2_pb2 as pb
from driftloop_scoring.grpc.stub import InferenceStub

ROOT = Path(__file__).resolve().parents[2]
GHZ = ROOT / "tools" / "cache" / "bin" / "ghz"
PROTO = ROOT / "services" / "scoring" / "src" / "driftloop_scoring" / "grpc" / "grpc_predict_v2.proto"
CONNECTIONS = 16


def ensure_ghz() -> Path:
    if GHZ.exists():
        return GHZ
    if shutil.which("go") is None:
        raise SystemExit("ghz is missing and there is no Go toolchain to build it")
    env = {**os.environ, "GOBIN": str(GHZ.parent)}
    subprocess.run(["go", "install", "github.com/bojand/ghz/cmd/ghz@latest"], check=True, env=env)
    return GHZ


def v2_json(records: list[dict[str, Any]], kinds: dict[str, str]) -> dict[str, Any]:
    inputs = [
        {
            "name": name,
            "datatype": "BYTES" if kind == "categorical" else "FP32",
            "shape": [len(records), 1],
            "data": [record[name] for record in records],
        }
        for name, kind in kinds.items()
    ]
    return {"inputs": inputs}


def grpc_request(body: dict[str, Any], *, raw: bool) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model.MODEL_NAME)
    for tensor in body["inputs"]:
        added = request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        texts = [str(v).encode() for v in tensor["data"]]
        if raw and tensor["datatype"] == "BYTES":
            request.raw_input_contents.append(b"".join(struct.pack("<I", len(t)) + t for t in texts))
        elif raw:
            request.raw_input_contents.append(np.asarray(tensor["data"], dtype="<f4").tobytes())
        elif tensor["datatype"] == "BYTES":
            added.contents.bytes_contents.extend(texts)
        else:
            added.contents.fp32_contents.extend(tensor["data"])
    return request


def ghz_json(request: pb.ModelInferRequest) -> dict[str, Any]:
    """The request in protobuf's JSON mapping, as ghz reads it (bytes as base64)."""
    inputs = []
    for tensor in request.inputs:
        item: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if tensor.HasField("contents"):
            contents = tensor.contents
            if contents.bytes_contents:
                item["contents"] = {"bytes_contents": [base64.b64encode(b).decode() for b in contents.bytes_contents]}
            else:
                item["contents"] = {"fp32_contents": list(contents.fp32_contents)}
        inputs.append(item)
    body: dict[str, Any] = {"model_name": request.model_name, "inputs": inputs}
    if request.raw_input_contents:
        body["raw_input_contents"] = [base64.b64encode(b).decode() for b in request.raw_input_contents]
    return body


def run_ghz(address: str, body_path: Path, seconds: float) -> load.LoadResult:
    command = [
        str(ensure_ghz()), "--insecure", f"--proto={PROTO}", "--call=inference.GRPCInferenceService.ModelInfer",
        f"--data-file={body_path}", f"--connections={CONNECTIONS}", f"--concurrency={CONNECTIONS}",
        f"--duration={max(1, round(seconds))}s", "--duration-stop=wait", "--format=json", address,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0 and not completed.stdout:
        raise RuntimeError(f"ghz failed ({completed.returncode}): {completed.stderr}")
    report = json.loads(completed.stdout)
    latencies = {item["percentage"]: item["latency"] / 1e6 for item in report.get("latencyDistribution") or []}
    codes = report.get("statusCodeDistribution") or {}
    if set(codes) - {"OK"}:
        print(f"ghz: statuses {codes}; errors {report.get('errorDistribution')}", flush=True)
    return load.LoadResult(
        requests_per_second=float(report["rps"]),
        p50_ms=latencies.get(50, float("nan")),
        p99_ms=latencies.get(99, float("nan")),
        requests=int(report["count"]),
        non_2xx=sum(count for code, count in codes.items() if code != "OK"),
        socket_errors=0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1, help="records per request")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-grpc-"))
    art = model.build(work, n_records=max(10, args.batch))
    records = art.records[: args.batch]
    kinds = {spec.name: spec.kind.value for spec in art.contract.columns}
    v1_body, v2_body = {"records": records}, v2_json(records, kinds)
    typed, raw = grpc_request(v2_body, raw=False), grpc_request(v2_body, raw=True)
    bodies = {"v1": v1_body, "v2-json": v2_body, "grpc-typed": ghz_json(typed), "grpc-raw": ghz_json(raw)}
    paths = {}
    for mode, body in bodies.items():
        paths[mode] = work / f"{mode}.json"
        paths[mode].write_text(json.dumps(body))
    grpc_port = servers.free_port()
    address = f"127.0.0.1:{grpc_port}"
    server = servers.Server(
        key="grpc",
        name="driftloop scoring, HTTP and gRPC",
        command=servers._uvicorn("driftloop_scoring.app:create_app", "--factory"),
        env={
            "DRIFTLOOP_REGISTRY__PATH": str(art.registry),
            "DRIFTLOOP_BUS__URL": f"sqlite:///{work}/bus.db",
            "DRIFTLOOP_BUS__SPILL_PATH": str(work / "spill"),
            "DRIFTLOOP_GRPC_PORT": str(grpc_port),
        },
        health_path="/v2/health/ready",
        predict_path=f"/v1/models/{model.MODEL_NAME}/predict",
        body=lambda rows: {"records": rows},
        probabilities=servers.driftloop_probabilities,
    )
    with servers.running(server, work) as handle:
        urls = {"v1": handle.predict_url, "v2-json": f"{handle.base_url}/v2/models/{model.MODEL_NAME}/infer"}
        expected = np.asarray(art.expected[: args.batch], dtype=np.float32)
        servers.check(handle, records, art.expected[: args.batch])
        status, answer = servers.post(urls["v2-json"], v2_body)
        assert status == 200, answer
        assert np.allclose(np.asarray(answer["outputs"][1]["data"][1::2], dtype=np.float32), expected, atol=1e-6)
        with grpc.insecure_channel(address) as channel:
            stub = InferenceStub(channel)
            for request in (typed, raw):
                response = stub.ModelInfer(request)
                got = (
                    np.frombuffer(response.raw_output_contents[1], dtype="<f4")
                    if response.raw_output_contents
                    else np.asarray(response.outputs[1].contents.fp32_contents, dtype=np.float32)
                )
                assert np.allclose(got[1::2], expected, atol=1e-6), (got, expected)

        def measure(mode: str, seconds: float) -> load.LoadResult:
            if mode.startswith("grpc"):
                return run_ghz(address, paths[mode], seconds)
            return load.run_wrk(urls[mode], load.write_script(paths[mode]), seconds=seconds, connections=CONNECTIONS)

        for mode in bodies:
            measure(mode, 3)  # warm-up
        rounds: dict[str, list[load.LoadResult]] = {mode: [] for mode in bodies}
        cpu_us: dict[str, list[float]] = {mode: [] for mode in bodies}
        for _ in range(args.rounds):
            for mode in bodies:
                # The server's own CPU per call tells its cost from the load generator's: ghz takes
                # more of the two shared cores than wrk does.
                before = servers.process_cpu_seconds(handle.process.pid)
                result = measure(mode, args.seconds)
                cpu_us[mode].append(
                    (servers.process_cpu_seconds(handle.process.pid) - before) / max(result.requests, 1) * 1e6
                )
                rounds[mode].append(result)
    load_average = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    setup = f"{CONNECTIONS} connections, {args.rounds} rounds of {args.seconds:g} s"
    print(f"batch {args.batch}, {setup}; load average {load_average}")
    print("| mode | requests/s | p50 ms | p99 ms | server CPU µs/call | rounds (requests/s) | errors |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for mode, results in rounds.items():
        rps = statistics.median(r.requests_per_second for r in results)
        p50 = statistics.median(r.p50_ms for r in results)
        p99 = statistics.median(r.p99_ms for r in results)
        per_round = " / ".join(f"{r.requests_per_second:,.0f}" for r in results)
        errors = sum(r.non_2xx + r.socket_errors for r in results)
        cpu = statistics.median(cpu_us[mode])
        print(f"| {mode} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {cpu:.0f} | {per_round} | {errors} |")


if __name__ == "__main__":
    main()
