"""Event Hubs mapping and batching with the SDK's own types (no live namespace is reachable here)."""

from __future__ import annotations

import asyncio

import pytest
from azure.eventhub import EventData, EventDataBatch

from driftloop.errors import DriftloopError
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.bus.eventhubs import build_batches, hub_name, record_from_event
from driftloop.telemetry.settings import BusSettings


async def small_batch(key: str | None) -> EventDataBatch:
    return EventDataBatch(max_size_in_bytes=1024, partition_key=key)


def test_messages_are_packed_by_partition_key_within_the_size_limit() -> None:
    messages = [Message(b"credit", b"c" * 200) for _ in range(10)] + [Message(b"churn", b"h" * 200)]
    messages += [Message(None, b"n" * 10)]
    batches = asyncio.run(build_batches(messages, small_batch))
    by_key: dict[object, int] = {}
    for batch in batches:
        assert batch.size_in_bytes <= 1024
        key = batch._partition_key  # the SDK keeps the key on the batch it sends
        by_key[key] = by_key.get(key, 0) + len(batch)
    assert by_key == {"credit": 10, "churn": 1, None: 1}
    assert sum(1 for b in batches if b._partition_key == "credit") > 1  # 10 x 200 B needs several batches


def test_an_event_larger_than_a_batch_is_refused() -> None:
    with pytest.raises(DriftloopError, match="larger than the event hub accepts"):
        asyncio.run(build_batches([Message(None, b"x" * 5000)], small_batch))


def test_a_received_event_maps_to_a_bus_record() -> None:
    event = EventData(b'{"id": "e1"}')
    record = record_from_event(event, "3")
    assert (record.value, record.partition, record.topic) == (b'{"id": "e1"}', 3, "eventhubs")


def test_the_hub_name_comes_from_the_url_or_the_entity_path() -> None:
    conn = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s"
    assert hub_name(BusSettings(url="eventhubs://predictions", connection_string=conn)) == "predictions"
    assert hub_name(BusSettings(url="eventhubs://", connection_string=conn + ";EntityPath=events")) == "events"
