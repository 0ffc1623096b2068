"""The Azure DevOps client against a stand-in of the Runs - Run Pipeline API over real HTTP.

The stand-in (not Azure DevOps) checks each request the way the real service does - method, path,
api-version, Basic auth with an empty user and the PAT, the body's shape - and answers like it: the
run with id, state and _links on success, an HTML 401 for a bad token, a JSON 404 for an unknown
pipeline.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from pydantic import Field, SecretStr

from driftloop.settings import ServiceSettings
from driftloop_controller.azure_devops import (
    AzureDevOpsAuthError,
    AzureDevOpsClient,
    AzureDevOpsError,
    AzureDevOpsNotFoundError,
    AzureDevOpsSettings,
    PipelineRun,
    retrain_parameters,
)

RETRAIN_YML = Path(__file__).resolve().parents[3] / "azure-pipelines" / "retrain.yml"
ORGANIZATION, PROJECT, PIPELINE_ID, PAT = "contoso", "driftloop", 42, "pat-0123456789"


@dataclass
class StandIn:
    """What the stand-in knows (its one pipeline, the valid PAT) and what it was sent."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    next_run_id: int = 1000


def _run_request(body: bytes) -> dict[str, Any] | None:
    """The Run Pipeline body if it has the shape the service accepts: a refs/ refName, string parameters."""
    try:
        run = json.loads(body)
        ref = run["resources"]["repositories"]["self"]["refName"]
        parameters = run["templateParameters"]
    except (ValueError, KeyError, TypeError):
        return None
    if not (isinstance(ref, str) and ref.startswith("refs/") and isinstance(parameters, dict)):
        return None
    return run if all(isinstance(v, str) for v in parameters.values()) else None


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, body: Any, content_type: str = "application/json; charset=utf-8") -> None:
            payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._send(405, {"message": "The requested resource does not support http method 'GET'."})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append({"path": url.path, "query": parse_qs(url.query), "headers": dict(self.headers)})
            expected_auth = "Basic " + base64.b64encode(f":{PAT}".encode()).decode()
            if self.headers.get("Authorization") != expected_auth:
                # The real service answers a bad PAT with an HTML page, not JSON.
                self._send(
                    401,
                    "<html><body>Access Denied: The Personal Access Token used has expired.</body></html>",
                    "text/html; charset=utf-8",
                )
                return
            parts = url.path.strip("/").split("/")
            if len(parts) != 6 or parts[2:4] != ["_apis", "pipelines"] or parts[5] != "runs":
                self._send(404, {"message": f"No route for {url.path}"})
                return
            organization, project, pipeline = parts[0], parts[1], parts[4]
            if parse_qs(url.query).get("api-version") != ["7.1"]:
                self._send(400, {"message": "The api-version query parameter is required and must be 7.1 here."})
                return
            if (organization, project, pipeline) != (ORGANIZATION, PROJECT, str(PIPELINE_ID)):
                self._send(
                    404,
                    {
                        "$id": "1",
                        "innerException": None,
                        "message": f"Pipeline with id {pipeline} not found.",
                        "typeName": "Microsoft.Azure.Pipelines.WebApi.PipelineNotFoundException",
                        "typeKey": "PipelineNotFoundException",
                        "errorCode": 0,
                        "eventId": 3000,
                    },
                )
                return
            run = _run_request(body)
            if run is None:
                self._send(400, {"message": "Bad request body for Run Pipeline.", "typeKey": "ArgumentException"})
                return
            ref = run["resources"]["repositories"]["self"]["refName"]
            state.requests[-1]["body"] = run
            state.next_run_id += 1
            base = f"{state.base_url}/{ORGANIZATION}/{PROJECT}"
            self._send(
                200,
                {
                    "_links": {
                        "self": {"href": f"{base}/_apis/pipelines/{PIPELINE_ID}/runs/{state.next_run_id}"},
                        "web": {"href": f"{base}/_build/results?buildId={state.next_run_id}"},
                        "pipeline.web": {"href": f"{base}/_build/definition?definitionId={PIPELINE_ID}"},
                        "pipeline": {"href": f"{base}/_apis/pipelines/{PIPELINE_ID}?revision=3"},
                    },
                    "pipeline": {"id": PIPELINE_ID, "revision": 3, "name": "driftloop-retrain", "folder": "\\"},
                    "state": "inProgress",
                    "createdDate": "2026-11-27T10:00:00.0000000Z",
                    "url": f"{base}/_apis/pipelines/{PIPELINE_ID}/runs/{state.next_run_id}",
                    "resources": {"repositories": {"self": {"refName": ref, "version": "0" * 40}}},
                    "id": state.next_run_id,
                    "name": "20261127.1",
                },
            )

    return Handler


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def settings_for(stand_in: StandIn, **overrides: Any) -> AzureDevOpsSettings:
    values: dict[str, Any] = {
        "organization": ORGANIZATION,
        "project": PROJECT,
        "pipeline_id": PIPELINE_ID,
        "token": SecretStr(PAT),
        "base_url": stand_in.base_url,
    }
    values.update(overrides)
    return AzureDevOpsSettings(**values)


