"""The telemetry relay process: ``python -m driftloop.telemetry.relay_process <source>``.

Started by :class:`driftloop.telemetry.relay.RelayPublisher`, which passes the bus settings in
``DRIFTLOOP_RELAY_SETTINGS`` (JSON). Reads framed messages from stdin into an
:class:`~driftloop.telemetry.publisher.EventPublisher` (a range message's events read from the
parent's outbox segment it names, at once), reports progress on stdout as JSON lines (the
protocol is described in driftloop.telemetry.relay), and when stdin closes stops the publisher,
which sends or spills everything it holds, reports once more and exits. A range it cannot read
ends the input the same way, and the process exits with code 1: the parent then publishes from
its outbox itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO

import orjson

from driftloop.logging import configure_logging
from driftloop.telemetry.bus import open_producer
from driftloop.telemetry.bus.base import BusProducer, Message
from driftloop.telemetry.outbox import is_range, read_range
from driftloop.telemetry.publisher import EventPublisher
from driftloop.telemetry.relay import JSON_LOGS_ENV, SETTINGS_ENV
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import pack, unframe

READ_SIZE = 1 << 20
logger = logging.getLogger(__name__)


class TimedProducer:
    """A producer that reports how long each acknowledged batch took (for the parent's histogram)."""

    def __init__(self, inner: BusProducer, observe: Callable[[float], None]) -> None:
        self._inner = inner
        self._observe = observe

    async def start(self) -> None:
        await self._inner.start()

    async def send_batch(self, messages: Sequence[Message]) -> None:
        started = time.perf_counter()
        await self._inner.send_batch(messages)
        self._observe(time.perf_counter() - started)

    async def stop(self) -> None:
        await self._inner.stop()


class Reporter:
    """Writes a status line when the publisher's counts changed since the last one."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.publisher: EventPublisher | None = None
        self.send_seconds: list[float] = []
        self._last: tuple[int, ...] = ()

    def observe_send(self, seconds: float) -> None:
        self.send_seconds.append(seconds)

    def report(self) -> None:
        publisher = self.publisher
        assert publisher is not None
        stats = publisher.stats
        spill_bytes = publisher.spill_bytes
        state = (stats.sent, stats.spilled, stats.replayed, stats.dropped, spill_bytes, publisher.bus_up)
        if state == self._last and not self.send_seconds:
            return
        self._last = state
        status = {
            "settled": publisher.settled,
            "sent": stats.sent,
            "spilled": stats.spilled,
            "replayed": stats.replayed,
            "dropped": stats.dropped,
            "bus_up": publisher.bus_up,
            "spill_bytes": spill_bytes,
            "send_seconds": self.send_seconds,
        }
        self.send_seconds = []
        self.out.write(orjson.dumps(status) + b"\n")
        self.out.flush()

    async def run(self, interval_s: float) -> None:
        while True:
            self.report()
            await asyncio.sleep(interval_s)


async def relay(settings: BusSettings, source: str, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Relay until stdin closes; the exit code (1: a range could not be read)."""
    reporter = Reporter(stdout)
    publisher = EventPublisher(
        # The parent batched already: send what arrives without lingering again. The parent's
        # outbox holds every event until this process reports it settled: none here.
        settings.model_copy(update={"linger_ms": 0, "outbox": False}),
        source,
        producer_factory=lambda s: TimedProducer(open_producer(s), reporter.observe_send),
    )
    reporter.publisher = publisher
    await publisher.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    reporting = asyncio.create_task(reporter.run(max(settings.linger_ms, 5) / 1000))
    received = bytearray()
    code = 0
    while code == 0 and (chunk := await reader.read(READ_SIZE)):
        received += chunk
        messages, end = unframe(received)
        del received[:end]
        for message in messages:
            if not is_range(message):
                publisher.publish_message(message)
                continue
            try:
                events = read_range(message)
            except OSError:
                # Not settled, so still in the parent's outbox: it publishes them when this exits.
                logger.exception("an outbox range cannot be read; stopping")
                code = 1
                break
            for packed in pack(events, settings.events_per_message, settings.message_max_bytes):
                publisher.publish_message(packed)
    if received and code == 0:
        logger.warning("%d bytes of a torn frame at the end of the input ignored", len(received))
    await publisher.stop()
    reporting.cancel()
    reporter.report()
    return code


def main() -> None:
    source = sys.argv[1]
    settings = BusSettings.model_validate_json(os.environ[SETTINGS_ENV])
    configure_logging("telemetry-relay", json_logs=os.environ.get(JSON_LOGS_ENV, "1") == "1")
    sys.exit(asyncio.run(relay(settings, source, sys.stdin.buffer, sys.stdout.buffer)))


if __name__ == "__main__":
    main()
