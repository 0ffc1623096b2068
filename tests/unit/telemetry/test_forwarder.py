"""The forwarder core and service on the embedded bus and SQLite: every event stored once, poison parked."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from telemetry_samples import make_feedback, make_prediction, make_rejected

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.telemetry.bus import open_consumer
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.bus.embedded import EmbeddedProducer, path_from_url
from driftloop.telemetry.publisher import EventPublisher
from driftloop.telemetry.settings import BusSettings
from driftloop_forwarder.app import create_app
from driftloop_forwarder.core import Forwarder
from driftloop_forwarder.settings import ForwarderSettings, ForwardSettings


async def publish_sample(settings: BusSettings, predictions: int) -> None:
    publisher = EventPublisher(settings, "scoring-test")
    await publisher.start()
    for i in range(predictions):
        publisher.publish(make_prediction(i, records=2))
        if i % 10 == 0:
            publisher.publish(make_feedback(i))
    publisher.publish(make_rejected(0))
    await publisher.stop()
    # A poisoned message straight onto the bus, as a foreign producer might write it.
    producer = EmbeddedProducer(path_from_url(settings.url))
    await producer.start()
    await producer.send_batch([Message(b"credit", b'{"specversion": "1.0", "id": "poison"}')])
    await producer.stop()


async def forward_all(settings: BusSettings, store_url: str, group: str = "forwarder") -> int:
    engine = make_engine(StoreSettings(url=store_url))
    consumer = open_consumer(settings, group)
    await consumer.start()
    forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=64), poll_timeout_ms=50)
    while await forwarder.step():
        pass
    await consumer.stop()
    engine.dispose()
    return forwarder.stats.events


def test_every_event_is_stored_once_and_the_poisoned_one_is_dead_lettered(
    bus_settings: BusSettings, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(StoreSettings(url=store_url))
    upgrade(engine)
    asyncio.run(publish_sample(bus_settings, 300))
    assert asyncio.run(forward_all(bus_settings, store_url)) == 300 + 30 + 1 + 1
    expected = {"predictions": 600, "feedback": 30, "rejected": 1, "dead_letters": 1}
    assert count_rows(engine) == expected
    # The same group has committed everything: a restart reads nothing again.
    assert asyncio.run(forward_all(bus_settings, store_url)) == 0
    # A group reading everything again (a lost offset) stores no duplicate.
    assert asyncio.run(forward_all(bus_settings, store_url, group="replay")) == 332
    assert count_rows(engine) == expected


def test_the_service_migrates_forwards_and_reports_health_and_metrics(
    bus_settings: BusSettings, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path / 'service-store.db'}"
    settings = ForwarderSettings(bus=bus_settings.model_copy(update={"poll_timeout_ms": 20}), store={"url": store_url})
    expected = {"predictions": 100, "feedback": 5, "rejected": 1, "dead_letters": 1}

    async def scenario() -> None:
        await publish_sample(bus_settings, 50)
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forwarder") as client,
        ):
            assert (await client.get("/healthz")).status_code == 200
            engine = make_engine(StoreSettings(url=store_url))
            deadline = time.monotonic() + 30
            while await asyncio.to_thread(count_rows, engine) != expected:
                assert time.monotonic() < deadline, await asyncio.to_thread(count_rows, engine)
                await asyncio.sleep(0.02)  # the forwarder task runs on this loop meanwhile
            metrics = (await client.get("/metrics")).text
        assert "driftloop_forwarder_rows_written_total" in metrics
        assert "driftloop_forwarder_dead_letters_total" in metrics
        assert "driftloop_forwarder_lag" in metrics

    asyncio.run(scenario())
