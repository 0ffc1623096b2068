"""Azure Event Hubs backend through the azure-eventhub SDK (AMQP).

URL ``eventhubs://<hub>`` (or ``eventhubs://`` with ``EntityPath`` in the connection string);
the connection string comes from ``DRIFTLOOP_BUS__CONNECTION_STRING`` (a secret, never a file).

Producer: messages are grouped by key (model name) into ``EventDataBatch``es with that
partition key, each filled up to the hub's size limit, and sent batch by batch. Consumer: the
SDK's callback receiver feeds a queue that ``poll`` drains; ``commit`` checkpoints the last
event of every partition read, through the checkpoint store passed in (the SDK keeps
checkpoints in memory without one; production passes a blob checkpoint store).

Exercised here: batching and the mapping of SDK types (unit tests with ``EventData`` and
``EventDataBatch``). Not exercised: a live namespace (none is reachable from this machine).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from azure.eventhub import EventData, EventDataBatch
from azure.eventhub.aio import CheckpointStore, EventHubConsumerClient, EventHubProducerClient, PartitionContext
from azure.eventhub.exceptions import EventHubError

from driftloop.errors import ConfigError
from driftloop.telemetry.bus.base import BusUnavailableError, Message, Record, next_offsets
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import content_type

BatchFactory = Callable[[str | None], Awaitable[EventDataBatch]]


def hub_name(settings: BusSettings) -> str:
    if not settings.connection_string:
        raise ConfigError("eventhubs:// needs DRIFTLOOP_BUS__CONNECTION_STRING")
    name = settings.url.removeprefix("eventhubs://").strip("/")
    if not name:
        for item in settings.connection_string.split(";"):
            key, _, value = item.partition("=")
            if key.strip() == "EntityPath":
                name = value.strip()
    if not name:
        raise ConfigError("name the event hub: eventhubs://<hub> or EntityPath= in the connection string")
    return name


async def build_batches(messages: Sequence[Message], new_batch: BatchFactory) -> list[EventDataBatch]:
    """Pack messages into as few batches as fit, one partition key per batch, order kept per key."""
    by_key: dict[str | None, list[Message]] = {}
    for message in messages:
        by_key.setdefault(message.key.decode() if message.key is not None else None, []).append(message)
    batches: list[EventDataBatch] = []
    for partition_key, keyed in by_key.items():
        batch = await new_batch(partition_key)
        for message in keyed:
            try:
                batch.add(event_data(message))
            except ValueError:  # this batch is full: start the next one with the same key
                if len(batch) == 0:
                    raise BusUnavailableError("one event is larger than the event hub accepts") from None
                batches.append(batch)
                batch = await new_batch(partition_key)
                batch.add(event_data(message))
        if len(batch):
            batches.append(batch)
    return batches


def event_data(message: Message) -> EventData:
    data = EventData(message.value)
    data.content_type = content_type(message)
    return data


def event_body(event: EventData) -> bytes:
    """The body of a received event as bytes (the SDK hands out data bodies as a generator of sections)."""
    body: Any = event.body
    return body if isinstance(body, bytes) else b"".join(body)


def record_from_event(event: EventData, partition_id: str) -> Record:
    """The bus record of one received event: value = body bytes, offset = sequence number."""
    partition_key = event.partition_key
    key = partition_key if isinstance(partition_key, bytes) or partition_key is None else str(partition_key).encode()
    return Record(
        value=event_body(event),
        key=key,
        partition=int(partition_id) if partition_id.isdigit() else 0,
        offset=event.sequence_number or 0,
        topic="eventhubs",
    )


class EventHubsProducer:
    def __init__(self, settings: BusSettings) -> None:
        self._client = EventHubProducerClient.from_connection_string(
            settings.connection_string, eventhub_name=hub_name(settings)
        )

    async def start(self) -> None:
        try:
            await self._client.get_eventhub_properties()  # fail fast when the namespace is unreachable
        except EventHubError as exc:
            raise BusUnavailableError(f"Event Hubs is unreachable: {exc}") from exc

    async def _new_batch(self, key: str | None) -> EventDataBatch:
        return await self._client.create_batch(partition_key=key)

    async def send_batch(self, messages: Sequence[Message]) -> None:
        try:
            for batch in await build_batches(messages, self._new_batch):
                await self._client.send_batch(batch)
        except EventHubError as exc:
            raise BusUnavailableError(f"Event Hubs did not accept a batch: {exc}") from exc

    async def stop(self) -> None:
        await self._client.close()


class EventHubsConsumer:
    def __init__(self, settings: BusSettings, group: str, checkpoint_store: CheckpointStore | None = None) -> None:
        # Event Hubs consumer groups are created on the hub beforehand; "$Default" always exists.
        def make_client() -> EventHubConsumerClient:
            return EventHubConsumerClient.from_connection_string(
                settings.connection_string,
                consumer_group=group,
                eventhub_name=hub_name(settings),
                checkpoint_store=checkpoint_store,
            )

        self._make_client = make_client
        self._client = make_client()
        self._queue: asyncio.Queue[tuple[PartitionContext, EventData]] = asyncio.Queue(maxsize=10_000)
        # The received events a commit may checkpoint, by (partition id, sequence number).
        self._read: dict[tuple[int, int], tuple[PartitionContext, EventData]] = {}
        self._task: asyncio.Task[None] | None = None

    async def _on_batch(self, context: PartitionContext, events: list[EventData]) -> None:
        for event in events:
            await self._queue.put((context, event))

    async def start(self) -> None:
        receive: Any = self._client.receive_batch
        self._task = asyncio.create_task(receive(on_event_batch=self._on_batch, starting_position="-1"))

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        records: list[Record] = []
        with contextlib.suppress(TimeoutError):
            context, event = await asyncio.wait_for(self._queue.get(), timeout_ms / 1000)
            records.append(self._take(context, event))
            while len(records) < max_records and not self._queue.empty():
                records.append(self._take(*self._queue.get_nowait()))
        return records

    def _take(self, context: PartitionContext, event: EventData) -> Record:
        record = record_from_event(event, context.partition_id)
        self._read[(record.partition, record.offset)] = (context, event)
        return record

    async def commit(self, records: Sequence[Record]) -> None:
        for (_, partition), next_offset in next_offsets(records).items():
            last = self._read.get((partition, next_offset - 1))
            if last is not None:
                await last[0].update_checkpoint(last[1])
            for key in [k for k in self._read if k[0] == partition and k[1] < next_offset]:
                del self._read[key]

    async def rewind(self) -> None:
        # The SDK restarts a partition from its checkpoint only when ownership moves; what was
        # already queued is delivered again by reconnecting.
        await self.stop()
        self._client = self._make_client()  # a closed client cannot receive again
        self._read.clear()
        self._queue = asyncio.Queue(maxsize=10_000)
        await self.start()

    async def lag(self) -> int:
        return self._queue.qsize()

    async def stop(self) -> None:
        if self._task is not None:
            await self._client.close()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
