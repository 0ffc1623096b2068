"""The retrain hand-off to Azure DevOps, end to end: the controller, the retrain pipeline, and back.

No cluster and no Azure DevOps run here, so each side runs as close to itself as this machine allows:
the chart is rendered with the hand-off configured, and feature-engineering, the retrain-controller
and scoring run as processes with exactly their rendered environment (chart_processes.py); Azure
DevOps is the stand-in of its Runs API (tests/integration/azure_devops_standin.py), which refuses a
parameter retrain.yml does not declare; the pipeline's steps run their own scripts as the agent
would (pipeline_steps.py), with a kubectl stand-in over the rendered manifests and those processes
(kubectl_standin.py): its Job is checked against the Kubernetes schema and its command run here.

A drift webhook makes a job; the controller builds the snapshot and hands it off; the pipeline
trains on that snapshot with the volumes the rendered chart gives, gates with the controller's gate,
promotes through the controller with its admin token, checks what scoring serves with an API key,
and reports to the job, whose record then shows the run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest
import yaml
from azure_devops_standin import (
    ORGANIZATION,
    PAT,
    PIPELINE_ID,
    PROJECT,
    StandIn,
    declared_parameters,
    serving_azure_devops,
)
from chart_processes import deployment, rendered_env, service_from_chart
from kubectl_standin import install, write_state
from pipeline_steps import defaults, find_step, run_step, stage_variables, steps_of
from ship_helpers import ROOT, Manifests, Render, find, helm_template

from driftloop import webhook
from driftloop.datasets import write_credit_csv
from driftloop.registry import Registry

pytestmark = pytest.mark.slow
ADMIN, WEBHOOK_SECRET, API_KEY, FEATURES_KEY = "admin-token", "webhook-secret", "scoring-key", "features-key"
POLICY = {
    "retrain": {
        "dataset": {"kind": "source", "holdout": 300},
        "training": {"time_budget": 10, "max_trials": 2, "families": ["linear"]},
        "gate": {"bootstrap": 300},
    }
}
LIMIT_S = 120.0


@dataclass
class Release:
    """The rendered chart, its processes and the stand-ins, for one test."""

    manifests: Manifests
    tmp: Path
    datasets: Path
    registry: Path
    controller: str
    scoring: str
    devops: StandIn
    agent_env: dict[str, str]
    variables: dict[str, str]


def train_champion(tmp: Path, registry: Path) -> None:
    """credit@1 on shuffled labels: a weak champion, so that a challenger on the real ones wins."""
    data = pd.read_csv(write_credit_csv(tmp / "champion.csv", 600, seed=11))
    data["default"] = data["default"].sample(frac=1.0, random_state=0).to_numpy()
    data.to_csv(tmp / "champion.csv", index=False)
    command = ["train", "--data", str(tmp / "champion.csv"), "--target", "default", "--name", "credit"]
    command += ["--registry", str(registry), "--max-trials", "1", "--quiet"]
    trained = subprocess.run(
        [sys.executable, "-m", "driftloop.cli.main", *command], capture_output=True, text=True, timeout=300
    )
    assert trained.returncode == 0, trained.stderr


@pytest.fixture
def release(render: Render, tmp_path: Path) -> Iterator[Release]:
    datasets, registry = tmp_path / "datasets", tmp_path / "registry"
    (datasets / "sources").mkdir(parents=True)
    source = write_credit_csv(datasets / "sources" / "credit.csv", 1500, seed=5)
    train_champion(tmp_path, registry)
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    manifests = render(
        f"retrainController.azureDevOps.organization={ORGANIZATION}",
        f"retrainController.azureDevOps.project={PROJECT}",
        f"retrainController.azureDevOps.pipelineId={PIPELINE_ID}",
        "retrainController.rollout.enabled=false",
        "secrets.existingSecret=driftloop-secrets",
        f"registry.mountPath={registry}",
        f"datasets.mountPath={datasets}",
        f"featureEngineering.sources.credit={source}",
        f"config.busUrl=sqlite:///{tmp_path / 'bus.db'}",
    )
    store = f"sqlite:///{tmp_path / 'store.db'}"
    # What the Secret holds, each to the services whose secretKeys name it.
    secret = {"DRIFTLOOP_AUTH__ADMIN_TOKEN": ADMIN, "DRIFTLOOP_STORE__URL": store}
    features_env = {**secret, "DRIFTLOOP_AUTH__API_KEYS": FEATURES_KEY}
    scoring_env = {"DRIFTLOOP_AUTH__ADMIN_TOKEN": ADMIN, "DRIFTLOOP_AUTH__API_KEYS": API_KEY}
    with (
        serving_azure_devops() as devops,
        service_from_chart(manifests, "feature-engineering", tmp_path, **features_env) as features,
        service_from_chart(manifests, "scoring", tmp_path, **scoring_env) as scoring,
    ):
        controller_env = {
            **secret,
            "DRIFTLOOP_WEBHOOK__SECRET": WEBHOOK_SECRET,
            "DRIFTLOOP_AZURE_DEVOPS__TOKEN": PAT,
            "DRIFTLOOP_FEATURES__API_KEY": FEATURES_KEY,
            # Not from the chart: the Services' cluster names, Azure DevOps' address, the mounted policy.
            "DRIFTLOOP_FEATURES__URL": features,
            "DRIFTLOOP_AZURE_DEVOPS__BASE_URL": devops.base_url,
            "DRIFTLOOP_POLICY": str(tmp_path / "policy.yaml"),
        }
        with service_from_chart(manifests, "retrain-controller", tmp_path, **controller_env) as controller:
            names = {c: deployment(manifests, c)["metadata"]["name"] for c in ("retrain-controller", "scoring")}
            state = tmp_path / "kubectl.json"
            write_state(
                state,
                deployments={name: deployment(manifests, c) for c, name in names.items()},
                pod_env={
                    names["retrain-controller"]: {**rendered_env(manifests, "retrain-controller"), **controller_env}
                },
                services={names["retrain-controller"]: controller, names["scoring"]: scoring},
                jobs_dir=tmp_path / "jobs",
                scoring={"url": scoring, "api_key": API_KEY, "model": "credit", "registry": str(registry)},
            )
            agent_env = {**install(tmp_path / "bin", state), "HOME": str(tmp_path)}
            # The variable group (driftloop-prod) and the agent's predefined variables.
            variables = {
                "K8S_NAMESPACE": "driftloop",
                "AKS_RESOURCE_GROUP": "driftloop-rg",
                "AKS_CLUSTER": "driftloop-aks",
                "DRIFTLOOP_ADMIN_TOKEN": ADMIN,
                "DRIFTLOOP_API_KEY": API_KEY,
                "controller": names["retrain-controller"],
                "scoring": names["scoring"],
                "Build.SourcesDirectory": str(ROOT),
                "System.CollectionUri": f"{devops.base_url}/{ORGANIZATION}/",
                "System.TeamProject": PROJECT,
            }
            yield Release(manifests, tmp_path, datasets, registry, controller, scoring, devops, agent_env, variables)


def fire(release: Release, firing_id: str) -> str:
    body = orjson.dumps({"firing_id": firing_id, "model": "credit", "trigger": "drift:psi", "evidence": []})
    headers = webhook.sign(WEBHOOK_SECRET, body, idempotency_key=firing_id)
    answer = httpx.post(f"{release.controller}/v1/retrain", content=body, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def job_when(release: Release, job_id: str, until: Any) -> dict[str, Any]:
    give_up = time.monotonic() + LIMIT_S
    while True:
        job: dict[str, Any] = httpx.get(f"{release.controller}/v1/jobs/{job_id}", timeout=30).json()
        if until(job):
            return job
        assert time.monotonic() < give_up, f"job {job_id} did not get there: {job}"
        time.sleep(0.1)  # the job runs in the controller's process


def handed_off(release: Release, job_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The job once handed off, and the parameters its run got (the stand-in's record)."""
    job = job_when(release, job_id, lambda j: j["decision"] is not None or j["error"])
    assert job["state"] == "running", job
    [request] = [
        r for r in release.devops.requests if r.get("body", {}).get("templateParameters", {}).get("jobId") == job_id
    ]
    return job, request["body"]["templateParameters"]


