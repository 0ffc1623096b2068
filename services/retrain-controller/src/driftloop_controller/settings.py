"""The retrain-controller's settings (``DRIFTLOOP_*``, groups with ``__``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from driftloop.http.settings import BodyLimits
from driftloop.settings import ServiceSettings
from driftloop.store.settings import StoreSettings
from driftloop_controller.azure_devops import AzureDevOpsSettings
from driftloop_controller.kubernetes_job_settings import TrainingJobSettings

DEFAULT_PORT = 8083


class WebhookSecretSettings(BaseModel):
    """``DRIFTLOOP_WEBHOOK__*`` as the receiver sees it."""

    secret: str = ""
    """HMAC-SHA256 key shared with the forwarder; empty accepts unsigned requests (embedded, open)."""
    tolerance_seconds: int = Field(default=300, ge=1)
    """Largest distance between the signature's timestamp and this clock (older: a replay, 401)."""


class AuthSettings(BaseModel):
    admin_token: str = ""
    """Bearer token required by promote, rollback and cancel; empty leaves them open."""


class DashboardSettings(BaseModel):
    """``DRIFTLOOP_DASHBOARD__*``: the read-only dashboard at ``/dashboard``."""

    token: str = ""
    """Token the dashboard and its JSON API require (Bearer header or ``?token=``); empty leaves them open."""


class FeaturesSettings(BaseModel):
    url: str = "http://127.0.0.1:8081"
    """The feature-engineering service that materialises training sets."""
    api_key: SecretStr = SecretStr("")
    """A key the feature-engineering service accepts (its DRIFTLOOP_AUTH__API_KEYS; of a list, the first)."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """Seconds per HTTP call to it."""
    dataset_timeout_seconds: float = Field(default=600.0, gt=0)
    """How long a job waits for its dataset to be ready."""
    poll_seconds: float = Field(default=0.5, gt=0)
    """Interval between two looks at a dataset that is still being built."""


class RolloutSettings(BaseModel):
    """``DRIFTLOOP_ROLLOUT__*``: the Kubernetes rolling update after a promotion."""

    enabled: bool = False
    """Patch the scoring Deployment's pod template after each promotion."""
    namespace: str = "default"
    """Namespace of the scoring Deployment."""
    deployment: str = "driftloop-scoring"
    """Name of the scoring Deployment."""
    host: str = ""
    """API server URL; empty uses the in-cluster service account (or ~/.kube/config)."""
    token: str = ""
    """Bearer token for ``host`` (in a cluster the service account's token is used)."""
    verify_ssl: bool = True
    """Verify the API server's certificate."""


class ControllerSettings(ServiceSettings):
    port: int = DEFAULT_PORT
    """Port the service listens on."""
    store: StoreSettings = Field(default_factory=StoreSettings)
    """The SQL store that holds the jobs."""
    webhook: WebhookSecretSettings = Field(default_factory=WebhookSecretSettings)
    """The signed retrain webhook."""
    auth: AuthSettings = Field(default_factory=AuthSettings)
    """Admin token of the state-changing routes."""
    features: FeaturesSettings = Field(default_factory=FeaturesSettings)
    """Where training sets come from."""
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    """The read-only dashboard's token (also for /v1/jobs, the versions and the OpenAPI document)."""
    limits: BodyLimits = Field(default_factory=BodyLimits)
    """Request body size limit (DRIFTLOOP_LIMITS__MAX_BODY_BYTES)."""
    policy: str = ""
    """Path of the policy YAML (DRIFTLOOP_POLICY, docs/policy.md): its ``retrain`` block says which training
    set, how long to search and when to promote; empty: the packaged defaults."""
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    """Kubernetes rolling update after a promotion."""
    azure_devops: AzureDevOpsSettings = Field(default_factory=AzureDevOpsSettings)
    """Hand retrains to the Azure DevOps retrain pipeline instead (when configured)."""
    training_job: TrainingJobSettings = Field(default_factory=TrainingJobSettings)
    """Where a retrain's training runs: in process, or as a Kubernetes Job (DRIFTLOOP_TRAINING_JOB__*)."""
