"""tritonclient.grpc and kserve's InferenceGRPCClient against a real scoring server, answer for answer with v1.

One server (uvicorn + the gRPC server on the same event loop, API keys on) serves the binary,
multiclass and regression models; every client sends the same records, with missing numbers
and categories, and each answer must be the one the v1 API gives for those records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from integration_servers import free_port
from scoring_bundles import credit_records
from scoring_server import ScoringServer, server_env

from driftloop.registry import Registry

KEY = "grpc-clients-key"
CLIENT = Path(__file__).with_name("grpc_client_run.py")
MODELS = ("credit", "purpose", "rate")


@pytest.fixture(scope="module")
def server(scoring_registry_template: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScoringServer]:
    workdir = tmp_path_factory.mktemp("grpc-server")
    grpc_port = free_port()
    env = server_env(
        scoring_registry_template, workdir, DRIFTLOOP_GRPC_PORT=str(grpc_port), DRIFTLOOP_AUTH__API_KEYS=f"other,{KEY}"
    )
    served = ScoringServer(workdir, env)
    served.grpc_address = f"127.0.0.1:{grpc_port}"  # type: ignore[attr-defined]
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    records = credit_records(40, seed=3)
    missing = {name for record in records for name, value in record.items() if value is None}
    assert missing & {"income", "savings"}
    assert "employment_type" in missing
    return records


def v1_answers(server: ScoringServer, model: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{server.url}/v1/models/{model}/predict", json={"records": records}, headers={"X-API-Key": KEY}
    )
    assert response.status_code == 200, response.text
    return response.json()["predictions"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def client_runs(server: ScoringServer, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What each client got, run once per client for the module's tests."""
    return {}


def run_client(kind: str, server: ScoringServer, records: list[dict[str, Any]], runs: dict[str, Any]) -> Any:
    if kind not in runs:
        runs[kind] = _run_client(kind, server, records)
    return runs[kind]


def _run_client(kind: str, server: ScoringServer, records: list[dict[str, Any]]) -> dict[str, Any]:
    models = {}
    for model in MODELS:
        metadata = httpx.get(f"{server.url}/v2/models/{model}", headers={"X-API-Key": KEY}).json()
        outputs = [output["name"] for output in metadata["outputs"]]
        models[model] = {"inputs": metadata["inputs"], "outputs": outputs, "records": records}
    bad_records = [{**record, "age": None} for record in records[:2]]  # age is not nullable
    job = {"address": server.grpc_address, "key": KEY, "models": models, "bad_records": bad_records}  # type: ignore[attr-defined]
    result = subprocess.run(
        [sys.executable, str(CLIENT), kind], input=json.dumps(job), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["triton", "kserve-raw", "kserve-typed"])
def test_every_model_kind_answers_as_v1(
    kind: str, server: ScoringServer, records: list[dict[str, Any]], client_runs: dict[str, Any]
) -> None:
    got = run_client(kind, server, records, client_runs)
    assert (got["live"], got["ready"]) == (True, True)
    for model in MODELS:
        answer = got["models"][model]
        assert answer["ready"] is True
        assert answer["id"] == ("triton-1" if kind == "triton" else "kserve-1")
        expected = v1_answers(server, model, records)
        if model == "rate":
            values = np.asarray(answer["outputs"]["variable"], dtype=np.float32).reshape(-1)
            assert values.tolist() == np.asarray([p["prediction"] for p in expected], dtype=np.float32).tolist()
            continue
        class_labels = httpx.get(f"{server.url}/v2/models/{model}", headers={"X-API-Key": KEY}).json()["parameters"][
            "class_labels"
        ]
        labels = [class_labels[index] for index in answer["outputs"]["label"]]
        assert labels == [p["prediction"] for p in expected]
        keys = [str(label) for label in class_labels]
        v1_probabilities = [[p["probabilities"][key] for key in keys] for p in expected]
        assert answer["outputs"]["probabilities"] == np.asarray(v1_probabilities, dtype=np.float32).tolist()
    if kind == "triton":
        assert got["server"] == "driftloop-scoring"
        assert got["models"]["credit"]["inputs"][:2] == [["age", "FP32"], ["income", "FP32"]]


@pytest.mark.parametrize("kind", ["triton", "kserve-raw", "kserve-typed"])
def test_refusals_reach_each_client_as_grpc_statuses(
    kind: str, server: ScoringServer, records: list[dict[str, Any]], client_runs: dict[str, Any]
) -> None:
    errors = run_client(kind, server, records, client_runs)["errors"]
    assert errors == {
        "no_key": ["UNAUTHENTICATED", "missing or invalid credentials"],
        "unknown_model": ["NOT_FOUND", "model 'nope' is not served here"],
        "bad_value": ["INVALID_ARGUMENT", "record 0, column 'age': may not be null (and 1 more)"],
    }
