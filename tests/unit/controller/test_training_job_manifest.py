"""The training Job's manifest, checked against the Kubernetes schemas, and the settings that shape it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import kubernetes_validate
import pytest
from pydantic import ValidationError

from driftloop.errors import TrainingError
from driftloop_controller.kubernetes_job_settings import TrainingJobSettings
from driftloop_controller.kubernetes_training import (
    TrainingJobSpec,
    config_path,
    job_body,
    job_name,
    job_outcome,
)
from driftloop_controller.settings import ControllerSettings

KUBERNETES_VERSION = "1.33.0"  # the version the chart is validated against (tools/make/ship.mk)
SPEC = TrainingJobSpec(
    retrain_job_id="0f3c2a9e5b7d4c1e8a6f9b2d4c6e8a0b",
    model="credit",
    train_path="/var/lib/driftloop/datasets/736fcd78/train.parquet",
    registry_path="/var/lib/driftloop/registry",
    config={"target": "default", "time_budget": 600.0},
)


def settings(**overrides: object) -> TrainingJobSettings:
    values: dict[str, object] = {
        "mode": "kubernetes-job",
        "image": "driftloop-retrain-controller:1.0",
        "namespace": "driftloop",
        "registry_claim": "demo-driftloop-registry",
        "datasets_claim": "demo-driftloop-datasets",
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}},
    }
    return TrainingJobSettings.model_validate({**values, **overrides})


def test_the_job_is_a_valid_batch_v1_job() -> None:
    body = job_body(settings(), SPEC)
    kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
    assert body["spec"]["backoffLimit"] == 0
    pod = body["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False  # training needs no API access
    [container] = pod["containers"]
    assert container["command"] == [
        "driftloop", "train",
        "--data", SPEC.train_path,
        "--config", f"/var/lib/driftloop/datasets/jobs/{SPEC.retrain_job_id}.yaml",
        "--name", "credit",
        "--registry", "/var/lib/driftloop/registry",
        "--quiet",
    ]  # fmt: skip
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"registry": SPEC.registry_path, "datasets": "/var/lib/driftloop/datasets", "tmp": "/tmp"}


def test_the_config_file_is_on_the_datasets_volume() -> None:
    assert config_path(settings(), "abc").is_relative_to(Path("/var/lib/driftloop/datasets"))


def test_job_names_are_dns_labels_whatever_the_job_id() -> None:
    name = job_name(settings(name_prefix="a-very-long-release-driftloop-train"), "AB_CD" * 20)
    assert len(name) <= 63
    assert name == "a-very-long-release-driftloop-train-abcdabcdabcdabcd"
    with pytest.raises(ValidationError, match="name_prefix"):
        settings(name_prefix="Not_A_Label")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image": ""}, "DRIFTLOOP_TRAINING_JOB__IMAGE"),
        ({"registry_claim": ""}, "DRIFTLOOP_TRAINING_JOB__REGISTRY_CLAIM"),
        ({"datasets_claim": ""}, "DRIFTLOOP_TRAINING_JOB__DATASETS_CLAIM"),
    ],
)
def test_a_missing_setting_is_named(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        job_body(settings(**overrides), SPEC)


def condition(kind: str) -> SimpleNamespace:
    return SimpleNamespace(type=kind, status="True")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (None, "running"),
        (SimpleNamespace(conditions=None, succeeded=None, failed=None), "running"),
        (SimpleNamespace(conditions=[condition("Complete")], succeeded=1, failed=None), "succeeded"),
        (SimpleNamespace(conditions=[condition("Failed")], succeeded=None, failed=1), "failed"),
        (SimpleNamespace(conditions=None, succeeded=None, failed=1), "failed"),
        (SimpleNamespace(conditions=[condition("Suspended")], succeeded=None, failed=None), "running"),
    ],
)
def test_the_outcome_of_a_job_status(status: object, outcome: str) -> None:
    assert job_outcome(SimpleNamespace(status=status)) == outcome


def test_the_default_is_training_in_process() -> None:
    assert ControllerSettings().training_job.enabled is False
    assert TrainingJobSettings().mode == "process"


def test_the_settings_module_imports_nothing_of_the_controller() -> None:
    """settings.py imports it for its ``training_job`` group: it must not import settings back (a cycle)."""
    code = (
        "import sys; import driftloop_controller.kubernetes_job_settings; "
        "print(sorted(m for m in sys.modules if m.startswith('driftloop_controller.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['driftloop_controller.kubernetes_job_settings']"
