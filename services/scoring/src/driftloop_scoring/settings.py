"""Settings of the scoring service: ``DRIFTLOOP_`` environment variables, groups with ``__``.

Embedded defaults need no configuration: the registry in ``.driftloop/registry``, the embedded
bus, no authentication. Any deployment sets ``DRIFTLOOP_AUTH__API_KEYS`` and
``DRIFTLOOP_AUTH__ADMIN_TOKEN`` (see docs/scoring.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from driftloop.settings import RegistrySettings, ServiceSettings
from driftloop.telemetry.settings import BusSettings


class ScoringRegistrySettings(RegistrySettings):
    poll_interval_s: float = 2.0
    """Seconds between two checks of each model's aliases.json for a moved champion (0: no polling)."""
    models: str = ""
    """Comma-separated model names to serve (empty: every model in the registry)."""
    pinned_versions: int = 4
    """How many explicitly requested (non-champion) versions are kept loaded at once."""

    @property
    def model_names(self) -> list[str]:
        return [name.strip() for name in self.models.split(",") if name.strip()]


class AuthSettings(BaseModel):
    api_keys: SecretStr = SecretStr("")
    """Comma-separated API keys for the inference and feedback routes (empty: open)."""
    admin_token: SecretStr = SecretStr("")
    """Token for state-changing routes such as the reload endpoint (empty: open)."""
    protect_metrics: bool = False
    """Ask for an API key on /metrics too."""

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.get_secret_value().split(",") if key.strip()]


class LimitsSettings(BaseModel):
    max_records: int = Field(default=1000, ge=1)
    """Largest batch a predict or infer request may carry."""
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Largest request body accepted (bigger bodies get a 413)."""
    extra_columns: Literal["reject", "ignore"] = "reject"
    """What to do with record fields that are not model inputs (the target and dropped columns are always ignored)."""
    max_error_details: int = Field(default=20, ge=1)
    """How many problems one validation error lists at most."""
    feedback_memory: int = Field(default=100_000, ge=1)
    """How many recent request ids are remembered to tell known from unknown feedback."""


class ScoringSettings(ServiceSettings):
    """Settings of the scoring service."""

    port: int = 8080
    """Port the service listens on."""
    grpc_port: int = Field(default=0, ge=0, le=65535)
    """Port of the Open Inference Protocol's gRPC service, on the same host (0: no gRPC; the image sets 8081)."""
    workers: int = 1
    """uvicorn worker processes (``python -m driftloop_scoring``)."""
    access_log: bool = False
    """One log line per request (``python -m driftloop_scoring``; health probes are never logged)."""
    registry: ScoringRegistrySettings = Field(default_factory=ScoringRegistrySettings)
    """Where model bundles are read from, and how the champion is watched."""
    bus: BusSettings = Field(default_factory=BusSettings)
    """The telemetry bus that prediction, feedback and rejected events go to."""
    telemetry: bool = True
    """Publish telemetry events (off: no events at all, no drift monitoring; for benchmarks and tests)."""
    auth: AuthSettings = Field(default_factory=AuthSettings)
    """API keys and the admin token."""
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    """Request limits and validation policy."""
