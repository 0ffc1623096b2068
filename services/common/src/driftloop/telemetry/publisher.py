"""The event publisher: the scoring side of the bus, which never blocks and never loses an event.

``publish(event)`` encodes the event (one orjson call), appends it to a bounded in-memory buffer
and returns at once; a background task takes batches off the buffer, packs them into bus messages
and sends them. Encoding at once rather than in the sender keeps the request's objects from
outliving it: the buffer holds bytes, which the garbage collector does not track, and the
request's dicts are freed while they are still in the CPU's cache. When the bus is unreachable
(a send fails or times out) batches go to the local spill file instead, and while the spill file
holds anything, new batches are appended behind it, so that replay keeps the order: the task
retries the bus with exponential backoff and, once it answers, replays the file from its cursor
before sending anything new. When the buffer is full, ``publish`` moves the whole buffer and the
new event to the spill file (order kept) rather than refusing it. An event is dropped only when
the spill file is full too; that is counted, logged and a bug in sizing, never silent. ``stop()``
sends what remains, or spills it, so nothing is left behind.

With ``settings.outbox`` (the default), ``publish`` first copies the event into the process's
outbox (driftloop.telemetry.outbox), so that a crash of the process loses nothing it published;
what the sender settles marks the outbox delivered, and ``start()`` publishes first what a crashed
process of the same source left in its outbox.

Events go to the bus packed many to a message (driftloop.telemetry.wire); every count here
(sent, spilled, replayed, dropped) is of events, not messages. The scoring service runs this
publisher in a relay process by default (driftloop.telemetry.relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from driftloop import metrics_workers
from driftloop.telemetry import metrics
from driftloop.telemetry.bus import open_producer
from driftloop.telemetry.bus.base import BusProducer, Message
from driftloop.telemetry.outbox import Outbox, open_outbox
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.spill import SpillFile
from driftloop.telemetry.wire import pack

logger = logging.getLogger(__name__)


@dataclass
class PublisherStats:
    sent: int = 0
    """Events acknowledged by the bus straight from the buffer."""
    spilled: int = 0
    """Events written to the spill file."""
    replayed: int = 0
    """Spilled events later acknowledged by the bus."""
    dropped: int = 0
    """Events lost because the spill file was full (must stay 0)."""
    depth: int = 0
    """Events waiting in the in-memory buffer."""


_KEYS: dict[str, bytes] = {}
_KEYS_CACHED = 1024  # model names are few; rejected events carry whatever name a caller sent


def event_key(event: dict[str, Any]) -> bytes | None:
    """An event's message key: its model name (Kafka keeps each key's order)."""
    data = event.get("data")
    model = data.get("model") if isinstance(data, dict) else None
    if model is None:
        return None
    if type(model) is not str:
        return str(model).encode()
    key = _KEYS.get(model)
    if key is None:
        key = model.encode()
        if len(_KEYS) < _KEYS_CACHED:
            _KEYS[model] = key
    return key


def event_count(messages: Sequence[Message]) -> int:
    return sum(message.events for message in messages)


def encode_event(event: dict[str, Any]) -> Message:
    """One event as a message of its own (structured mode); raises if it is not JSON-encodable."""
    return Message(event_key(event), orjson.dumps(event), 1)


class Publisher(Protocol):
    """What the scoring service publishes through: in process or through the relay process."""

    @property
    def stats(self) -> PublisherStats: ...

    def publish(self, event: dict[str, Any]) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class EventPublisher:
    def __init__(
        self,
        settings: BusSettings,
        source: str,
        *,
        producer_factory: Callable[[BusSettings], BusProducer] = open_producer,
    ) -> None:
        self.settings = settings
        self.source = source
        self.stats = PublisherStats()
        self._producer_factory = producer_factory
        self._producer: BusProducer | None = None
        self._producer_started = False
        self._buffer: deque[Message] = deque()
        self._buffered = 0
        """Events in the buffer (a message may carry many)."""
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._spill: SpillFile | None = None
        self._bus_up = True
        self._next_attempt = 0.0
        self._backoff = settings.retry_backoff_s
        self._labels = {"source": source}
        self._spill_full_logged = False
        self._closing: set[asyncio.Task[None]] = set()
        self._outbox: Outbox | None = None
        self._accepted = 0
        """Events published through the outbox, in order (what the sender settles, less refusals)."""
        self._refused = 0
        """Events ``publish`` could not encode: counted dropped, never in the outbox."""

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the spill file (replaying what a previous run left) and start the sender task.

        A bus that is down at start is not an error: events spill until it comes up.
        """
        self._spill = SpillFile(self.settings.spill_path, self.source, self.settings.spill_max_bytes)
        self._producer = self._producer_factory(self.settings)
        self._stopping = False
        # Read at scrape time: publish() touches no metric on the request path.
        metrics_workers.at_scrape(metrics.BUFFER_DEPTH.labels(**self._labels), lambda: self._buffered)
        if self.settings.outbox:
            settings = self.settings
            self._outbox = open_outbox(
                settings.spill_path, self.source, settings.outbox_segment_bytes, fsync=settings.outbox_fsync
            )
        self._task = asyncio.create_task(self._run(), name=f"telemetry-publisher-{self.source}")
        if self._spill.pending:
            logger.info("replaying %d spilled bytes left by a previous run", self._spill.pending_bytes)
        if self._outbox is not None:
            orphans = self._outbox.recover()
            for orphan in orphans:
                for message in orphan.messages:
                    self._accept(message)
            self._outbox.discard(orphans)  # their events are in this outbox now
            if recovered := sum(len(orphan.messages) for orphan in orphans):
                logger.warning("publishing %d telemetry events a crashed process left in its outbox", recovered)

    async def stop(self) -> None:
        """Send everything buffered (or spill it if the bus is away), then close the producer."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._outbox is not None:
            self._settle_outbox()
            self._outbox.close()
            self._outbox = None
        if self._producer is not None and self._producer_started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), self.settings.send_timeout_s)
        self._producer_started = False
        for closing in list(self._closing):
            closing.cancel()
        if self._spill is not None:
            self._spill.close()
            if self._spill.pending:
                logger.warning("%d bytes stay spilled until the next start", self._spill.pending_bytes)
            self._spill = None
        metrics_workers.at_scrape(
            metrics.BUFFER_DEPTH.labels(**self._labels), lambda: 0
        )  # and let go of this publisher

    # -- request path ------------------------------------------------------------------------------

    def publish(self, event: dict[str, Any]) -> None:
        """Encode one event and queue it for the bus; returns at once and never raises."""
        try:
            message = encode_event(event)
        except (TypeError, orjson.JSONEncodeError):  # a caller bug, not a bus problem: count it
            logger.exception("telemetry event %r cannot be encoded as JSON", event.get("id"))
            self._refused += 1
            self._count_dropped(1)
            return
        if self._outbox is None:
            self.publish_message(message)
        else:
            self._accept(message)

    def _accept(self, message: Message) -> None:
        """Into the outbox, then into the buffer."""
        assert self._outbox is not None
        self._outbox.append(message.key, message.value)
        self.publish_message(message)
        self._accepted += message.events
        self._outbox.mark(self._accepted)

    def publish_message(self, message: Message) -> None:
        """Queue an encoded message (one event, or a batch of one key's events) for the bus."""
        try:
            if self._buffered >= self.settings.buffer_size or self._task is None:
                # Full buffer (or not running): move it and the new message to disk, in order.
                overflow = [*self._buffer, message]
                self._buffer.clear()
                self._buffered = 0
                self._spill_messages(self._pack(overflow))
                self._settle_outbox()
            else:
                self._buffer.append(message)
                self._buffered += message.events
                self._wakeup.set()
            self.stats.depth = self._buffered
        except Exception:  # publish must never fail a request; count the loss loudly instead
            logger.exception("telemetry events lost while publishing")
            self._count_dropped(message.events)

    @property
    def bus_up(self) -> bool:
        """Whether the last attempt to reach the bus succeeded."""
        return self._bus_up

    @property
    def spill_bytes(self) -> int:
        return self._spill.pending_bytes if self._spill is not None else 0

    @property
    def settled(self) -> int:
        """Events that have left the buffer for good: sent, spilled or dropped. They leave in the
        order they were published, so the first ``settled`` events published are settled."""
        return self.stats.sent + self.stats.spilled + self.stats.dropped

    # -- sender task -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._buffer and not self._stopping:
                timeout = None
                if self._spill is not None and self._spill.pending:
                    timeout = max(0.0, self._next_attempt - time.monotonic())
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
            lingering = self.settings.linger_ms > 0 and not self._stopping
            if lingering and 0 < self._buffered < self.settings.batch_size:
                await asyncio.sleep(self.settings.linger_ms / 1000)
            batch = self._take_batch()
            if batch:
                await self._deliver(self._pack(batch))
                self._settle_outbox()
            elif self._spill is not None and self._spill.pending:
                await self._replay()
            if self._stopping and not self._buffer:
                await self._replay()  # last chance to empty the spill file while the bus is up
                return

    def _pack(self, parts: list[Message]) -> list[Message]:
        return pack(parts, self.settings.events_per_message, self.settings.message_max_bytes)

    def _take_batch(self) -> list[Message]:
        """Messages off the front of the buffer, up to ``batch_size`` events (at least one message)."""
        batch: list[Message] = []
        events = 0
        while self._buffer and (not batch or events + self._buffer[0].events <= self.settings.batch_size):
            message = self._buffer.popleft()
            batch.append(message)
            events += message.events
        self._buffered -= events
        self.stats.depth = self._buffered
        return batch

    async def _deliver(self, messages: list[Message]) -> None:
        assert self._spill is not None
        if not messages:
            return
        if self._spill.pending or not self._bus_up:
            self._spill_messages(messages)
            await self._replay()
            return
        if await self._send(messages):
            sent = event_count(messages)
            self.stats.sent += sent
            metrics.EVENTS_SENT.labels(**self._labels).inc(sent)
        else:
            self._spill_messages(messages)

    async def _replay(self) -> None:
        """Send the spill file from its cursor while the bus answers; back off when it does not."""
        spill = self._spill
        assert spill is not None
        while spill.pending:
            if not self._bus_up and time.monotonic() < self._next_attempt:
                return
            messages, end = spill.read(self.settings.batch_size)
            if not messages:
                logger.warning("discarding a torn record at the end of %s", spill.path)
                spill.discard_rest()
                continue
            if not await self._send(messages):
                return
            spill.advance(end)
            replayed = event_count(messages)
            self.stats.replayed += replayed
            metrics.EVENTS_REPLAYED.labels(**self._labels).inc(replayed)
            metrics.SPILL_BYTES.labels(**self._labels).set(spill.pending_bytes)
            if not self._stopping and self._buffered >= self.settings.batch_size:
                # Keep the buffer from overflowing during a long replay: spill it behind the file.
                self._spill_messages(self._pack(self._take_batch()))

    async def _send(self, messages: Sequence[Message]) -> bool:
        """One batch to the bus; False (and the bus marked away, with backoff) if it is not acknowledged."""
        assert self._producer is not None
        started = time.perf_counter()
        try:
            if not self._producer_started:
                await asyncio.wait_for(self._producer.start(), self.settings.send_timeout_s)
                self._producer_started = True
            await asyncio.wait_for(self._producer.send_batch(messages), self.settings.send_timeout_s)
        except Exception as exc:  # any failure means "not acknowledged": spill, never lose
            self._mark_down(exc)
            return False
        metrics.SEND_SECONDS.labels(**self._labels).observe(time.perf_counter() - started)
        if not self._bus_up:
            logger.info("telemetry bus is back; replaying spilled events")
        self._bus_up = True
        self._backoff = self.settings.retry_backoff_s
        metrics.BUS_UP.labels(**self._labels).set(1)
        return True

    def _mark_down(self, exc: BaseException) -> None:
        if self._bus_up:
            logger.warning("telemetry bus unreachable, spilling events to disk: %r", exc)
        self._bus_up = False
        metrics.BUS_UP.labels(**self._labels).set(0)
        self._next_attempt = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self.settings.retry_backoff_max_s)
        if self._producer is not None:
            # A fresh client after a failure: a client whose start or send failed may keep broken
            # state (aiokafka cannot be restarted). The old one is closed in the background.
            self._producer_started = False
            closing = asyncio.create_task(_stop_quietly(self._producer))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            self._producer = self._producer_factory(self.settings)

    # -- spilling ----------------------------------------------------------------------------------

    def _spill_messages(self, messages: list[Message]) -> None:
        if self._spill is None:
            self._count_dropped(event_count(messages))
            logger.error("%d telemetry events dropped: the publisher is not started", event_count(messages))
            return
        written = self._spill.append(messages)
        spilled = event_count(messages[:written])
        self.stats.spilled += spilled
        metrics.EVENTS_SPILLED.labels(**self._labels).inc(spilled)
        metrics.SPILL_BYTES.labels(**self._labels).set(self._spill.pending_bytes)
        if written < len(messages):
            self._count_dropped(event_count(messages[written:]))
            if not self._spill_full_logged:
                logger.error(
                    "spill file %s is full (%d bytes): telemetry events are being dropped",
                    self._spill.path,
                    self.settings.spill_max_bytes,
                )
                self._spill_full_logged = True

    def _settle_outbox(self) -> None:
        """Mark delivered in the outbox what has left the buffer for good (sent, spilled or dropped)."""
        if self._outbox is not None:
            self._outbox.settled(self.settled - self._refused)

    def _count_dropped(self, count: int) -> None:
        self.stats.dropped += count
        metrics.EVENTS_DROPPED.labels(**self._labels).inc(count)


async def _stop_quietly(producer: BusProducer) -> None:
    with contextlib.suppress(Exception):
        await producer.stop()
