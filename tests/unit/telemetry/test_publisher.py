"""The publisher against the real embedded bus: outages spill to disk and replay in order, nothing is lost.

The outage is injected by a switch in front of the real SQLite producer (the Kafka broker
killed for real is in tests/integration/telemetry/test_faults.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import orjson
from prometheus_client import REGISTRY
from telemetry_samples import make_prediction, read_all, until

from driftloop.telemetry.bus.base import BusUnavailableError, Message
from driftloop.telemetry.bus.embedded import EmbeddedProducer, path_from_url
from driftloop.telemetry.publisher import EventPublisher, encode_event
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import decode


class Switch:
    """Whether the bus is reachable; shared by every producer the publisher creates."""

    down = False


class SwitchedProducer(EmbeddedProducer):
    """The real embedded producer, refusing every call while its switch is down."""

    def __init__(self, path: Path, switch: Switch) -> None:
        super().__init__(path)
        self.switch = switch

    async def start(self) -> None:
        if self.switch.down:
            raise BusUnavailableError("bus switched off")
        await super().start()

    async def send_batch(self, messages: Sequence[Message]) -> None:
        if self.switch.down:
            raise BusUnavailableError("bus switched off")
        await super().send_batch(messages)


def switched_publisher(settings: BusSettings, switch: Switch) -> EventPublisher:
    path = path_from_url(settings.url)
    return EventPublisher(settings, "scoring-test", producer_factory=lambda _s: SwitchedProducer(path, switch))


def test_everything_published_arrives_in_order(bus_settings: BusSettings) -> None:
    async def scenario() -> None:
        publisher = EventPublisher(bus_settings, "scoring-test")
        await publisher.start()
        for i in range(1200):
            publisher.publish(make_prediction(i))
        await publisher.stop()
        assert publisher.stats.sent == 1200
        assert (publisher.stats.spilled, publisher.stats.dropped, publisher.stats.depth) == (0, 0, 0)
        assert await read_all(bus_settings) == [f"req-{i}" for i in range(1200)]

    asyncio.run(scenario())


def test_an_outage_spills_and_the_spill_is_replayed_in_order(bus_settings: BusSettings) -> None:
    async def scenario() -> None:
        switch = Switch()
        publisher = switched_publisher(bus_settings, switch)
        await publisher.start()
        for i in range(100):
            publisher.publish(make_prediction(i))
        await until(lambda: publisher.stats.sent == 100)
        switch.down = True
        for i in range(100, 400):
            publisher.publish(make_prediction(i))
        await until(lambda: publisher.stats.spilled == 300)
        switch.down = False
        for i in range(400, 600):
            publisher.publish(make_prediction(i))
        await until(lambda: publisher.stats.sent + publisher.stats.replayed == 600)
        await publisher.stop()
        stats = publisher.stats
        assert stats.dropped == 0
        assert stats.replayed == stats.spilled >= 300
        assert await read_all(bus_settings) == [f"req-{i}" for i in range(600)]

    asyncio.run(scenario())


def test_events_spilled_at_stop_are_replayed_by_the_next_start(bus_settings: BusSettings) -> None:
    async def scenario() -> None:
        switch = Switch()
        switch.down = True
        first = switched_publisher(bus_settings, switch)
        await first.start()
        for i in range(250):
            first.publish(make_prediction(i))
        await first.stop()
        assert (first.stats.sent, first.stats.spilled, first.stats.dropped) == (0, 250, 0)

        switch.down = False
        second = switched_publisher(bus_settings, switch)
        await second.start()
        second.publish(make_prediction(250))
        await second.stop()
        # The new event queues behind the leftovers (spilled too) so that the order holds.
        assert second.stats.replayed == 250 + second.stats.spilled
        assert second.stats.dropped == 0
        assert await read_all(bus_settings) == [f"req-{i}" for i in range(251)]

    asyncio.run(scenario())


def test_a_full_buffer_spills_instead_of_blocking_or_dropping(bus_settings: BusSettings) -> None:
    settings = bus_settings.model_copy(update={"buffer_size": 16, "batch_size": 8})

    async def scenario() -> None:
        publisher = EventPublisher(settings, "scoring-test")
        await publisher.start()
        for i in range(500):  # no await in between: the sender never runs, the buffer overflows
            publisher.publish(make_prediction(i))
        assert publisher.stats.spilled > 0
        await publisher.stop()
        assert publisher.stats.dropped == 0
        assert publisher.stats.sent + publisher.stats.replayed == 500
        assert await read_all(settings) == [f"req-{i}" for i in range(500)]

    asyncio.run(scenario())


def test_a_full_spill_file_counts_and_reports_every_dropped_event(bus_settings: BusSettings) -> None:
    settings = bus_settings.model_copy(update={"spill_max_bytes": 4096})

    async def scenario() -> None:
        switch = Switch()
        switch.down = True
        publisher = switched_publisher(settings, switch)
        await publisher.start()
        for i in range(40):
            publisher.publish(make_prediction(i))
        await publisher.stop()
        stats = publisher.stats
        assert stats.dropped > 0
        assert stats.spilled + stats.dropped == 40
        exported = REGISTRY.get_sample_value("driftloop_telemetry_events_dropped_total", {"source": "scoring-test"})
        assert exported is not None
        assert exported >= stats.dropped

    asyncio.run(scenario())


def test_publish_never_raises_and_counts_an_unencodable_event(bus_settings: BusSettings) -> None:
    async def scenario() -> None:
        publisher = EventPublisher(bus_settings, "scoring-test")
        await publisher.start()
        bad = make_prediction(0)
        bad["data"]["records"] = [{"income": {1, 2}}]  # a set: not JSON
        publisher.publish(bad)
        publisher.publish(make_prediction(1))
        await publisher.stop()
        assert (publisher.stats.sent, publisher.stats.dropped) == (1, 1)

    asyncio.run(scenario())


def test_the_depth_gauge_is_read_at_scrape_time_not_written_by_publish(bus_settings: BusSettings) -> None:
    async def scenario() -> None:
        publisher = EventPublisher(bus_settings, "scoring-depth-test")
        await publisher.start()
        for i in range(3):  # no await in between: the sender has not taken anything yet
            publisher.publish(make_prediction(i))
        depth = REGISTRY.get_sample_value("driftloop_telemetry_buffer_depth", {"source": "scoring-depth-test"})
        assert depth == 3
        assert publisher.stats.depth == 3
        await publisher.stop()
        assert REGISTRY.get_sample_value("driftloop_telemetry_buffer_depth", {"source": "scoring-depth-test"}) == 0
        assert publisher.stats.sent == 3

    asyncio.run(scenario())


def test_an_event_is_encoded_when_published_so_the_caller_may_reuse_it(bus_settings: BusSettings) -> None:
    async def scenario() -> None:
        publisher = EventPublisher(bus_settings, "scoring-test")
        await publisher.start()
        event = make_prediction(1)
        publisher.publish(event)
        event["data"]["request_id"] = "changed after publishing"
        await publisher.stop()
        assert publisher.settled == publisher.stats.sent == 1

    asyncio.run(scenario())
    assert asyncio.run(read_all(bus_settings)) == ["req-1"]


def test_messages_respect_the_byte_bound(bus_settings: BusSettings) -> None:
    settings = bus_settings.model_copy(update={"message_max_bytes": 1024})
    events = [make_prediction(i) for i in range(10)]
    assert len(orjson.dumps(events)) > 1024
    messages = EventPublisher(settings, "scoring-test")._pack([encode_event(event) for event in events])
    assert len(messages) > 1
    assert all(len(message.value) <= 1024 for message in messages)
    decoded = [event["data"]["request_id"] for message in messages for event in decode(message.value)]
    assert decoded == [f"req-{i}" for i in range(10)]


PROCESS_KILLED_WHILE_PUBLISHING = """
import asyncio, os, signal, sys
sys.path.insert(0, {samples!r})
from telemetry_samples import make_prediction
from driftloop.telemetry.publisher import EventPublisher
from driftloop.telemetry.settings import BusSettings

