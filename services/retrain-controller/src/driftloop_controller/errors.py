"""The controller's errors: all under driftloop's one root, so one handler renders them."""

from __future__ import annotations

from driftloop.errors import ConflictError, DriftloopError


class JobFinishedError(ConflictError):
    code = "job_finished"


class DatasetError(DriftloopError):
    """The feature-engineering service could not or would not hand out a training set."""

    status_code = 502
    code = "dataset_unavailable"


class RolloutError(DriftloopError):
    """The Kubernetes API server refused the rolling update."""

    status_code = 502
    code = "rollout_failed"
