"""Settings of the telemetry forwarder: ``DRIFTLOOP_`` environment variables, groups with ``__``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from driftloop.settings import ServiceSettings
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.settings import BusSettings


class ForwardSettings(BaseModel):
    batch_size: int = Field(default=5000, ge=1)
    """Most bus records stored in one database transaction."""
    retry_backoff_s: float = Field(default=0.5, gt=0)
    """First wait after a failed database write (doubles up to retry_backoff_max_s)."""
    retry_backoff_max_s: float = Field(default=10.0, gt=0)
    """Longest wait between two attempts on an unreachable database."""


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