def pipeline_parameters(sent: dict[str, str]) -> dict[str, Any]:
    """What a run of retrain.yml sees: its defaults, with the templateParameters it was started with."""
    return {**defaults(), **sent}


def test_a_drift_retrain_is_handed_to_the_pipeline_which_trains_gates_promotes_and_reports_back(
    release: Release,
) -> None:
    job_id = fire(release, "firing-1")
    job, sent = handed_off(release, job_id)

    # The controller handed over the snapshot the feature service built, and its job id.
    snapshot = job["decision"]["dataset"]
    assert sent["dataPath"] == str(release.datasets / snapshot["sha256"] / "train.parquet")
    assert sent["holdoutPath"] == str(release.datasets / snapshot["sha256"] / "holdout.parquet")
    assert Path(sent["dataPath"]).is_file()
    assert Path(sent["holdoutPath"]).is_file()
    assert sent["configPath"] == str(release.datasets / "jobs" / f"{job_id}.yaml")
    assert yaml.safe_load(Path(sent["configPath"]).read_text())["target"] == "default"
    assert (sent["jobId"], sent["modelName"], sent["reason"]) == (job_id, "credit", "drift:psi")
    assert set(sent) <= declared_parameters()
    run = job["decision"]["azure_devops_run"]
    assert (run["id"], run["state"], run["result"]) == (1001, "inProgress", None)
    assert any("handed off to Azure DevOps: run 1001" in line for line in job["log"])

    parameters = pipeline_parameters(sent)
    variables = {**release.variables, "Build.BuildId": "1001", "jobId": job_id}

    # Train: the given paths become the stage's outputs; the Job mounts both claims and registers credit@2.
    inputs, outputs = run_step(
        find_step("Train", parameters, "The training set"), parameters, variables, release.agent_env
    )
    assert inputs.returncode == 0, inputs.stderr
    assert outputs == {
        "dataPath": sent["dataPath"],
        "holdoutPath": sent["holdoutPath"],
        "configPath": sent["configPath"],
    }
    variables |= {f"inputs.{name}": value for name, value in outputs.items()}
    train, _ = run_step(find_step("Train", parameters, "Train credit"), parameters, variables, release.agent_env)
    assert train.returncode == 0, train.stdout + train.stderr
    [job_manifest] = [m for m in (release.tmp / "jobs").glob("retrain-1001.json")]
    pod = orjson.loads(job_manifest.read_bytes())["manifest"]["spec"]["template"]["spec"]
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims == {"registry": "demo-driftloop-registry", "datasets": "demo-driftloop-datasets"}
    assert {pvc["metadata"]["name"] for pvc in find(release.manifests, "PersistentVolumeClaim")} == set(claims.values())
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["datasets"] == {"name": "datasets", "mountPath": str(release.datasets), "readOnly": True}
    assert mounts["registry"]["mountPath"] == str(release.registry)
    controller_pod = deployment(release.manifests, "retrain-controller")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == controller_pod["containers"][0]["image"]
    assert pod["securityContext"] == controller_pod["securityContext"]
    assert Registry(release.registry).versions("credit") == [1, 2]
    lineage = Registry(release.registry).resolve("credit", 2).document("lineage")
    assert lineage["dataset"]["path"] == str(Path(sent["dataPath"]).resolve())  # on the controller's snapshot

    # Gate: the controller's gate in its pod, on the snapshot's holdout.
    variables |= stage_variables("Gate", {"Train.Train.inputs": outputs})
    gate, gate_outputs = run_step(
        find_step("Gate", parameters, "The controller's gate"), parameters, variables, release.agent_env
    )
    assert gate.returncode == 0, gate.stdout + gate.stderr
    decision = orjson.loads(gate_outputs["decision"])
    assert (gate_outputs["challengerVersion"], gate_outputs["promote"]) == ("2", "true"), decision["reasons"]
    assert decision["holdout_rows"] == 300
    variables |= stage_variables("Promote", {"Gate.Gate.gate": gate_outputs})
    assert variables["challengerVersion"] == "2"

    # Promote: through the controller (admin token), then what scoring serves, asked with the API key.
    assert httpx.get(f"{release.scoring}/v2/models/credit").status_code == 401  # keys are configured
    promote, _ = run_step(find_step("Promote", parameters, "Promote credit@"), parameters, variables, release.agent_env)
    assert promote.returncode == 0, promote.stdout + promote.stderr
    assert Registry(release.registry).aliases("credit")["champion"] == 2
    served = httpx.get(f"{release.scoring}/v2/models/credit", headers={"X-API-Key": API_KEY}).json()
    assert served["parameters"]["version"] == "2"

    report_step = find_step("Promote", parameters, "Report the run", condition="succeeded()")
    assert "ne(variables['jobId'], '')" in report_step.condition
    reported, _ = run_step(report_step, parameters, variables, release.agent_env)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    assert f"reported run 1001 (succeeded) to job {job_id}: now succeeded, promoted" in reported.stdout

    job = httpx.get(f"{release.controller}/v1/jobs/{job_id}").json()
    assert (job["state"], job["challenger_version"], job["error"]) == ("succeeded", 2, None)
    assert job["decision"]["outcome"] == "promoted"
    assert job["decision"]["reasons"] == decision["reasons"]  # the pipeline's gate decision, kept
    assert job["decision"]["dataset"]["sha256"] == snapshot["sha256"]
    assert job["decision"]["azure_devops_run"] == {
        **run,
        "state": "completed",
        "result": "succeeded",
        "url": f"{release.devops.base_url}/{ORGANIZATION}/{PROJECT}/_build/results?buildId=1001",
    }

    # The next drift: a failed training is reported from the Train stage, and the job fails saying where.
    second = fire(release, "firing-2")
    _, sent = handed_off(release, second)
    parameters = pipeline_parameters(sent)
    variables = {**release.variables, "Build.BuildId": "1002", "jobId": second}
    failed_step = find_step("Train", parameters, "Report the run", condition="failed()")
    wrong = {**variables, "DRIFTLOOP_ADMIN_TOKEN": "not-the-token"}
    refused, _ = run_step(failed_step, parameters, wrong, release.agent_env)
    assert refused.returncode != 0
    assert "the controller refused the report (401)" in refused.stderr
    assert httpx.get(f"{release.controller}/v1/jobs/{second}").json()["state"] == "running"
    reported, _ = run_step(failed_step, parameters, variables, release.agent_env)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    job = httpx.get(f"{release.controller}/v1/jobs/{second}").json()
    assert (job["state"], job["error"]) == (
        "failed",
        "Azure DevOps run 1002 failed: the Train stage failed (see its log)",
    )
    assert job["decision"]["azure_devops_run"]["result"] == "failed"

    # The schedule's run has no training set: the controller's code in its pod makes one, as for a hand-off.
    scheduled = defaults()
    variables = {**release.variables, "Build.BuildId": "1003", "jobId": ""}
    inputs, outputs = run_step(
        find_step("Train", scheduled, "The training set"), scheduled, variables, release.agent_env
    )
    assert inputs.returncode == 0, inputs.stdout + inputs.stderr
    made = Path(outputs["dataPath"])
    assert made.name == "train.parquet"
    assert made.parent.parent == release.datasets
    assert outputs["holdoutPath"] == str(made.parent / "holdout.parquet")
    assert outputs["configPath"] == str(release.datasets / "jobs" / "pipeline-1003.yaml")
    assert (
        yaml.safe_load(Path(outputs["configPath"]).read_text())["time_budget"]
        == POLICY["retrain"]["training"]["time_budget"]
    )