async def main():
    publisher = EventPublisher(BusSettings.model_validate_json({settings!r}), "publisher-crash")
    await publisher.start()
    for index in range(300):
        publisher.publish(make_prediction(index))
        if index == 150:
            publisher.publish({{"id": "x", "data": {{"not": object()}}}})  # refused: counted dropped
            while publisher.stats.sent < 151:  # the sender sends the first ones; the outbox marks them delivered
                await asyncio.sleep(0.005)
    os.kill(os.getpid(), signal.SIGKILL)  # the rest were only in the buffer

asyncio.run(main())
"""


def test_a_killed_process_loses_nothing_it_published_in_process(bus_settings: BusSettings) -> None:
    import signal
    import subprocess
    import sys

    settings = bus_settings.model_copy(update={"linger_ms": 20})
    script = PROCESS_KILLED_WHILE_PUBLISHING.format(
        samples=str(Path(__file__).parent), settings=settings.model_dump_json()
    )
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr

    async def restart() -> EventPublisher:
        publisher = EventPublisher(settings, "publisher-crash")
        await publisher.start()
        await publisher.stop()
        return publisher

    publisher = asyncio.run(restart())
    ids = asyncio.run(read_all(bus_settings))
    assert ids[:151] == [f"req-{i}" for i in range(151)]
    assert ids[151:] == [f"req-{i}" for i in range(151, 300)]  # the unsent ones, once each, in order
    assert publisher.stats.sent == 149
    assert list(settings.spill_path.glob("*.outbox")) == []
