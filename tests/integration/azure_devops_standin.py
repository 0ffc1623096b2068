"""A stand-in of Azure DevOps' Runs - Run Pipeline API over real HTTP on 127.0.0.1 (not Azure DevOps).

It checks each request the way the real service does - method, path, api-version, Basic auth with
an empty user and the PAT, the body's shape, and template parameters that azure-pipelines/retrain.yml
declares (the service refuses a run naming one it does not) - and answers like it: the run with id,
state and _links on success, an HTML 401 for a bad token, a JSON 404 for an unknown pipeline, a
JSON 400 for a bad body. Used by the controller's client tests and the retrain hand-off's end-to-end
test (tests/unit/ship/test_retrain_handoff.py).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

RETRAIN_YML = Path(__file__).resolve().parents[2] / "azure-pipelines" / "retrain.yml"
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


def declared_parameters() -> set[str]:
    """The parameters retrain.yml declares: the only templateParameters a run of it may name."""
    return {p["name"] for p in yaml.safe_load(RETRAIN_YML.read_text())["parameters"]}


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
            unexpected = sorted(set(run["templateParameters"]) - declared_parameters())
            if unexpected:
                message = f"Unexpected parameter '{unexpected[0]}'"
                self._send(400, {"message": message, "typeKey": "PipelineValidationException"})
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


@contextmanager
def serving_azure_devops() -> Iterator[StandIn]:
    """The stand-in on a free port of 127.0.0.1: its state, whose ``base_url`` is set."""
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
