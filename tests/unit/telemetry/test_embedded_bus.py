"""The embedded bus across processes: a publisher process writes, this process consumes with committed offsets."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

from driftloop.telemetry.bus import open_consumer
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import decode

PUBLISHER = textwrap.dedent(
    """
    import asyncio, sys
    from driftloop.telemetry.events import feedback_event
    from driftloop.telemetry.publisher import EventPublisher
    from driftloop.telemetry.settings import BusSettings

    async def main() -> None:
        settings = BusSettings.model_validate_json(sys.argv[1])
        publisher = EventPublisher(settings, "other-process")
        await publisher.start()
        for i in range(int(sys.argv[2])):
            publisher.publish(feedback_event("p", model="credit", request_id=f"r{i}", record_index=None,
                                             actual=i, known_request=True))
            if i % 100 == 0:
                await asyncio.sleep(0)  # let the sender run while publishing, as a server would
        await publisher.stop()
        assert publisher.stats.dropped == 0

    asyncio.run(main())
    """
)


def test_a_consumer_in_another_process_reads_everything_once_per_group(bus_settings: BusSettings) -> None:
    total = 2000

    async def consume(group: str, until: int, deadline: float) -> list[int]:
        consumer = open_consumer(bus_settings, group)
        await consumer.start()
        seen: list[int] = []
        while len(seen) < until and time.monotonic() < deadline:
            records = await consumer.poll(300, 100)
            seen.extend(event["data"]["actual"] for r in records for event in decode(r.value))
            await consumer.commit(records)
        await consumer.stop()
        return seen

    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, bus_settings.model_dump_json(), str(total)])
    try:
        # Read half while the other process is still writing, stop, and go on from the committed offset.
        first = asyncio.run(consume("forwarder", total // 2, time.monotonic() + 60))
        second = asyncio.run(consume("forwarder", total - len(first), time.monotonic() + 60))
    finally:
        assert publisher.wait(timeout=60) == 0
    assert first + second == list(range(total))
    # Another group has its own offset and reads everything from the start.
    assert asyncio.run(consume("reporting", total, time.monotonic() + 60)) == list(range(total))

    async def lag() -> int:
        consumer = open_consumer(bus_settings, "forwarder")
        await consumer.start()
        try:
            return await consumer.lag()
        finally:
            await consumer.stop()

    assert asyncio.run(lag()) == 0


def test_rewind_goes_back_to_the_committed_offset(bus_settings: BusSettings) -> None:
    from driftloop.telemetry.bus.embedded import EmbeddedProducer, path_from_url

    async def scenario() -> None:
        producer = EmbeddedProducer(path_from_url(bus_settings.url))
        await producer.start()
        await producer.send_batch([Message(None, str(i).encode()) for i in range(10)])
        await producer.stop()
        consumer = open_consumer(bus_settings)
        await consumer.start()
        first = await consumer.poll(4, 10)
        assert [r.value for r in first] == [b"0", b"1", b"2", b"3"]
        second = await consumer.poll(3, 10)
        assert [r.value for r in second] == [b"4", b"5", b"6"]
        await consumer.commit(first)  # the first batch is stored, the second is still being written
        await consumer.rewind()  # as after a failed database write
        assert [r.value for r in await consumer.poll(100, 10)] == [str(i).encode() for i in range(4, 10)]
        assert await consumer.lag() == 6
        await consumer.stop()

    asyncio.run(scenario())
