"""The retrain hand-off to Azure DevOps: what the controller gives the retrain pipeline, and what it takes back.

With ``DRIFTLOOP_AZURE_DEVOPS__*`` configured, a retrain job builds its training set as usual (the
feature-engineering service writes the snapshot ``<datasets>/<sha256>/{train,holdout}.parquet`` on
the shared volume), writes the challenger's training configuration beside the snapshots
(``<datasets mount>/jobs/<job id>.yaml``: the policy's budget, the champion's target and derived
features) and starts ``azure-pipelines/retrain.yml`` with those paths and the job id. The job stays
``running`` until the pipeline reports its end (``POST /v1/jobs/{id}/pipeline-run``, admin token):
then it is ``succeeded`` (promoted or rejected, with the pipeline's gate decision) or ``failed``,
and its decision names the run (id, URL, result). A report for another run, or for a job that was
never handed off, is refused (409); a report for a job that has finished meanwhile (cancelled by an
operator) is recorded on it without changing its state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from driftloop.errors import ConflictError
from driftloop.policy import RetrainPolicy
from driftloop.registry import Bundle
from driftloop.store import jobs as states
from driftloop.store.jobs import JobStore, RetrainJob
from driftloop.train.config import TrainConfig
from driftloop_controller.azure_devops import PipelineRun, retrain_parameters
from driftloop_controller.features_client import Dataset
from driftloop_controller.metrics import JOBS

HANDED_OFF = states.HANDED_OFF


class PipelineRunMismatchError(ConflictError):
    code = "pipeline_run_mismatch"


def challenger_config(champion: Bundle, policy: RetrainPolicy) -> TrainConfig:
    """How the challenger is trained: the policy's search, the champion's target and derived features."""
    training = policy.training
    # The challenger keeps the champion's derived features (docs/features.md): same inputs, same graph shape.
    derived = champion.document("lineage").get("parameters", {}).get("derived") or []
    return TrainConfig(
        target=champion.contract.target,
        time_budget=training.time_budget,
        max_trials=training.max_trials,
        seed=training.seed,
        derived=derived,
        **({"families": training.families} if training.families else {}),
    )


def write_training_config(datasets_mount: Path, job_id: str, config: TrainConfig) -> Path:
    """The configuration file the pipeline's Job trains with, on the volume it mounts."""
    path = datasets_mount / "jobs" / f"{job_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path


@dataclass(frozen=True)
class HandOff:
    """What one pipeline run is given."""

    job_id: str
    model: str
    reason: str
    dataset: Dataset
    config_path: Path
    target: str

    def parameters(self) -> dict[str, str]:
        return retrain_parameters(
            self.model,
            self.reason,
            target=self.target,
            data_path=str(self.dataset.train_path),
            holdout_path=str(self.dataset.holdout_path),
            config_path=str(self.config_path),
            job_id=self.job_id,
        )


def handed_off_decision(hand_off: HandOff, run: PipelineRun, strategy: dict[str, Any]) -> dict[str, Any]:
    """The job's decision while the pipeline runs: the run, and the dataset it was given."""
    return {
        "outcome": HANDED_OFF,
        "promote": False,
        "dataset": {
            "id": hand_off.dataset.id,
            "sha256": hand_off.dataset.sha256,
            "strategy": strategy,
            "quality": hand_off.dataset.quality,
            "train_path": str(hand_off.dataset.train_path),
            "holdout_path": str(hand_off.dataset.holdout_path),
        },
        "azure_devops_run": {"id": run.id, "name": run.name, "url": run.web_url, "state": run.state, "result": None},
    }


class PipelineReport(BaseModel):
    """``POST /v1/jobs/{id}/pipeline-run``: the pipeline's run has ended (azure-pipelines/scripts/report_run.py)."""

    run_id: int = Field(ge=1)
    """The run (Azure DevOps' Build.BuildId) the job was handed to."""
    result: Literal["succeeded", "failed", "canceled"]
    """How the run ended."""
    outcome: Literal["promoted", "rejected"] | None = None
    """With ``succeeded``: whether the challenger was promoted."""
    challenger_version: int | None = Field(default=None, ge=1)
    """The version the run registered, if it got that far."""
    decision: dict[str, Any] | None = None
    """The pipeline's gate decision (the controller's gate, run in its pod)."""
    url: str | None = Field(default=None, max_length=2000)
    """The run's page."""
    message: str = Field(default="", max_length=2000)
    """What happened, in a line (the failing stage)."""


def apply_report(jobs: JobStore, job: RetrainJob, report: PipelineReport) -> RetrainJob:
    """Record the end of the job's pipeline run on it; see the module docstring for the rules."""
    decision = dict(job.decision or {})
    run = decision.get("azure_devops_run")
    if not isinstance(run, dict):
        raise PipelineRunMismatchError(f"job {job.id} was not handed off to Azure DevOps", details={"field": "run_id"})
    if run.get("id") != report.run_id:
        raise PipelineRunMismatchError(
            f"job {job.id} was handed to run {run.get('id')}, not run {report.run_id}", details={"field": "run_id"}
        )
    if report.result == "succeeded" and report.outcome is None:
        raise PipelineRunMismatchError(
            "a succeeded run reports its outcome (promoted or rejected)", details={"field": "outcome"}
        )
    if run.get("result") == report.result:
        return job  # the same report again
    run = {**run, "state": "completed", "result": report.result, "url": report.url or run.get("url")}
    if report.message:
        run["message"] = report.message
    outcome = report.outcome if report.result == "succeeded" else "failed"
    recorded = {**decision, **(report.decision or {}), "outcome": outcome, "promote": outcome == "promoted"}
    recorded["dataset"], recorded["azure_devops_run"] = decision.get("dataset"), run
    line = f"Azure DevOps run {report.run_id} {report.result}" + (f": {outcome}" if outcome != "failed" else "")
    values: dict[str, Any] = {"decision": recorded}
    if report.challenger_version is not None:
        values["challenger_version"] = report.challenger_version
    if job.state != states.RUNNING:
        jobs.update(job.id, **values)
        jobs.append_log(job.id, f"{line} (recorded; the job was already {job.state})")
    else:
        error = None if outcome != "failed" else f"Azure DevOps run {report.run_id} {report.result}: {report.message}"
        to_state = states.SUCCEEDED if outcome != "failed" else states.FAILED
        jobs.transition(job.id, (states.RUNNING,), to_state, finished_at=states.now(), error=error, **values)
        jobs.append_log(job.id, f"{line}{f' ({report.message})' if report.message else ''}")
        JOBS.labels(job.model, outcome).inc()
    updated = jobs.get(job.id)
    assert updated is not None
    return updated
