"""Stand-ins served over real HTTP on 127.0.0.1 for the controller's integration tests.

- ``serve(app)``: runs an ASGI app with uvicorn in a thread on a free port.
- ``FeaturesStandIn``: a stand-in of the feature-engineering service's datasets API (its
  documented shapes), serving exactly the Parquet snapshots a test needs (e.g. shuffled labels,
  which the real service's quality gate would not let through). One test runs the real
  service instead (test_with_features_service.py).
- ``KubernetesStandIn``: a stand-in of the Kubernetes API server's Deployment PATCH, checking
  the request the way the real one does (path, bearer token, patch content type, body shape).
- ``KubernetesJobsStandIn``: a stand-in of the API server's batch/v1 Jobs (create, status) with a
  kubelet that runs the Job's command here, so the Job's outcome is real.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@contextmanager
def serve(app: Any, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # waiting for the server's own readiness flag
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class FeaturesStandIn:
    """Datasets API stand-in: ``datasets[model]`` is the (train, holdout) pair the next request gets."""

    directory: Path
    datasets: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict)
    made: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/datasets", self.create, methods=["POST"]),
                Route("/v1/datasets/{id}", self.get, methods=["GET"]),
            ]
        )

    async def create(self, request: Request) -> JSONResponse:
        body = await request.json()
        model = body.get("model")
        if model not in self.datasets:
            error = {"code": "not_found", "message": f"no source data for model {model!r}"}
            return JSONResponse({"error": error}, status_code=404)
        train, holdout = self.datasets[model]
        dataset_id = f"ds-{len(self.made) + 1}"
        train_path, holdout_path = (
            self.directory / f"{dataset_id}-train.parquet",
            self.directory / f"{dataset_id}-holdout.parquet",
        )
        train.to_parquet(train_path)
        holdout.to_parquet(holdout_path)
        self.made[dataset_id] = {
            "id": dataset_id,
            "model": model,
            "state": "ready",
            "train_path": str(train_path),
            "holdout_path": str(holdout_path),
            "sha256": hashlib.sha256(train_path.read_bytes()).hexdigest(),
            "rows": {"train": len(train), "holdout": len(holdout)},
            "quality": {"passed": True},
        }
        return JSONResponse(self.made[dataset_id], status_code=201)

    async def get(self, request: Request) -> JSONResponse:
        dataset = self.made.get(request.path_params["id"])
        if dataset is None:
            return JSONResponse({"error": {"code": "not_found", "message": "no such dataset"}}, status_code=404)
        return JSONResponse(dataset)


PATCH_TYPES = ("application/strategic-merge-patch+json", "application/merge-patch+json")


@dataclass
class KubernetesStandIn:
    """Deployment PATCH stand-in: refuses what the real API server refuses, records what it accepts."""

    token: str
    namespace: str = "driftloop"
    deployment: str = "driftloop-scoring"
    patches: list[dict[str, Any]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)

    def app(self) -> Starlette:
        path = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        return Starlette(routes=[Route(path, self.patch, methods=["PATCH"])])

    async def patch(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        if (namespace, name) != (self.namespace, self.deployment):
            return _status(404, "NotFound", f'deployments.apps "{name}" not found')
        content_type = request.headers.get("content-type", "").split(";")[0]
        if content_type not in PATCH_TYPES:
            return _status(
                415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
            )
        body = await request.json()
        annotations = body.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations")
        if not isinstance(body, dict) or not isinstance(annotations, dict) or set(body) != {"spec"}:
            return _status(422, "Invalid", "expected a patch of spec.template.metadata.annotations")
        if not all(isinstance(v, str) for v in annotations.values()):
            return _status(400, "BadRequest", "annotation values must be strings")
        self.patches.append({"content_type": content_type, "body": body})
        self.annotations.update(annotations)
        labels = {"app.kubernetes.io/name": "scoring"}
        return JSONResponse(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "generation": len(self.patches) + 1},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels, "annotations": self.annotations},
                        "spec": {"containers": [{"name": "scoring", "image": "driftloop/scoring"}]},
                    },
                },
            }
        )


def _status(code: int, reason: str, message: str) -> JSONResponse:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return JSONResponse(body, status_code=code)


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class KubernetesJobsStandIn:
    """batch/v1 Jobs stand-in: the API server's create and status read, plus a kubelet that really runs
    the Job's container command on this machine (its volumes' paths must be where the pod would see
    them), so that the Job's outcome is the real outcome of ``driftloop train``.

    Checks the create the way the real API server does: bearer token, JSON body, ``apiVersion``/``kind``,
    the namespace in the path and in the object, a DNS-1123 name not taken, a pod template with a
    ``Never``/``OnFailure`` restart policy and containers with a name and an image.
    """

    token: str
    namespace: str = "driftloop"
    fail_with: str | None = None
    """Report every Job failed with this message instead of running it."""
    created: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    def app(self) -> Starlette:
        base = "/apis/batch/v1/namespaces/{namespace}/jobs"
        return Starlette(
            routes=[
                Route(base, self.create, methods=["POST"]),
                Route(base + "/{name}/status", self.status, methods=["GET"]),
            ]
        )

    def join(self) -> None:
        for thread in self.threads:
            thread.join(120)

    async def create(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        namespace = request.path_params["namespace"]
        if namespace != self.namespace:
            return _status(403, "Forbidden", f'cannot create resource "jobs" in namespace "{namespace}"')
        # No Content-Type means the server's first media type, JSON (the client sends none on create).
        if request.headers.get("content-type", "application/json").split(";")[0] != "application/json":
            return _status(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
        body = await request.json()
        problem = _job_problem(body, namespace)
        if problem:
            return _status(422, "Invalid", f"Job.batch is invalid: {problem}")
        name = body["metadata"]["name"]
        if name in self.statuses:
            return _status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
        self.created.append({"authorization": request.headers["authorization"], "body": body})
        self.statuses[name] = {"active": 1, "startTime": "2026-01-01T00:00:00Z"}
        thread = threading.Thread(target=self._kubelet, args=(name, body), daemon=True)
        self.threads.append(thread)
        thread.start()
        return JSONResponse({**body, "status": {}}, status_code=201)

    async def status(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        name = request.path_params["name"]
        if request.path_params["namespace"] != self.namespace or name not in self.statuses:
            return _status(404, "NotFound", f'jobs.batch "{name}" not found')
        [body] = [c["body"] for c in self.created if c["body"]["metadata"]["name"] == name]
        return JSONResponse({**body, "status": self.statuses[name]})

    def _kubelet(self, name: str, body: dict[str, Any]) -> None:
        pod = body["spec"]["template"]["spec"]
        [container] = pod["containers"]
        if self.fail_with is not None:
            self._finish(name, 1, self.fail_with)
            return
        claimed = {v["name"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v}
        mounts = [Path(m["mountPath"]) for m in container.get("volumeMounts", []) if m["name"] in claimed]
        command = container["command"]
        for flag in ("--data", "--config", "--registry"):
            path = Path(command[command.index(flag) + 1])
            if not any(path.is_relative_to(mount) for mount in mounts):
                self._finish(name, 1, f"{flag} {path} is on no volume of the pod")
                return
        # The image's PATH: this environment's scripts (driftloop) come first.
        env = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", "HOME": tempfile.gettempdir()}
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        self.outputs[name] = result.stdout + result.stderr
        self._finish(name, result.returncode, result.stderr[-300:])

    def _finish(self, name: str, returncode: int, message: str) -> None:
        if returncode == 0:
            condition = {"type": "Complete", "status": "True"}
            self.statuses[name] = {"succeeded": 1, "conditions": [condition]}
        else:
            condition = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": message}
            self.statuses[name] = {"failed": 1, "conditions": [condition]}


def _job_problem(body: Any, namespace: str) -> str | None:
    if not isinstance(body, dict) or body.get("apiVersion") != "batch/v1" or body.get("kind") != "Job":
        return "expected apiVersion batch/v1, kind Job"
    metadata = body.get("metadata", {})
    name = metadata.get("name", "")
    if not DNS_LABEL.match(name) or len(name) > 63:
        return f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 label'
    if metadata.get("namespace", namespace) != namespace:
        return "the namespace of the provided object does not match the namespace sent on the request"
    pod = body.get("spec", {}).get("template", {}).get("spec", {})
    if pod.get("restartPolicy") not in {"Never", "OnFailure"}:
        return f'spec.template.spec.restartPolicy: Unsupported value: "{pod.get("restartPolicy")}"'
    containers = pod.get("containers") or []
    if not containers or not all(c.get("name") and c.get("image") for c in containers):
        return "spec.template.spec.containers: Required value (each with a name and an image)"
    return None
