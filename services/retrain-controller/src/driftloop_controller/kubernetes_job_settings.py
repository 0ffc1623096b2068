"""``DRIFTLOOP_TRAINING_JOB__*``: where a retrain's training runs (see ``kubernetes_training``).

A module with no controller imports, so that ``settings.py`` can import it without a cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class TrainingJobSettings(BaseModel):
    """``DRIFTLOOP_TRAINING_JOB__*``: where a retrain's training runs."""

    mode: Literal["process", "kubernetes-job"] = "process"
    """``process``: a worker process of the controller (default); ``kubernetes-job``: a batch/v1 Job."""
    image: str = ""
    """Image of the Job (the controller's own image: it carries ``driftloop train``)."""
    namespace: str = "default"
    """Namespace the Jobs are created in (the release namespace in the chart)."""
    name_prefix: str = Field(default="driftloop-train", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)
    """Job names are ``<prefix>-<retrain job id>``."""
    registry_claim: str = ""
    """PersistentVolumeClaim of the registry, mounted at the controller's registry path."""
    datasets_claim: str = ""
    """PersistentVolumeClaim of the training sets, mounted at ``datasets_mount``."""
    datasets_mount: Path = Path("/var/lib/driftloop/datasets")
    """Where both the controller and the Job see the training sets (manifests carry absolute paths)."""
    resources: dict[str, dict[str, str]] = Field(default_factory=dict)
    """The Job container's requests and limits, e.g. ``{"requests": {"cpu": "2", "memory": "4Gi"}}``."""
    active_deadline_seconds: int = Field(default=3600, ge=60)
    """Kubernetes stops the Job after this long; the retrain job then fails."""
    ttl_seconds_after_finished: int = Field(default=3600, ge=0)
    """Kubernetes deletes a finished Job (and its pod) after this long."""
    poll_seconds: float = Field(default=5.0, gt=0)
    """Interval between two reads of the Job's status."""
    host: str = ""
    """API server URL; empty uses the in-cluster service account (or ~/.kube/config)."""
    token: str = ""
    """Bearer token for ``host``."""
    verify_ssl: bool = True
    """Verify the API server's certificate."""

    @property
    def enabled(self) -> bool:
        return self.mode == "kubernetes-job"