def test_every_report_is_skipped_for_a_run_without_a_job() -> None:
    # The schedule's and manual runs have no job: jobId is blank, trimmed to nothing, so no report runs.
    parameters = defaults()
    assert parameters["jobId"].strip() == ""
    found = [s for stage in ("Train", "Gate", "Promote") for s in steps_of(stage, parameters)]
    reports = [s for s in found if s.display_name.startswith("Report the run")]
    assert len(reports) == 8  # failed and canceled in each stage, rejected at the gate, promoted at the end
    assert all(s.condition.endswith(", ne(variables['jobId'], ''))") for s in reports)
    assert sorted(s.condition.split(",")[0] for s in reports) == sorted(
        ["and(failed()", "and(canceled()"] * 3 + ["and(and(succeeded()", "and(succeeded()"]
    )


HAND_OFF = (
    f"retrainController.azureDevOps.organization={ORGANIZATION}",
    f"retrainController.azureDevOps.project={PROJECT}",
    f"retrainController.azureDevOps.pipelineId={PIPELINE_ID}",
)


def test_the_controller_reads_the_hand_off_the_chart_renders(render: Render, monkeypatch: pytest.MonkeyPatch) -> None:
    from driftloop_controller.settings import ControllerSettings

    manifests = render(*HAND_OFF, "datasets.mountPath=/data/sets")
    for name, value in rendered_env(manifests, "retrain-controller").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DRIFTLOOP_AZURE_DEVOPS__TOKEN", PAT)  # from the Secret
    settings = ControllerSettings().azure_devops
    assert settings.configured
    assert (settings.organization, settings.project, settings.pipeline_id) == (ORGANIZATION, PROJECT, PIPELINE_ID)
    assert settings.datasets_mount == Path("/data/sets")  # where the pipeline's Job mounts the datasets claim
    [container] = deployment(manifests, "retrain-controller")["spec"]["template"]["spec"]["containers"]
    assert {"name": "datasets", "mountPath": "/data/sets"} in container["volumeMounts"]
    assert "DRIFTLOOP_AZURE_DEVOPS__DATASETS_MOUNT" not in rendered_env(render(), "retrain-controller")


@pytest.mark.parametrize("claim", ["registry", "datasets"])
def test_the_hand_off_needs_both_claims(helm: Path, claim: str) -> None:
    args = [arg for assignment in HAND_OFF for arg in ("--set", assignment)]
    result = helm_template(helm, *args, "--set", f"{claim}.persistence.enabled=false")
    assert result.returncode != 0
    assert "the retrain pipeline's training Job mounts both claims" in result.stderr
