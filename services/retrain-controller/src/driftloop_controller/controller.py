"""The controller's core: accept retrain requests, run jobs one at a time, promote and roll back.

No FastAPI here: the routes in ``app.py`` are thin wrappers, and tests drive this object directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from driftloop import webhook
from driftloop.errors import InvalidInputError, NotFoundError
from driftloop.policy import Policy, load_policy
from driftloop.registry import CHAMPION, Registry
from driftloop.store import jobs as states
from driftloop.store.jobs import JobStore, RetrainJob
from driftloop_controller.errors import JobFinishedError
from driftloop_controller.handoff import PipelineReport, apply_report
from driftloop_controller.job import JobRunner
from driftloop_controller.retrain_request import dataset_plan
from driftloop_controller.rollout import roll_out
from driftloop_controller.settings import ControllerSettings
from driftloop_controller.training import TrainingWorker

logger = logging.getLogger(__name__)

MAX_KEY = 200  # retrain_jobs.idempotency_key


@dataclass(frozen=True)
class Submitted:
    job: RetrainJob
    created: bool
    """A new job was queued for this request."""
    coalesced: bool
    """The request joined the model's queued or running job."""


class Controller:
    """Use as ``async with Controller(settings, engine) as controller``."""

    def __init__(self, settings: ControllerSettings, engine: Engine, policy: Policy | None = None) -> None:
        self.settings = settings
        # Read now: a wrong policy file stops the controller at start, naming the field.
        self.policy = policy or load_policy(settings.policy)
        self.registry = Registry(settings.registry.path)
        self.jobs = JobStore(engine)
        self.worker = TrainingWorker()
        self.runner = JobRunner(settings, self.policy.retrain, self.registry, self.jobs, self.worker)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.current_job: str | None = None

    async def __aenter__(self) -> Controller:
        for job_id in self.jobs.fail_interrupted():
            logger.warning("job %s was running when the controller stopped: marked failed", job_id)
        for job in self.jobs.queued():  # queued before a restart: still wanted
            self._queue.put_nowait(job.id)
        self._task = asyncio.create_task(self._run_forever(), name="retrain-jobs")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.worker.close)

    # -- requests ------------------------------------------------------------------------

    def submit(self, body: bytes, headers: Mapping[str, str]) -> Submitted:
        """A (verified) retrain request to a job: a new one, or the one it joins.

        A repeated idempotency key gets its job back, and a request for a model whose job is
        already queued or running joins that job (coalesced) instead of making a second one:
        there is no cooldown, so nothing is refused for coming soon after a retrain. With a secret the
        signature covers the key, and a request signed without one is keyed by its signature, so
        a captured request replayed with another key, or sent twice, never makes a second job.
        """
        key = webhook.header(headers, webhook.IDEMPOTENCY_HEADER)
        if self.settings.webhook.secret:
            key = webhook.verify(
                self.settings.webhook.secret, headers, body, tolerance=self.settings.webhook.tolerance_seconds
            )
        if key is not None:
            _check_key(key)
        request = _parse(body)
        model = request["model"]
        if key is not None and (existing := self.jobs.by_idempotency_key(key)) is not None:
            return Submitted(existing, created=False, coalesced=False)
        if model not in self.registry.models():
            raise NotFoundError(f"model {model!r} is not in the registry: train it first", details={"field": "model"})
        dataset_plan(self.policy.retrain, request)  # a malformed change point is a 422 now, not a failed job
        if (active := self.jobs.active(model)) is not None:
            logger.info("retrain request for %s joins job %s (%s)", model, active.id, active.state)
            return Submitted(active, created=False, coalesced=True)
        trigger = str(request.get("trigger") or "webhook")[:200]
        try:
            job = self.jobs.create(model, trigger, request, key)
        except IntegrityError:  # the same key raced in from another request or replica
            existing = self.jobs.by_idempotency_key(key) if key else None
            if existing is None:
                raise
            return Submitted(existing, created=False, coalesced=False)
        self._queue.put_nowait(job.id)
        logger.info("queued retrain job %s for %s (%s)", job.id, model, trigger)
        return Submitted(job, created=True, coalesced=False)

    def job(self, job_id: str) -> RetrainJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no retrain job {job_id!r}")
        return job

    def cancel(self, job_id: str) -> RetrainJob:
        """Cancel a queued or running job; a running one stops at its next step and promotes nothing."""
        job = self.job(job_id)
        if not self.jobs.transition(job_id, states.ACTIVE_STATES, states.CANCELLED, finished_at=states.now()):
            raise JobFinishedError(f"job {job_id} is already {job.state}")
        self.jobs.append_log(job_id, "cancelled by an operator")
        return self.job(job_id)

    def report_pipeline_run(self, job_id: str, report: PipelineReport) -> RetrainJob:
        """The end of the Azure DevOps run a job was handed to (handoff.apply_report)."""
        return apply_report(self.jobs, self.job(job_id), report)

    def versions(self, name: str) -> dict[str, Any]:
        versions = self._known(name)
        described = []
        for version in versions:
            bundle = self.registry.resolve(name, version)
            metrics, lineage = bundle.document("metrics"), bundle.document("lineage")
            described.append(
                {
                    "version": version,
                    "metric": metrics.get("metric"),
                    "holdout": metrics.get("holdout"),
                    "trigger": lineage.get("trigger"),
                    "created": lineage.get("time"),
                    "parent_version": lineage.get("parent_version"),
                }
            )
        aliases = self.registry.aliases(name)
        return {"model": name, "aliases": aliases, "versions": described, "history": self.registry.history(name)}

    async def promote(self, name: str, version: int, reason: str) -> dict[str, Any]:
        self._known(name)
        previous = self.registry.set_alias(name, CHAMPION, version, reason=reason)
        rollout = await roll_out(self.settings.rollout, name, version)
        return {"model": name, "champion": version, "previous": previous, "reason": reason, "rollout": rollout}

    async def rollback(self, name: str, reason: str) -> dict[str, Any]:
        self._known(name)
        current = self.registry.aliases(name).get(CHAMPION)
        version = self.registry.rollback(name, reason=reason)
        rollout = await roll_out(self.settings.rollout, name, version)
        return {"model": name, "champion": version, "previous": current, "reason": reason, "rollout": rollout}

    def _known(self, name: str) -> list[int]:
        """The model's versions; a 404 for a name the registry does not hold (never a path outside it)."""
        if name not in self.registry.models():
            raise NotFoundError(f"model {name!r} is not in the registry")
        return self.registry.versions(name)

    # -- the queue -----------------------------------------------------------------------

    async def _run_forever(self) -> None:
        while True:
            job_id = await self._queue.get()
            self.current_job = job_id
            try:
                await self.runner.run(job_id)
            except asyncio.CancelledError:
                self.jobs.transition(
                    job_id, (states.RUNNING,), states.FAILED, finished_at=states.now(),
                    error="the controller stopped while the job was running; nothing was promoted",
                )  # fmt: skip
                raise
            except Exception:  # a bug in one job must not stop the queue
                logger.exception("retrain job %s crashed", job_id)
            finally:
                self.current_job = None


def _check_key(key: str) -> None:
    """What ``retrain_jobs.idempotency_key`` holds: 1 to 200 visible ASCII characters."""
    if len(key) > MAX_KEY or not all("!" <= char <= "~" for char in key):
        raise InvalidInputError(
            f"the {webhook.IDEMPOTENCY_HEADER} header must be 1 to {MAX_KEY} visible ASCII characters",
            details={"field": webhook.IDEMPOTENCY_HEADER},
        )


def _parse(body: bytes) -> dict[str, Any]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"the body is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise InvalidInputError("the body must be a JSON object")
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidInputError(
            "field 'model' is required: the name of the model to retrain", details={"field": "model"}
        )
    return request
