"""The service as the container runs it: ``python -m driftloop_scoring`` with environment settings only."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from scoring_bundles import credit_records
from scoring_server import ScoringServer, free_port, server_env

from driftloop.registry import Registry


def test_python_dash_m_serves_with_auth_from_the_environment(
    start_server: type[ScoringServer], scoring_registry: Registry, tmp_path: Path
) -> None:
    port = free_port()
    env = server_env(
        scoring_registry,
        tmp_path,
        DRIFTLOOP_PORT=str(port),
        DRIFTLOOP_AUTH__API_KEYS="k1,k2",
        DRIFTLOOP_LOG__LEVEL="INFO",
    )
    server = start_server(tmp_path, env, command=[sys.executable, "-m", "driftloop_scoring"])
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    server.start()
    body = {"records": credit_records(2)}
    refused = httpx.post(f"{server.url}/v1/models/credit/predict", json=body)
    assert refused.status_code == 401
    answered = httpx.post(f"{server.url}/v1/models/credit/predict", json=body, headers={"X-API-Key": "k2"})
    assert answered.status_code == 200
    assert len(answered.json()["predictions"]) == 2
    docs = httpx.get(f"{server.url}/openapi.json", headers={"X-API-Key": "k1"}).json()
    example = docs["paths"]["/v1/models/{name}/predict"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    assert set(example["credit"]["value"]["records"][0]) == set(credit_records(1)[0])
    assert httpx.get(f"{server.url}/docs").status_code == 200
    server.stop()
    assert "serving credit version 1" in server.log
