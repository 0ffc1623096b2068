"""Training as a Kubernetes Job: when the sweep outgrows the controller's pod.

With ``DRIFTLOOP_TRAINING_JOB__MODE=kubernetes-job`` a retrain's training step creates a
``batch/v1`` Job through the official ``kubernetes`` client instead of using the worker process.
The Job runs ``driftloop train`` (the same image and code as the controller) on the training set
the feature-engineering service wrote to the shared datasets volume, registering into the registry
on the shared registry volume; registration never moves the champion. The controller polls the
Job's status until it succeeds or fails, then finds the version the Job registered (its lineage
names the training file) and carries on with the gate exactly as after an in-process training.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from driftloop.errors import TrainingError
from driftloop.registry import Registry
from driftloop_controller.kubernetes_job_settings import TrainingJobSettings
from driftloop_controller.rollout import api_configuration

logger = logging.getLogger(__name__)

# Pods of the Job run as the images' user, on a read-only root, like every driftloop pod.
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True)
class TrainingJobSpec:
    """One training to run as a Job (plain data, so the body can be built and checked without a cluster)."""

    retrain_job_id: str
    model: str
    train_path: str
    registry_path: str
    config: dict[str, Any]


def job_name(settings: TrainingJobSettings, retrain_job_id: str) -> str:
    suffix = re.sub(r"[^a-z0-9]", "", retrain_job_id.lower())[:16] or "job"
    return f"{settings.name_prefix}-{suffix}"


def config_path(settings: TrainingJobSettings, retrain_job_id: str) -> Path:
    """The training configuration goes on the shared datasets volume, where the Job reads it."""
    return settings.datasets_mount / "jobs" / f"{retrain_job_id}.yaml"


def job_body(settings: TrainingJobSettings, spec: TrainingJobSpec) -> dict[str, Any]:
    """The ``batch/v1`` Job that runs ``driftloop train`` for ``spec``."""
    if not settings.image:
        raise TrainingError("DRIFTLOOP_TRAINING_JOB__IMAGE is not set: a training Job needs an image")
    name = job_name(settings, spec.retrain_job_id)
    labels = {
        "app.kubernetes.io/name": "driftloop",
        "app.kubernetes.io/component": "training",
        "app.kubernetes.io/part-of": "driftloop",
        "driftloop.io/retrain-job": spec.retrain_job_id[:63],
    }
    command = [
        "driftloop", "train",
        "--data", spec.train_path,
        "--config", str(config_path(settings, spec.retrain_job_id)),
        "--name", spec.model,
        "--registry", spec.registry_path,
        "--quiet",
    ]  # fmt: skip
    mounts = [
        {"name": "registry", "mountPath": spec.registry_path},
        {"name": "datasets", "mountPath": str(settings.datasets_mount)},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes = [
        _claim_volume("registry", settings.registry_claim),
        _claim_volume("datasets", settings.datasets_claim),
        {"name": "tmp", "emptyDir": {}},
    ]
    container: dict[str, Any] = {
        "name": "train",
        "image": settings.image,
        "command": command,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": mounts,
    }
    if settings.resources:
        container["resources"] = settings.resources
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels},
        "spec": {
            # One attempt: a failed training is a failed retrain job, recorded; the next drift retries.
            "backoffLimit": 0,
            "activeDeadlineSeconds": settings.active_deadline_seconds,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": POD_SECURITY,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _claim_volume(name: str, claim: str) -> dict[str, Any]:
    if not claim:
        raise TrainingError(
            f"DRIFTLOOP_TRAINING_JOB__{name.upper()}_CLAIM is not set: the Job must share the controller's {name}"
        )
    return {"name": name, "persistentVolumeClaim": {"claimName": claim}}


class KubernetesTrainer:
    """Creates the Job, follows it to completion and returns the version it registered."""

    def __init__(self, settings: TrainingJobSettings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry

    async def train(self, spec: TrainingJobSpec, should_stop: Callable[[], bool] = lambda: False) -> int:
        body = job_body(self.settings, spec)  # a misconfiguration fails here, before anything is written
        name = body["metadata"]["name"]
        await asyncio.to_thread(_write_config, config_path(self.settings, spec.retrain_job_id), spec.config)
        before = set(self.registry.versions(spec.model)) if spec.model in self.registry.models() else set()

        def create(batch: client.BatchV1Api) -> Any:
            # The client serialises a plain dict as it is; its stubs only name the model class.
            return batch.create_namespaced_job(self.settings.namespace, body)  # type: ignore[arg-type]

        await asyncio.to_thread(self._call, "create", create)
        logger.info("created training Job %s/%s for retrain job %s", self.settings.namespace, name, spec.retrain_job_id)
        deadline = time.monotonic() + self.settings.active_deadline_seconds + 300
        while True:
            job = await asyncio.to_thread(
                self._call, "read", lambda batch: batch.read_namespaced_job_status(name, self.settings.namespace)
            )
            outcome = job_outcome(job)
            if outcome == "succeeded":
                break
            if outcome == "failed":
                raise TrainingError(f"training Job {self.settings.namespace}/{name} failed: {failure_reason(job)}")
            if should_stop() or time.monotonic() > deadline:
                raise TrainingError(f"stopped following training Job {self.settings.namespace}/{name}")
            await asyncio.sleep(self.settings.poll_seconds)  # polling the API server, not waiting on a test
        return self._registered_version(spec, before, name)

    def _registered_version(self, spec: TrainingJobSpec, before: set[int], name: str) -> int:
        for version in sorted(set(self.registry.versions(spec.model)) - before, reverse=True):
            lineage = self.registry.resolve(spec.model, version).document("lineage")
            if lineage.get("dataset", {}).get("path") == spec.train_path:
                return version
        raise TrainingError(f"training Job {name} succeeded but registered no version of {spec.model!r}")

    def _call(self, action: str, call: Callable[[client.BatchV1Api], Any]) -> Any:
        target = f"training Job in namespace {self.settings.namespace}"
        try:
            with client.ApiClient(
                api_configuration(self.settings.host, self.settings.token, self.settings.verify_ssl)
            ) as api:
                return call(client.BatchV1Api(api))
        except ApiException as exc:
            raise TrainingError(
                f"the Kubernetes API server refused to {action} the {target}: {exc.status} {exc.reason}"
            ) from exc
        except (ConfigException, OSError) as exc:
            raise TrainingError(f"could not reach the Kubernetes API server to {action} the {target}: {exc}") from exc
        except Exception as exc:  # urllib3 raises its own errors for connection problems
            raise TrainingError(f"could not {action} the {target}: {type(exc).__name__}: {exc}") from exc


def job_outcome(job: Any) -> Literal["running", "succeeded", "failed"]:
    """From a ``V1Job``: its Complete / Failed condition, else the succeeded / failed pod counts."""
    status = job.status
    for condition in status.conditions if status is not None and status.conditions else []:
        if condition.status == "True" and condition.type == "Complete":
            return "succeeded"
        if condition.status == "True" and condition.type == "Failed":
            return "failed"
    if status is not None and (status.succeeded or 0) > 0:
        return "succeeded"
    if status is not None and (status.failed or 0) > 0:
        return "failed"
    return "running"


def failure_reason(job: Any) -> str:
    for condition in job.status.conditions or []:
        if condition.type == "Failed" and condition.status == "True":
            return f"{condition.reason or 'Failed'}: {condition.message or 'no message'}"
    return "its pod failed"


def _write_config(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
