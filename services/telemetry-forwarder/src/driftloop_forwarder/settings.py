"""Settings of the telemetry forwarder: ``DRIFTLOOP_`` environment variables, groups with ``__``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from driftloop.drift.notify import WebhookSettings
from driftloop.http.settings import BodyLimits
from driftloop.settings import ServiceSettings
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.settings import BusSettings


class ForwardSettings(BaseModel):
    batch_size: int = Field(default=5000, ge=1)
    """Events stored in one database transaction (about: whole bus messages are read)."""
    retry_backoff_s: float = Field(default=0.5, gt=0)
    """First wait after a failed database write (doubles up to retry_backoff_max_s)."""
    retry_backoff_max_s: float = Field(default=10.0, gt=0)
    """Longest wait between two attempts on an unreachable database."""
    stall_after_s: float = Field(default=120.0, gt=0)
    """Seconds without a commit, while a batch or lag waits, after which /healthz says stalled (503)."""
    lag_growth_span_s: float = Field(default=600.0, gt=0)
    """Seconds over which a lag that only grew makes /healthz say the forwarder is falling behind (503)."""
    gc_gen0_threshold: int = Field(default=50_000, ge=0)
    """Allocations between two young-generation passes of Python's garbage collector (0: Python's
    default, 700). Two batches of parsed events are alive at once; at 700 the collector rescans
    them thousands of times per batch and took a third of the forwarder's time (docs/benchmarks.md)."""


class DriftSettings(BaseModel):
    enabled: bool = True
    """Compute drift windows and evaluate the rules on the stored predictions (DRIFTLOOP_DRIFT__ENABLED)."""
    rules: str = ""
    """Deprecated spelling of DRIFTLOOP_POLICY (a rules file is a policy without ``retrain``)."""
    retrain_poll_s: float = Field(default=10.0, gt=0)
    """How often the store's retrain_jobs is read to learn that a retrain asked for has finished."""
    flush_interval_s: float = Field(default=5.0, gt=0)
    """How often the drift timer runs (arms rules whose retrain is over, closes idle time windows)."""
    idle_close_s: float = Field(default=60.0, gt=0)
    """Wall-clock seconds without events after which open time windows are closed on the clock
    (windows otherwise close on event time, when a later event arrives)."""
    label_memory: int = Field(default=100_000, ge=1)
    """Requests per model whose predictions (and early labels) are kept to pair with feedback."""


class ForwarderSettings(ServiceSettings):
    """Settings of the telemetry-forwarder service."""

    port: int = 8082
    """Port the service listens on."""
    bus: BusSettings = Field(default_factory=BusSettings)
    """The telemetry bus consumed (DRIFTLOOP_BUS__URL; the group is DRIFTLOOP_BUS__CONSUMER_GROUP)."""
    store: StoreSettings = Field(default_factory=StoreSettings)
    """The SQL store written (DRIFTLOOP_STORE__URL)."""
    forward: ForwardSettings = Field(default_factory=ForwardSettings)
    """Batching and retries of the consume-and-store loop."""
    policy: str = ""
    """Path of the policy YAML (DRIFTLOOP_POLICY, docs/policy.md); empty: the packaged defaults."""
    drift: DriftSettings = Field(default_factory=DriftSettings)
    """Drift windows, rules and the retrain webhook (DRIFTLOOP_DRIFT__*)."""
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    """Where retrain firings are posted, and the HMAC secret (DRIFTLOOP_WEBHOOK__URL / __SECRET)."""
    limits: BodyLimits = Field(default_factory=BodyLimits)
    """Request body size limit (DRIFTLOOP_LIMITS__MAX_BODY_BYTES; the forwarder's routes take no body)."""
