"""Retrain jobs end to end: signed webhook -> dataset (stand-in over HTTP) -> training in a worker
process -> gate on real ONNX models -> promotion -> Kubernetes rollout (stand-in over HTTP) -> rollback."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import orjson
import pytest
from controller_harness import ADMIN, KUBE_TOKEN, SECRET, running, wait_for, write_policy
from standins import FeaturesStandIn, KubernetesStandIn

from driftloop import webhook
from driftloop.policy import TrainingPolicy
from driftloop.registry import Registry
from driftloop_controller.settings import ControllerSettings, RolloutSettings

pytestmark = pytest.mark.anyio


async def fire(client: httpx.AsyncClient, key: str = "firing-1") -> str:
    body = orjson.dumps({"firing_id": key, "model": "credit", "trigger": "drift:performance", "summary": "AUC fell"})
    headers = {**webhook.sign(SECRET, body, idempotency_key=key), "Content-Type": "application/json"}
    response = await client.post("/v1/retrain", content=body, headers=headers)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def test_a_better_challenger_is_promoted_rolled_out_and_rolled_back(
    settings: ControllerSettings, registry: Registry, features: tuple[FeaturesStandIn, str],
    kube: tuple[KubernetesStandIn, str], after_shift: tuple[object, object],
) -> None:  # fmt: skip
    features[0].datasets["credit"] = after_shift  # type: ignore[assignment]
    kube_api, kube_url = kube
    settings.rollout = RolloutSettings(
        enabled=True, host=kube_url, token=KUBE_TOKEN, namespace="driftloop", deployment="driftloop-scoring"
    )
    async with running(settings) as client:
        job = await wait_for(client, await fire(client))
        assert job["state"] == "succeeded", job
        decision = job["decision"]
        assert decision["outcome"] == "promoted"
        assert decision["challenger_score"] > decision["champion_score"]
        assert decision["ci"][0] > 0
        assert decision["guardrail"]["passed"]
        assert decision["dataset"]["id"] == job["dataset_id"] == "ds-1"
        assert job["challenger_version"] == 2
        assert registry.aliases("credit") == {"champion": 2}
        assert any("promoted version 2 to champion (was 1)" in line for line in job["log"])
        assert job["started_at"]
        metrics = (await client.get("/metrics")).text
        assert 'driftloop_controller_jobs_total{model="credit",outcome="promoted"}' in metrics
        assert 'driftloop_controller_step_seconds_count{step="train"}' in metrics
        assert job["finished_at"]

        # The rollout: one strategic merge patch of the pod template's annotation.
        assert decision["rollout"]["annotations"]["driftloop.io/champion-version"] == "2"
        assert kube_api.patches == [
            {
                "content_type": "application/strategic-merge-patch+json",
                "body": {"spec": {"template": {"metadata": {"annotations": {
                    "driftloop.io/champion-version": "2", "driftloop.io/champion-model": "credit",
                }}}}},
            }
        ]  # fmt: skip

        admin = {"Authorization": f"Bearer {ADMIN}"}
        rolled = await client.post("/v1/models/credit/rollback", json={"reason": "regression in prod"}, headers=admin)
        assert rolled.status_code == 200
        assert rolled.json()["champion"] == 1
        assert registry.aliases("credit") == {"champion": 1}
        assert kube_api.annotations["driftloop.io/champion-version"] == "1"
        assert registry.history("credit")[-1]["reason"] == "regression in prod"


async def test_a_challenger_trained_on_shuffled_labels_is_never_promoted(
    settings: ControllerSettings, registry: Registry, features: tuple[FeaturesStandIn, str],
    after_shift: tuple[object, object], shuffled: object,
) -> None:  # fmt: skip
    features[0].datasets["credit"] = (shuffled, after_shift[1])  # type: ignore[assignment]
    async with running(settings) as client:
        job = await wait_for(client, await fire(client))
    assert job["state"] == "succeeded"
    decision = job["decision"]
    assert decision["outcome"] == "rejected"
    assert not decision["promote"]
    # Predicting one class can raise the accuracy of a broken champion, never its ranking: the
    # challenger is refused for being significantly worse on ROC AUC.
    assert "the challenger is significantly worse on roc_auc" in decision["reasons"]
    assert registry.aliases("credit") == {"champion": 1}
    assert registry.versions("credit") == [1, 2]  # the challenger stays registered, for the record


async def test_a_refused_dataset_fails_the_job_and_says_why(settings: ControllerSettings, registry: Registry) -> None:
    async with running(settings) as client:  # the stand-in has no data for credit: it answers 404
        job = await wait_for(client, await fire(client))
    assert job["state"] == "failed"
    assert "refused POST /v1/datasets (404): no source data for model 'credit'" in job["error"]
    assert registry.versions("credit") == [1]


async def test_the_rollout_is_refused_without_the_right_token(
    settings: ControllerSettings, registry: Registry, kube: tuple[KubernetesStandIn, str],
) -> None:  # fmt: skip
    kube_api, kube_url = kube
    settings.rollout = RolloutSettings(enabled=True, host=kube_url, token="wrong", namespace="driftloop")
    async with running(settings) as client:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        response = await client.post("/v1/models/credit/promote", json={"version": 1}, headers=admin)
    assert response.status_code == 502
    assert "refused to patch deployment driftloop/driftloop-scoring: 401" in response.json()["error"]["message"]
    assert kube_api.patches == []


async def test_killing_the_worker_mid_job_fails_the_job_and_leaves_the_registry(
    settings: ControllerSettings, registry: Registry, features: tuple[FeaturesStandIn, str],
    after_shift: tuple[object, object],
) -> None:  # fmt: skip
    features[0].datasets["credit"] = after_shift  # type: ignore[assignment]
    long = {"time_budget": 60, "families": ["linear"]}  # long enough to be killed
    settings.policy = write_policy(Path(settings.policy), training=long)
    async with running(settings) as client:
        job_id = await fire(client)
        await wait_for(client, job_id, lambda job: any("training in worker process" in line for line in job["log"]))
        pid = client.app.state.controller.worker.pid  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGKILL)
        job = await wait_for(client, job_id)
        assert job["state"] == "failed"
        assert "training worker process died" in job["error"]
        assert registry.versions("credit") == [1]
        assert registry.aliases("credit") == {"champion": 1}

        # The service survives: the next job gets a fresh worker.
        client.app.state.controller.policy.retrain.training = TrainingPolicy(  # type: ignore[attr-defined]
            time_budget=5, max_trials=2, families=["linear"]
        )
        again = await wait_for(client, await fire(client, key="firing-2"))
        assert again["state"] == "succeeded"
        assert again["decision"]["outcome"] == "promoted"


async def test_a_job_cancelled_while_training_promotes_nothing(
    settings: ControllerSettings, registry: Registry, features: tuple[FeaturesStandIn, str],
    after_shift: tuple[object, object],
) -> None:  # fmt: skip
    features[0].datasets["credit"] = after_shift  # type: ignore[assignment]
    async with running(settings) as client:
        job_id = await fire(client)
        await wait_for(client, job_id, lambda job: any("training in worker process" in line for line in job["log"]))
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert (await client.post(f"/v1/jobs/{job_id}/cancel", headers=admin)).status_code == 200
        # The training finishes (its version is registered); the job stops before the gate.
        job = await wait_for(client, job_id, lambda job: "stopped" in job["log"][-1])
    assert job["state"] == "cancelled"
    assert job["decision"] is None
    assert registry.aliases("credit") == {"champion": 1}
