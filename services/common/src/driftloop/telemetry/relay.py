"""Publishing through a relay process: the serving process only builds and encodes its events.

The scoring service is one Python process per core, so every microsecond its event loop spends
on telemetry is a microsecond of scoring lost. ``RelayPublisher`` keeps the part that must happen
on the request (building and encoding the event, ~3 µs) and hands everything else (packing, the
bus client, compression, acknowledgements, the spill file, replay) to a child process running an
ordinary :class:`~driftloop.telemetry.publisher.EventPublisher`
(``python -m driftloop.telemetry.relay_process``). Why, and what it saves:
docs/benchmarks.md, "Scoring with telemetry on vs off".

The two talk over pipes:

- to the child's stdin, every ``linger_ms``, framed as in the spill file
  (driftloop.telemetry.wire): with the outbox (the default), *range messages* naming where in the
  outbox's segment files the events appended since the last time are, which the child reads from
  there (the page cache: the events are copied once on this side, into the outbox); without it,
  or for an event the outbox could not take, the events themselves, packed into messages per
  model;
- from the child's stdout, a JSON status line whenever its counts change: how many events it has
  *settled* (sent, spilled or dropped; it settles them in the order it received them), its
  counters, whether the bus is up, the spill file's size and the durations of its sends, which
  this side mirrors into the process's metrics.

Nothing is lost when the child fails: this side keeps every message until the child reports it
settled. If the child dies, cannot be started, or settles nothing for a long while (the stop
timeout) with more than twice ``buffer_size`` events waiting, it is killed and this side goes on
in process: the unsettled messages are published, in order, through an in-process
``EventPublisher`` on the same spill file and bus, and so is every later event. Events the child
had sent but not yet reported go to the bus twice, with the same ids, which every consumer
deduplicates. The child ignores interrupts from the terminal (it runs in its own session) and
stops when its stdin closes, after sending or spilling what it holds: what a parent killed
outright had handed over is still delivered.

Every event is in the outbox (driftloop.telemetry.outbox) before ``publish`` returns, and the
child's reports of what it settled move the outbox's delivered mark, one flush at a time. The
next start of a publisher for the same source (this process restarted, or another worker) finds
what was not marked delivered and publishes it first. A take-over reads the unsettled ranges
back from this process's own outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections import deque
from typing import Any

import orjson

from driftloop import metrics_workers
from driftloop.telemetry import metrics
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.outbox import Orphan, Outbox, is_range, open_outbox, read_range
from driftloop.telemetry.publisher import EventPublisher, PublisherStats, event_count, event_key
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import frames, pack_events

logger = logging.getLogger(__name__)

RELAY_MODULE = "driftloop.telemetry.relay_process"
SETTINGS_ENV = "DRIFTLOOP_RELAY_SETTINGS"
JSON_LOGS_ENV = "DRIFTLOOP_RELAY_JSON_LOGS"
STUCK_FACTOR = 2
"""The child is taken as stuck when more than this many times ``buffer_size`` events wait on it
and it has settled none for the stop timeout (a healthy child settles within a send timeout:
what it cannot send, it spills)."""


class RelayPublisher:
    def __init__(self, settings: BusSettings, source: str, *, json_logs: bool = True) -> None:
        self.settings = settings
        self.source = source
        self._json_logs = json_logs
        self._labels = {"source": source}
        self._pending: dict[bytes | None, list[bytes]] = {}
        """Encoded events not yet written to the child that are not in the outbox, by key."""
        self._pending_events = 0
        """Events not yet written to the child (in the outbox or in ``_pending``)."""
        self._unsettled: deque[Message] = deque()
        """Messages written to the child that it has not reported settled, oldest first (range
        messages stand for the outbox's events they name)."""
        self._unsettled_events = 0
        self._relayed = PublisherStats()
        """The child's counts, as of its last status line."""
        self._settled = 0
        self._progress_at = 0.0
        """When the child last settled something (or was first given something to settle)."""
        self._dropped_here = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._falling_back: asyncio.Task[None] | None = None
        self._local: EventPublisher | None = None
        self._stopping = False
        self._stopped = False
        self._outbox: Outbox | None = None
        self._handed = 0
        """Events handed to the sender (the child, or after a take-over the in-process publisher), in order."""
        self._local_base = 0
        """Events the child had settled when this side took over: the local publisher counts from there."""

    @property
    def stats(self) -> PublisherStats:
        local = self._local.stats if self._local is not None else PublisherStats()
        return PublisherStats(
            sent=self._relayed.sent + local.sent,
            spilled=self._relayed.spilled + local.spilled,
            replayed=self._relayed.replayed + local.replayed,
            dropped=self._relayed.dropped + local.dropped + self._dropped_here,
            depth=self.depth,
        )

    @property
    def depth(self) -> int:
        """Events not yet settled: waiting here, in the pipe, in the child or in the fallback."""
        local = self._local.stats.depth if self._local is not None else 0
        return self._pending_events + self._unsettled_events + local

    @property
    def relaying(self) -> bool:
        """Whether events go through the child (False once it failed and this side took over)."""
        return self._local is None and self._falling_back is None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox (queueing first what crashed processes left in theirs) and start the
        relay process; if it cannot be started, publish in process instead."""
        self._stopping = False
        metrics_workers.at_scrape(metrics.BUFFER_DEPTH.labels(**self._labels), lambda: self.depth)
        orphans = self._open_outbox() if self.settings.outbox else []
        try:
            await self._start_process()
        finally:
            self._publish_recovered(orphans)  # before anything new: start() returns before serving

    async def _start_process(self) -> None:
        env = {
            **metrics_workers.child_environment(dict(os.environ)),  # its figures are reported by this process
            SETTINGS_ENV: self.settings.model_dump_json(),
            JSON_LOGS_ENV: str(int(self._json_logs)),
        }
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                RELAY_MODULE,
                self.source,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # a Ctrl-C meant for the server must not kill it before it flushes
            )
        except OSError as exc:
            self._fall_back(f"it could not be started: {exc!r}")
            await self._settle_fallback()
            return
        self._reader = asyncio.create_task(self._read_status(self._process), name=f"telemetry-relay-{self.source}")
        metrics.RELAY_UP.labels(**self._labels).set(1)

    async def stop(self) -> None:
        """Hand over what is pending, let the child send or spill everything and exit."""
        self._stopping = True
        self._flush()
        if self.relaying and self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()  # the child's signal to finish
            with contextlib.suppress(ConnectionError):
                await self._process.stdin.wait_closed()
            try:
                if self._reader is not None:
                    await asyncio.wait_for(asyncio.shield(self._reader), self._stop_timeout())
            except TimeoutError:
                self._fall_back("it did not finish in time")
            if (self._unsettled or self._pending) and self.relaying:
                self._fall_back(f"it exited with code {self._process.returncode} and {self.depth} events unsettled")
        await self._settle_fallback()
        if self._local is not None:
            await self._local.stop()
            if self._outbox is not None:
                self._outbox.settled(self._local_base + self._local.settled)
        self._stopped = True
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        metrics_workers.at_scrape(metrics.BUFFER_DEPTH.labels(**self._labels), lambda: 0)

    def _stop_timeout(self) -> float:
        # The child sends what it holds (one send timeout), then spills whatever did not go.
        return 3 * self.settings.send_timeout_s + 5

    # -- request path ------------------------------------------------------------------------------

    def publish(self, event: dict[str, Any]) -> None:
        """Encode one event and queue it for the child; returns at once and never raises."""
        try:
            value = orjson.dumps(event)
        except (TypeError, orjson.JSONEncodeError):  # a caller bug, not a bus problem: count it
            logger.exception("telemetry event %r cannot be encoded as JSON", event.get("id"))
            self._dropped_here += 1
            metrics.EVENTS_DROPPED.labels(**self._labels).inc()
            return
        key = event_key(event)
        if self._stopped:
            logger.error("telemetry event %r dropped: published after the publisher stopped", event.get("id"))
            self._dropped_here += 1
            metrics.EVENTS_DROPPED.labels(**self._labels).inc()
            return
        self._accept(key, value)

    def _accept(self, key: bytes | None, value: bytes) -> None:
        """Into the outbox, then on to the child (named at the next flush) or the local publisher."""
        outbox = self._outbox
        in_outbox = outbox is not None and outbox.append(key, value)
        if self._local is not None:
            self._local.publish_message(Message(key, value, 1))
            self._handed += 1
            if outbox is not None:
                outbox.mark(self._handed)
                outbox.settled(self._local_base + self._local.settled)
            return
        if not in_outbox:
            if outbox is not None:
                self._flush()  # what the outbox holds goes first: the child keeps the order
            pending = self._pending.get(key)
            if pending is None:
                self._pending[key] = [value]
            else:
                pending.append(value)
        self._pending_events += 1
        if self._flush_handle is None and not self._stopping:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.settings.linger_ms / 1000, self._flush)

    def _flush(self) -> None:
        """Write to the child the ranges of the outbox appended since the last flush, and the
        pending events packed into messages (a pipe write, no wait). Those go first: an event
        joins them only after a flush of what was in the outbox before it."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()  # when called before its time
            self._flush_handle = None
        if not self._pending_events or not self.relaying:
            return
        process = self._process
        if process is None or process.stdin is None or process.stdin.is_closing():
            self._fall_back("its input is closed")
            return
        messages = [
            message
            for key, values in self._pending.items()
            for message in pack_events(key, values, self.settings.events_per_message, self.settings.message_max_bytes)
        ]
        if self._outbox is not None:
            messages += self._outbox.hand()
        self._pending = {}
        self._pending_events = 0
        if not self._unsettled:
            self._progress_at = time.monotonic()
        # Unsettled from here: if the write fails, the child is gone and its exit starts the take-over.
        self._unsettled.extend(messages)
        flushed = event_count(messages)
        self._unsettled_events += flushed
        self._handed += flushed
        if self._outbox is not None:
            self._outbox.mark(self._handed)
        process.stdin.write(frames(messages))  # buffered by the transport; never raises on a dead pipe
        waited = time.monotonic() - self._progress_at
        if self._unsettled_events > STUCK_FACTOR * self.settings.buffer_size and waited > self._stop_timeout():
            self._fall_back(f"it settled nothing for {waited:.0f} s with {self._unsettled_events} events waiting")

    # -- the child's reports -----------------------------------------------------------------------

    async def _read_status(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            try:
                self._apply(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                logger.warning("unreadable status line from the telemetry relay: %r", line[:200])
        code = await process.wait()
        if not self._stopping:
            self._fall_back(f"it exited with code {code}")

    def _apply(self, status: dict[str, Any]) -> None:
        settled = status["settled"] - self._settled
        self._settled = status["settled"]
        if settled:
            self._progress_at = time.monotonic()
            if self._outbox is not None:
                self._outbox.settled(self._settled)
        while self._unsettled and self._unsettled[0].events <= settled:
            message = self._unsettled.popleft()
            settled -= message.events
            self._unsettled_events -= message.events
        previous = self._relayed
        current = PublisherStats(
            sent=status["sent"], spilled=status["spilled"], replayed=status["replayed"], dropped=status["dropped"]
        )
        for counter, before, now in (
            (metrics.EVENTS_SENT, previous.sent, current.sent),
            (metrics.EVENTS_SPILLED, previous.spilled, current.spilled),
            (metrics.EVENTS_REPLAYED, previous.replayed, current.replayed),
            (metrics.EVENTS_DROPPED, previous.dropped, current.dropped),
        ):
            if now > before:
                counter.labels(**self._labels).inc(now - before)
        self._relayed = current
        metrics.BUS_UP.labels(**self._labels).set(1 if status["bus_up"] else 0)
        metrics.SPILL_BYTES.labels(**self._labels).set(status["spill_bytes"])
        histogram = metrics.SEND_SECONDS.labels(**self._labels)
        for seconds in status["send_seconds"]:
            histogram.observe(seconds)

    # -- taking over -------------------------------------------------------------------------------

    def _fall_back(self, reason: str) -> None:
        """Kill the child and publish in process from now on, unsettled messages first."""
        if not self.relaying:
            return
        logger.error("telemetry relay process failed (%s): publishing in this process from now on", reason)
        metrics.RELAY_UP.labels(**self._labels).set(0)
        self._falling_back = asyncio.get_running_loop().create_task(self._take_over())

    async def _take_over(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader  # the status lines the child wrote before it died
        local = EventPublisher(self.settings.model_copy(update={"outbox": False}), self.source)
        await local.start()
        pending = [Message(key, value, 1) for key, values in self._pending.items() for value in values]
        if self._outbox is not None:
            pending += self._outbox.hand()
        # The local publisher settles in the order it is given: the child's unsettled, then pending.
        self._local_base = self._settled
        self._handed += self._pending_events
        if self._outbox is not None:
            self._outbox.mark(self._handed)
        for message in [*self._unsettled, *pending]:
            if not is_range(message):
                local.publish_message(message)
                continue
            try:
                events = read_range(message)  # this process's own outbox: still mapped, not delivered
            except OSError:  # its files were removed under it: count the loss, and settle it
                logger.exception("%d telemetry events lost: the outbox no longer holds them", message.events)
                events = []
                self._dropped_here += message.events
                self._local_base += message.events
                metrics.EVENTS_DROPPED.labels(**self._labels).inc(message.events)
            for event in events:
                local.publish_message(event)
        self._unsettled.clear()
        self._unsettled_events = 0
        self._pending = {}
        self._pending_events = 0
        self._local = local

    # -- the outbox ------------------------------------------------------------------------------

    def _open_outbox(self) -> list[Orphan]:
        """Open this process's outbox and claim those of crashed processes of this source."""
        settings = self.settings
        self._outbox = open_outbox(
            settings.spill_path, self.source, settings.outbox_segment_bytes, fsync=settings.outbox_fsync
        )
        return self._outbox.recover() if self._outbox is not None else []

    def _publish_recovered(self, orphans: list[Orphan]) -> None:
        if self._outbox is None or not orphans:
            return
        recovered = 0
        for orphan in orphans:
            for message in orphan.messages:
                self._accept(message.key, message.value)
            recovered += len(orphan.messages)
        self._outbox.discard(orphans)  # their events are in this outbox now
        if recovered:
            logger.warning("publishing %d telemetry events a crashed process left in its outbox", recovered)

    async def _settle_fallback(self) -> None:
        if self._falling_back is not None:
            await self._falling_back


__all__ = ["RelayPublisher"]
