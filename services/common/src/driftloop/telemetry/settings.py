"""Settings of the telemetry bus and of the publisher that feeds it (``DRIFTLOOP_BUS__*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from driftloop.settings import DEFAULT_HOME


class BusSettings(BaseModel):
    url: str = "sqlite:///.driftloop/bus.db"
    """Where events go: sqlite:///path (embedded), kafka://host:port/topic, eventhubs://<hub>."""
    connection_string: str = ""
    """Azure Event Hubs connection string (eventhubs://, or kafka:// against Event Hubs' Kafka endpoint)."""
    buffer_size: int = Field(default=10_000, ge=1)
    """Events held in memory waiting to be sent; past that, publish() spills straight to disk."""
    batch_size: int = Field(default=500, ge=1)
    """Most events sent to the bus in one batch."""
    events_per_message: int = Field(default=500, ge=1)
    """Most events packed into one bus message (a JSON batch of CloudEvents); 1: one event per message."""
    message_max_bytes: int = Field(default=256 * 1024, ge=1024)
    """Size bound of a packed message (an event larger than this still goes, alone)."""
    linger_ms: float = Field(default=20.0, ge=0)
    """How long the sender waits for a batch to fill before sending what it has."""
    relay: bool = True
    """Publish through a relay process (driftloop.telemetry.relay), so that the serving process
    only builds and encodes events; false: the bus client runs in the serving process."""
    outbox: bool = True
    """Copy every event into a local outbox file (driftloop.telemetry.outbox, in spill_path) before
    publish() returns, so that a crash of the serving process loses no answered request's event;
    false: events wait in memory for up to linger_ms, and a crash loses them."""
    outbox_segment_bytes: int = Field(default=1 << 20, ge=64 * 1024)
    """Size of one outbox segment file (made ahead, mapped into memory, reused once delivered); an
    event larger than this gets a segment of its own."""
    outbox_fsync: bool = False
    """Sync each event's outbox pages to disk before publish() returns, so that a machine crash
    loses nothing answered either; costs a disk flush per request (docs/benchmarks.md)."""
    send_timeout_s: float = Field(default=5.0, gt=0)
    """A batch not acknowledged by the bus within this time is spilled and the bus marked away."""
    retry_backoff_s: float = Field(default=0.5, gt=0)
    """First wait before trying an unreachable bus again (doubles up to retry_backoff_max_s)."""
    retry_backoff_max_s: float = Field(default=5.0, gt=0)
    """Longest wait between two attempts on an unreachable bus."""
    spill_path: Path = Field(default=DEFAULT_HOME / "spill")
    """Directory of the append-only spill file used while the bus is unreachable."""
    spill_max_bytes: int = Field(default=1 << 30, ge=1024)
    """Size bound of the spill file; past it events are dropped (counted and logged)."""
    compression: str = "auto"
    """Kafka batch compression: auto (zstd on Kafka, gzip on Event Hubs' Kafka endpoint), zstd, lz4,
    snappy, gzip or none."""
    linger_kafka_ms: int = Field(default=10, ge=0)
    """Kafka producer linger: how long it waits to fill a partition batch."""
    consumer_group: str = "driftloop-forwarder"
    """Consumer group (Kafka) / consumer name (embedded) whose committed offsets the forwarder uses."""
    poll_timeout_ms: int = Field(default=500, ge=1)
    """How long a consumer poll waits for events before returning an empty batch."""
