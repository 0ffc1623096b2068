"""Publisher -> Apache Kafka -> forwarder (two members of one group) -> PostgreSQL, every event counted.

A poisoned message on the topic is dead-lettered with its position while the rest flows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from integration_servers import new_topic
from pipeline_helpers import MODELS, feedback, kafka_settings, prediction, rejected, wait_until
from sqlalchemy import text

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.telemetry.bus import open_consumer
from driftloop.telemetry.publisher import EventPublisher
from driftloop.telemetry.wire import decode
from driftloop_forwarder.core import Forwarder
from driftloop_forwarder.settings import ForwardSettings

PREDICTIONS = 3000


def test_every_event_reaches_postgres_once_and_poison_is_dead_lettered(
    kafka_broker: str, fresh_database: str, tmp_path: Path
) -> None:
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)
    expected = {"predictions": PREDICTIONS * 2, "feedback": PREDICTIONS // 10, "rejected": 20, "dead_letters": 1}

    async def scenario() -> list[int]:
        topic = await new_topic(kafka_broker, partitions=3)
        settings = kafka_settings(kafka_broker, topic, tmp_path / "spill")
        forwarders = []
        for _ in range(2):  # two members of one consumer group share the partitions
            consumer = open_consumer(settings, "forwarder-it")
            await consumer.start()
            forwarders.append(Forwarder(consumer, engine, ForwardSettings(batch_size=1000), poll_timeout_ms=100))
        tasks = [asyncio.create_task(f.run()) for f in forwarders]

        publisher = EventPublisher(settings, "scoring-it")
        await publisher.start()
        for i in range(PREDICTIONS):
            publisher.publish(prediction(i))
            if i % 10 == 0:
                publisher.publish(feedback(i))
            if i % 150 == 0:
                publisher.publish(rejected(i))
                await asyncio.sleep(0)  # a server yields between requests; so does this loop
        poison = AIOKafkaProducer(bootstrap_servers=kafka_broker)
        await poison.start()
        await poison.send_and_wait(topic, b"{not json at all", key=MODELS[0].encode())
        await poison.stop()
        await publisher.stop()
        assert (publisher.stats.spilled, publisher.stats.dropped) == (0, 0)
        assert publisher.stats.sent == PREDICTIONS + PREDICTIONS // 10 + 20

        await wait_until(lambda: count_rows(engine) == expected, f"{expected} rows in PostgreSQL")
        for forwarder in forwarders:
            forwarder.stop()
        await asyncio.gather(*tasks)
        for forwarder in forwarders:
            await forwarder.consumer.stop()
        return [f.stats.events for f in forwarders]

    per_member = asyncio.run(scenario())
    assert sum(per_member) >= PREDICTIONS + PREDICTIONS // 10 + 21  # redelivery after a rebalance may add some
    assert count_rows(engine) == expected
    with engine.connect() as connection:
        position, reason = connection.execute(text("SELECT position, reason FROM dead_letters")).one()
        labelled = connection.execute(text("SELECT COUNT(*) FROM labelled_predictions")).scalar_one()
    assert position.startswith("events-")
    assert "not JSON" in reason
    assert labelled == (PREDICTIONS // 10) * 2


def test_events_travel_packed_per_model_with_their_content_type(kafka_broker: str, tmp_path: Path) -> None:
    """What a foreign consumer sees on the topic: JSON batches keyed by model, labelled as such."""

    async def scenario() -> list[tuple[bytes | None, dict[str, bytes], list[dict[str, Any]]]]:
        topic = await new_topic(kafka_broker, partitions=1)
        settings = kafka_settings(kafka_broker, topic, tmp_path / "spill", linger_ms=50)
        publisher = EventPublisher(settings, "scoring-it")
        await publisher.start()
        for i in range(60):  # no await in between: one batch for the sender
            publisher.publish(prediction(i))
        await publisher.stop()
        reader = AIOKafkaConsumer(topic, bootstrap_servers=kafka_broker, auto_offset_reset="earliest")
        await reader.start()
        try:
            fetched = await reader.getmany(timeout_ms=5000)
        finally:
            await reader.stop()
        return [(m.key, dict(m.headers), decode(m.value)) for records in fetched.values() for m in records]

    messages = asyncio.run(scenario())
    assert sorted(key for key, _, _ in messages) == sorted(model.encode() for model in MODELS)
    for key, headers, events in messages:
        assert headers["content-type"].decode().startswith("application/cloudevents-batch+json")
        assert {event["data"]["model"] for event in events} == {key.decode() if key else None}
        assert [event["data"]["request_id"] for event in events] == [
            f"req-{i}" for i in range(60) if MODELS[i % len(MODELS)].encode() == key
        ]
