"""Runs one gRPC client library against a scoring server and prints, as JSON, everything it got back.

    python grpc_client_run.py triton|kserve-raw|kserve-typed < job.json

tritonclient.grpc and kserve each register their own ``inference.*`` protobuf messages in
protobuf's default pool, so the two cannot be imported into one process: each test runs this
script in a fresh interpreter. The job names the address, the API key, and per model the input
tensors (from the V2 metadata) and the records to send; missing values go as a user of each
library sends them: NaN for a number, an empty BYTES element for a category.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np


def column(tensor: dict[str, Any], records: list[dict[str, Any]]) -> np.ndarray:
    values = [record.get(tensor["name"]) for record in records]
    if tensor["datatype"] == "BYTES":
        return np.array([b"" if v is None else str(v).encode() for v in values], dtype=np.object_).reshape(-1, 1)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float32).reshape(-1, 1)


def status(code: Any) -> str:
    return str(code).rsplit(".", 1)[-1]  # "StatusCode.NOT_FOUND" -> "NOT_FOUND"


def run_triton(job: dict[str, Any]) -> dict[str, Any]:
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(job["address"])
    key = {"x-api-key": job["key"]}
    out: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "server": client.get_server_metadata(as_json=True)["name"],
        "models": {},
        "errors": {},
    }

    def inputs(model: str, records: list[dict[str, Any]]) -> list[Any]:
        built = []
        for tensor in job["models"][model]["inputs"]:
            array = column(tensor, records)
            infer_input = triton.InferInput(tensor["name"], list(array.shape), tensor["datatype"])
            infer_input.set_data_from_numpy(array)
            built.append(infer_input)
        return built

    for model, spec in job["models"].items():
        metadata = client.get_model_metadata(model, headers=key, as_json=True)
        result = client.infer(model, inputs(model, spec["records"]), headers=key, request_id="triton-1")
        out["models"][model] = {
            "ready": client.is_model_ready(model),
            "inputs": [[t["name"], t["datatype"]] for t in metadata["inputs"]],
            "id": result.get_response().id,
            "outputs": {name: result.as_numpy(name).tolist() for name in spec["outputs"]},
        }
    model = next(iter(job["models"]))
    good = inputs(model, job["models"][model]["records"])
    calls = {
        "no_key": lambda: client.infer(model, good),
        "unknown_model": lambda: client.infer("nope", good, headers=key),
        "bad_value": lambda: client.infer(model, inputs(model, job["bad_records"]), headers=key),
    }
    for name, call in calls.items():
        try:
            call()
            out["errors"][name] = None
        except triton.InferenceServerException as exc:
            out["errors"][name] = [status(exc.status()), exc.message()]
    return out


async def run_kserve(job: dict[str, Any], raw: bool) -> dict[str, Any]:
    import grpc
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    def request(model: str, records: list[dict[str, Any]]) -> Any:
        built = []
        for tensor in job["models"][model]["inputs"]:
            array = column(tensor, records)
            if raw:
                infer_input = InferInput(tensor["name"], list(array.shape), tensor["datatype"])
                infer_input.set_data_from_numpy(array, binary_data=True)
            else:  # typed contents: a plain list, as kserve users write one
                data = array.reshape(-1).tolist()
                infer_input = InferInput(tensor["name"], list(array.shape), tensor["datatype"], data=data)
            built.append(infer_input)
        return InferRequest(model_name=model, infer_inputs=built, request_id="kserve-1")

    # Bearer form of the same key: the HTTP edge's other header (driftloop.http.auth).
    key = [("authorization", f"Bearer {job['key']}")]
    out: dict[str, Any] = {"models": {}, "errors": {}}
    async with InferenceGRPCClient(job["address"], retries=0) as client:
        out["live"] = await client.is_server_live()
        out["ready"] = await client.is_server_ready()
        for model, spec in job["models"].items():
            response = await client.infer(request(model, spec["records"]), headers=key)
            outputs = {output.name: output.as_numpy().tolist() for output in response.outputs}
            out["models"][model] = {
                "ready": await client.is_model_ready(model),
                "id": response.id,
                "outputs": {name: outputs[name] for name in spec["outputs"]},
            }
        model = next(iter(job["models"]))
        calls = {
            "no_key": (request(model, job["models"][model]["records"]), []),
            "unknown_model": (request(model, job["models"][model]["records"]), key),
            "bad_value": (request(model, job["bad_records"]), key),
        }
        calls["unknown_model"][0].model_name = "nope"
        for name, (infer_request, headers) in calls.items():
            try:
                await client.infer(infer_request, headers=headers)
                out["errors"][name] = None
            except grpc.aio.AioRpcError as exc:
                out["errors"][name] = [status(exc.code()), exc.details()]
    return out


def main() -> None:
    kind = sys.argv[1]
    job = json.load(sys.stdin)
    out = run_triton(job) if kind == "triton" else asyncio.run(run_kserve(job, raw=kind == "kserve-raw"))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
