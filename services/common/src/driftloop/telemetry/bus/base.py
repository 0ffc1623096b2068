"""The bus interface every backend implements: a batch producer and a committing consumer.

A message is a key, a value and how many events the value carries: the value is one CloudEvent
as JSON or a JSON batch of them (driftloop.telemetry.wire), the key the model name (Kafka orders
per key, so events of one model stay in order). Delivery is at-least-once:
a consumer commits its position only after what it read has been stored, and every stored row
is keyed by the event id, so redelivery never duplicates anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from driftloop.errors import DriftloopError


class Message(NamedTuple):
    key: bytes | None
    value: bytes
    events: int = 1
    """CloudEvents in the value: 1 for a single event, more for a JSON batch."""


class BusUnavailableError(DriftloopError):
    """The bus did not accept or acknowledge a batch (unreachable, timed out, refused)."""

    status_code = 503
    code = "bus_unavailable"


@dataclass(frozen=True, slots=True)
class Record:
    """One message read from the bus, with where it came from (for dead letters and lag)."""

    value: bytes
    key: bytes | None
    partition: int
    offset: int
    topic: str = ""

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


def next_offsets(records: Sequence[Record]) -> dict[tuple[str, int], int]:
    """Per (topic, partition), the offset after the last of these records: what a commit stores."""
    offsets: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        offsets[key] = max(offsets.get(key, 0), record.offset + 1)
    return offsets


class BusProducer(Protocol):
    async def start(self) -> None: ...

    async def send_batch(self, messages: Sequence[Message]) -> None:
        """Return once the bus has durably acknowledged every message; raise BusUnavailableError otherwise."""

    async def stop(self) -> None: ...


class BusConsumer(Protocol):
    async def start(self) -> None: ...

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        """Up to ``max_records`` records after the current position (empty after ``timeout_ms``)."""

    async def commit(self, records: Sequence[Record]) -> None:
        """Commit the position past these records (a batch poll returned; later batches stay uncommitted)."""

    async def rewind(self) -> None:
        """Go back to the last committed position (after a failed store, to read the batch again)."""

    async def lag(self) -> int:
        """Records on the bus not yet committed by this consumer (0 when unknown)."""

    async def stop(self) -> None: ...