def run(settings: AzureDevOpsSettings, parameters: dict[str, str], **kwargs: Any) -> PipelineRun:
    async def scenario() -> PipelineRun:
        async with AzureDevOpsClient(settings) as client:
            return await client.run_pipeline(parameters, **kwargs)

    return asyncio.run(scenario())


def test_run_pipeline_sends_the_documented_request_and_reads_the_run(stand_in: StandIn) -> None:
    parameters = {"modelName": "credit", "reason": "psi on income > 0.2 for 3 windows"}
    result = run(settings_for(stand_in), parameters)

    assert result.id == 1001
    assert result.state == "inProgress"
    assert result.name == "20261127.1"
    assert result.web_url == f"{stand_in.base_url}/{ORGANIZATION}/{PROJECT}/_build/results?buildId=1001"
    [request] = stand_in.requests
    assert request["path"] == f"/{ORGANIZATION}/{PROJECT}/_apis/pipelines/{PIPELINE_ID}/runs"
    assert request["query"] == {"api-version": ["7.1"]}
    assert request["body"] == {
        "resources": {"repositories": {"self": {"refName": "refs/heads/main"}}},
        "templateParameters": parameters,
    }


def test_run_pipeline_on_another_branch(stand_in: StandIn) -> None:
    run(settings_for(stand_in), {"modelName": "credit"}, ref_name="refs/heads/release/1.2")
    assert stand_in.requests[0]["body"]["resources"]["repositories"]["self"]["refName"] == "refs/heads/release/1.2"


def test_a_refused_token_is_a_clear_error(stand_in: StandIn) -> None:
    with pytest.raises(AzureDevOpsAuthError) as caught:
        run(settings_for(stand_in, token=SecretStr("expired-pat")), {"modelName": "credit"})
    assert caught.value.status_code == 502
    assert "(401)" in caught.value.message
    assert "DRIFTLOOP_AZURE_DEVOPS__TOKEN" in caught.value.message
    assert "expired-pat" not in caught.value.message  # the token is never echoed


def test_an_unknown_pipeline_is_a_clear_error(stand_in: StandIn) -> None:
    with pytest.raises(AzureDevOpsNotFoundError) as caught:
        run(settings_for(stand_in, pipeline_id=99), {"modelName": "credit"})
    assert "Pipeline with id 99 not found." in caught.value.message
    assert "__PIPELINE_ID" in caught.value.message
    assert caught.value.to_dict()["error"]["code"] == "azure_devops_pipeline_not_found"


def test_an_unreachable_service_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = AzureDevOpsSettings(
        organization=ORGANIZATION,
        project=PROJECT,
        pipeline_id=PIPELINE_ID,
        token=SecretStr(PAT),
        base_url=f"http://127.0.0.1:{port}",
    )
    with pytest.raises(AzureDevOpsError, match="could not reach Azure DevOps"):
        run(settings, {"modelName": "credit"})


def test_the_client_refuses_to_start_unconfigured() -> None:
    with pytest.raises(AzureDevOpsError, match="DRIFTLOOP_AZURE_DEVOPS__ORGANIZATION"):
        AzureDevOpsClient(AzureDevOpsSettings(organization=ORGANIZATION))


def test_settings_come_from_the_documented_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    class ControllerSettings(ServiceSettings):
        azure_devops: AzureDevOpsSettings = Field(default_factory=AzureDevOpsSettings)

    for name, value in {
        "DRIFTLOOP_AZURE_DEVOPS__ORGANIZATION": ORGANIZATION,
        "DRIFTLOOP_AZURE_DEVOPS__PROJECT": PROJECT,
        "DRIFTLOOP_AZURE_DEVOPS__PIPELINE_ID": str(PIPELINE_ID),
        "DRIFTLOOP_AZURE_DEVOPS__TOKEN": PAT,
    }.items():
        monkeypatch.setenv(name, value)
    settings = ControllerSettings().azure_devops
    assert settings.configured
    assert (settings.organization, settings.project, settings.pipeline_id) == (ORGANIZATION, PROJECT, PIPELINE_ID)
    assert settings.token.get_secret_value() == PAT
    assert PAT not in repr(settings)


def test_start_retrain_passes_parameters_that_retrain_yml_declares(stand_in: StandIn) -> None:
    async def scenario() -> PipelineRun:
        async with AzureDevOpsClient(settings_for(stand_in)) as client:
            return await client.start_retrain(
                "credit", "psi(income) 0.31 > 0.2", target="default", data_path="/d.parquet"
            )

    asyncio.run(scenario())
    sent = stand_in.requests[0]["body"]["templateParameters"]
    assert sent == {
        "modelName": "credit",
        "reason": "psi(income) 0.31 > 0.2",
        "target": "default",
        "dataPath": "/d.parquet",
    }
    declared = {p["name"] for p in yaml.safe_load(RETRAIN_YML.read_text())["parameters"]}
    # Azure DevOps refuses a run whose templateParameters name a parameter the YAML does not declare.
    assert set(sent) <= declared
    assert set(retrain_parameters("credit", "scheduled")) <= declared
