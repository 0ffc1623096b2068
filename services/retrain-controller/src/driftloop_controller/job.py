"""One retrain job, step by step: dataset, training, gate, promotion and rollout, decision.

Every step is written to the job's log; the decision (promoted or rejected, with its evidence)
is stored whatever it is. A job cancelled while it runs stops at its next step and promotes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from driftloop.errors import DriftloopError
from driftloop.policy import RetrainPolicy
from driftloop.registry import CHAMPION, Registry
from driftloop.store import jobs as states
from driftloop.store.jobs import JobStore, RetrainJob
from driftloop.train.config import TrainConfig
from driftloop.train.dataset import load_table
from driftloop_controller.azure_devops import AzureDevOpsClient
from driftloop_controller.features_client import Dataset, FeaturesClient
from driftloop_controller.gate import compare
from driftloop_controller.handoff import (
    HANDED_OFF,
    HandOff,
    challenger_config,
    handed_off_decision,
    write_training_config,
)
from driftloop_controller.kubernetes_training import KubernetesTrainer, TrainingJobSpec, job_name
from driftloop_controller.metrics import JOBS, STEP_SECONDS
from driftloop_controller.retrain_request import DatasetPlan, dataset_plan
from driftloop_controller.rollout import roll_out
from driftloop_controller.settings import ControllerSettings
from driftloop_controller.training import TrainingWorker
from driftloop_controller.worker import TrainRequest

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """The job was cancelled by an operator while it ran."""


class JobRunner:
    def __init__(
        self,
        settings: ControllerSettings,
        policy: RetrainPolicy,
        registry: Registry,
        jobs: JobStore,
        worker: TrainingWorker,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.registry = registry
        self.jobs = jobs
        self.worker = worker
        self.training_job = settings.training_job

    async def run(self, job_id: str) -> None:
        if not self.jobs.transition(job_id, (states.QUEUED,), states.RUNNING, started_at=states.now()):
            return  # cancelled while queued
        job = self.jobs.get(job_id)
        assert job is not None
        try:
            decision = await self._steps(job)
        except JobCancelled:
            self._log(job_id, "stopped: the job was cancelled; nothing was promoted")
            JOBS.labels(job.model, "cancelled").inc()
            return
        except DriftloopError as exc:
            self._fail(job, exc.message)
            return
        except Exception as exc:
            logger.exception("retrain job %s failed", job_id)
            self._fail(job, f"{type(exc).__name__}: {exc}")
            return
        if decision.get("outcome") == HANDED_OFF:
            # The pipeline does the rest and reports its end (handoff.apply_report); the job runs until then.
            self.jobs.update(job_id, decision=decision)
            return
        JOBS.labels(job.model, str(decision.get("outcome"))).inc()
        self.jobs.transition(job_id, (states.RUNNING,), states.SUCCEEDED, finished_at=states.now(), decision=decision)
        self._log(job_id, f"finished: {decision.get('outcome')}")

    async def _steps(self, job: RetrainJob) -> dict[str, Any]:
        model = job.model
        champion = self.registry.resolve(model, CHAMPION)
        self._log(job.id, f"retraining {model} (champion: version {champion.version}) for {job.trigger}")
        plan = dataset_plan(self.policy, job.evidence)
        dataset = await self._dataset(job, plan)
        config = challenger_config(champion, self.policy)
        if self.settings.azure_devops.configured:
            return await self._hand_off(job, dataset, config, plan.body["strategy"])

        training = self.policy.training
        request = TrainRequest(
            registry_path=str(self.registry.root),
            model=model,
            target=champion.contract.target,
            train_path=str(dataset.train_path),
            config=config.model_dump(mode="json"),
            trigger=f"retrain job {job.id} ({job.trigger})",
        )
        if self.training_job.enabled:
            version = await self._train_in_kubernetes(job, request)
        else:
            version = await self._train_in_process(job, request)
        self._check_cancelled(job.id)

        challenger = self.registry.resolve(model, version)
        # A thousand resamples take a moment: off the event loop, so the API stays responsive.
        with STEP_SECONDS.labels("gate").time():
            holdout = await asyncio.to_thread(load_table, dataset.holdout_path)
            decision = await asyncio.to_thread(
                compare, champion, challenger, holdout, self.policy.gate, seed=training.seed
            )
        decision["dataset"] = {
            "id": dataset.id,
            "sha256": dataset.sha256,
            "strategy": plan.body["strategy"],
            "quality": dataset.quality,
        }
        self._log(job.id, f"gate: {decision['outcome']}: {'; '.join(decision['reasons'])}")
        self._check_cancelled(job.id)
        if decision["promote"]:
            reason = f"retrain job {job.id}: {decision['reasons'][0]}"
            self.registry.set_alias(model, CHAMPION, version, reason=reason)
            self._log(job.id, f"promoted version {version} to champion (was {champion.version})")
            try:
                decision["rollout"] = await roll_out(self.settings.rollout, model, version)
            except DriftloopError as exc:
                # The alias moved, so scoring still picks the new champion up through its watch.
                decision["rollout"] = {"error": exc.message}
                self._log(job.id, f"rollout failed: {exc.message}")
        return decision

    async def _dataset(self, job: RetrainJob, plan: DatasetPlan) -> Dataset:
        self._log(job.id, f"training set: {plan.describe()}")
        with STEP_SECONDS.labels("dataset").time():
            async with FeaturesClient(self.settings.features) as features:
                dataset = await features.materialise(job.model, **plan.body)
        self._check_cancelled(job.id)
        self.jobs.update(job.id, dataset_id=dataset.id)
        origin = dataset.quality.get("holdout_origin")
        self._log(
            job.id,
            f"dataset {dataset.id} ready: {dataset.rows} rows (holdout from {origin}), sha256 {dataset.sha256[:12]}",
        )
        return dataset

    async def _train_in_process(self, job: RetrainJob, request: TrainRequest) -> int:
        pid = await self.worker.start()
        self._log(job.id, f"training in worker process {pid} (time budget {self.policy.training.time_budget:g}s)")
        with STEP_SECONDS.labels("train").time():
            outcome = await self.worker.train(request)
        self.jobs.update(job.id, challenger_version=outcome.version)
        self._log(
            job.id,
            f"registered challenger version {outcome.version} ({outcome.winner.get('family')}, "
            f"{outcome.trials} trials, holdout {outcome.metric} {outcome.holdout_metrics.get(outcome.metric)})",
        )
        return outcome.version

    async def _train_in_kubernetes(self, job: RetrainJob, request: TrainRequest) -> int:
        spec = TrainingJobSpec(job.id, request.model, request.train_path, request.registry_path, request.config)
        settings = self.training_job
        self._log(
            job.id, f"training as Kubernetes Job {settings.namespace}/{job_name(settings, job.id)} ({settings.image})"
        )

        def cancelled() -> bool:
            current = self.jobs.get(job.id)
            return current is not None and current.state == states.CANCELLED

        with STEP_SECONDS.labels("train").time():
            try:
                version = await KubernetesTrainer(settings, self.registry).train(spec, should_stop=cancelled)
            except DriftloopError:
                self._check_cancelled(job.id)  # stopped following because of a cancel: say so
                raise
        self.jobs.update(job.id, challenger_version=version)
        self._log(job.id, f"the training Job succeeded: registered challenger version {version}")
        return version

    async def _hand_off(
        self, job: RetrainJob, dataset: Dataset, config: TrainConfig, strategy: dict[str, Any]
    ) -> dict[str, Any]:
        """Azure DevOps configured: its retrain pipeline trains, gates and promotes on this training set."""
        devops = self.settings.azure_devops
        config_path = await asyncio.to_thread(write_training_config, devops.datasets_mount, job.id, config)
        hand_off = HandOff(job.id, job.model, job.trigger, dataset, config_path, config.target or "")
        async with AzureDevOpsClient(devops) as client:
            run = await client.run_pipeline(hand_off.parameters())
        self._log(
            job.id,
            f"handed off to Azure DevOps: run {run.id} ({run.state}) {run.web_url or ''} trains on "
            f"{dataset.train_path}; the job runs until the pipeline reports its end",
        )
        return handed_off_decision(hand_off, run, strategy)

    def _check_cancelled(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is not None and job.state == states.CANCELLED:
            raise JobCancelled(job_id)

    def _fail(self, job: RetrainJob, message: str) -> None:
        self.jobs.transition(job.id, (states.RUNNING,), states.FAILED, finished_at=states.now(), error=message)
        self._log(job.id, f"failed: {message}")
        JOBS.labels(job.model, "failed").inc()

    def _log(self, job_id: str, line: str) -> None:
        logger.info("job %s: %s", job_id, line)
        self.jobs.append_log(job_id, line)
