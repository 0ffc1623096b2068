"""Training as a Kubernetes Job: the controller creates a batch/v1 Job through the ``kubernetes`` client
against a stand-in API server on 127.0.0.1 (named as such: no cluster runs here) whose kubelet runs
the Job's ``driftloop train`` for real, follows it to completion and gates what it registered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pandas as pd
import pytest
import yaml
from controller_harness import KUBE_TOKEN, SECRET, running, wait_for
from standins import FeaturesStandIn, KubernetesJobsStandIn, serve

from driftloop import webhook
from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_model
from driftloop_controller.kubernetes_job_settings import TrainingJobSettings
from driftloop_controller.settings import ControllerSettings

pytestmark = pytest.mark.anyio
IMAGE = "driftloopacr.azurecr.io/driftloop-retrain-controller:0123abc"


@pytest.fixture
def jobs_api() -> Iterator[tuple[KubernetesJobsStandIn, str]]:
    stand_in = KubernetesJobsStandIn(token=KUBE_TOKEN)
    with serve(stand_in.app()) as url:
        yield stand_in, url
    stand_in.join()


def job_settings(settings: ControllerSettings, url: str, token: str, tmp_path: Path) -> ControllerSettings:
    training_job = TrainingJobSettings(
        mode="kubernetes-job",
        image=IMAGE,
        namespace="driftloop",
        name_prefix="demo-driftloop-train",
        registry_claim="demo-driftloop-registry",
        datasets_claim="demo-driftloop-datasets",
        datasets_mount=tmp_path / "datasets",  # where the features stand-in writes its snapshots
        resources={"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}},
        poll_seconds=0.05,
        host=url,
        token=token,
    )
    return settings.model_copy(update={"training_job": training_job})


async def fire(client: object, key: str = "firing-k8s") -> str:
    body = orjson.dumps({"firing_id": key, "model": "credit", "trigger": "drift:performance", "summary": "AUC fell"})
    headers = {**webhook.sign(SECRET, body, idempotency_key=key), "Content-Type": "application/json"}
    response = await client.post("/v1/retrain", content=body, headers=headers)  # type: ignore[attr-defined]
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def test_training_runs_as_a_job_and_its_challenger_is_gated_and_promoted(
    settings: ControllerSettings, registry: Registry, features: tuple[FeaturesStandIn, str],
    jobs_api: tuple[KubernetesJobsStandIn, str], after_shift: tuple[object, object], tmp_path: Path,
) -> None:  # fmt: skip
    features[0].datasets["credit"] = after_shift  # type: ignore[assignment]
    api, url = jobs_api
    async with running(job_settings(settings, url, KUBE_TOKEN, tmp_path)) as client:
        job = await wait_for(client, await fire(client))

    assert job["state"] == "succeeded", (job.get("error"), job.get("log"), api.outputs, api.statuses)
    assert job["decision"]["outcome"] == "promoted"
    assert job["challenger_version"] == 2
    assert registry.aliases("credit") == {"champion": 2}
    assert any("the training Job succeeded: registered challenger version 2" in line for line in job["log"])

    [created] = api.created
    assert created["authorization"] == f"Bearer {KUBE_TOKEN}"
    body = created["body"]
    assert body["metadata"]["name"] == f"demo-driftloop-train-{job['id'][:16]}"
    pod = body["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == IMAGE
    train_path = str(tmp_path / "datasets" / "ds-1-train.parquet")
    assert container["command"][:4] == ["driftloop", "train", "--data", train_path]
    assert container["command"][container["command"].index("--registry") + 1] == str(registry.root)
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "8Gi"}
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims == {"registry": "demo-driftloop-registry", "datasets": "demo-driftloop-datasets"}
    # What the Job registered: trained on the snapshot, the champion left for the gate to move.
    lineage = registry.resolve("credit", 2).document("lineage")
    assert lineage["dataset"]["path"] == train_path
    assert lineage["parent_version"] == 1


async def test_a_failed_job_fails_the_retrain_and_changes_nothing(
    settings: ControllerSettings, registry: Registry, features: tuple[FeaturesStandIn, str],
    jobs_api: tuple[KubernetesJobsStandIn, str], after_shift: tuple[object, object], tmp_path: Path,
) -> None:  # fmt: skip
    features[0].datasets["credit"] = after_shift  # type: ignore[assignment]
    api, url = jobs_api
    api.fail_with = "OOMKilled: the training pod ran out of memory"
    async with running(job_settings(settings, url, KUBE_TOKEN, tmp_path)) as client:
        job = await wait_for(client, await fire(client))

    assert job["state"] == "failed"
    assert "training Job driftloop/demo-driftloop-train-" in job["error"]
    assert "OOMKilled" in job["error"]
    assert registry.versions("credit") == [1]
    assert registry.aliases("credit") == {"champion": 1}


async def test_a_refused_create_fails_the_retrain_naming_the_status(
    settings: ControllerSettings, registry: Registry, features: tuple[FeaturesStandIn, str],
    jobs_api: tuple[KubernetesJobsStandIn, str], after_shift: tuple[object, object], tmp_path: Path,
) -> None:  # fmt: skip
    features[0].datasets["credit"] = after_shift  # type: ignore[assignment]
    api, url = jobs_api
    async with running(job_settings(settings, url, "a-wrong-token", tmp_path)) as client:
        job = await wait_for(client, await fire(client))

    assert job["state"] == "failed"
    assert "refused to create the training Job in namespace driftloop: 401" in job["error"]
    assert not api.created
    assert registry.versions("credit") == [1]


DERIVED = [
    {"kind": "ratio", "name": "loan_to_income", "numerator": "loan_amount", "denominator": "income"},
    {"kind": "cross", "name": "purpose_region", "left": "purpose", "right": "region"},
]


async def test_the_challenger_keeps_the_champions_derived_features(
    settings: ControllerSettings, features: tuple[FeaturesStandIn, str],
    jobs_api: tuple[KubernetesJobsStandIn, str], after_shift: tuple[object, object], tmp_path: Path,
) -> None:  # fmt: skip
    registry = Registry(tmp_path / "derived-registry")
    config = TrainConfig(target="default", time_budget=5, max_trials=1, families=["linear"], derived=DERIVED)
    train_model(pd.DataFrame(make_credit(1000, seed=1)), config=config, name="credit", registry=registry)
    settings.registry.path = registry.root
    features[0].datasets["credit"] = after_shift  # type: ignore[assignment]
    api, url = jobs_api
    async with running(job_settings(settings, url, KUBE_TOKEN, tmp_path)) as client:
        job = await wait_for(client, await fire(client, "firing-derived"))

    assert job["state"] == "succeeded", (job.get("error"), api.outputs)
    written = yaml.safe_load((tmp_path / "datasets" / "jobs" / f"{job['id']}.yaml").read_text())
    assert written["derived"] == registry.resolve("credit", 1).document("lineage")["parameters"]["derived"]
    challenger = registry.resolve("credit", job["challenger_version"])
    assert challenger.document("lineage")["parameters"]["derived"] == written["derived"]
    assert challenger.document("metrics")["sweep"]["derived"] == len(DERIVED)
