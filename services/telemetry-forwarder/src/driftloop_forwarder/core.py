"""The consume-and-store loop, free of FastAPI so tests and benchmarks drive it directly.

One iteration: poll a batch from the bus, parse it (unparseable records become dead letters),
write it to the store in one transaction, and only then commit the bus offsets. A crash
between the database commit and the offset commit redelivers the batch, and the store's
``ON CONFLICT DO NOTHING`` ignores it: at-least-once delivery, exactly-once storage. An event
whose data the store refuses is parked in ``dead_letters`` and the rest of its batch is stored
(driftloop.store.poison); only while the database itself fails is the same batch retried with
exponential backoff (offsets stay put), then the loop catches up. ``health`` (health.py) tells
whether the loop commits and keeps up.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from driftloop.store.failures import classify
from driftloop.store.poison import DatabaseWriteError, Locate, StoreOutcome, store_batch
from driftloop.telemetry.bus.base import BusConsumer, Record
from driftloop.telemetry.parse import ParsedBatch, ParsedEvent, parse_records
from driftloop.telemetry.wire import is_batch
from driftloop_forwarder import metrics
from driftloop_forwarder.health import ForwarderHealth
from driftloop_forwarder.settings import ForwardSettings

logger = logging.getLogger(__name__)

# Called with each stored batch after its database commit (drift windows hook in here).
BatchSink = Callable[[ParsedBatch], Awaitable[None]]


def tune_collector(gen0_threshold: int) -> None:
    """Keep what start-up allocated out of the garbage collector's passes, and run them less often
    (``ForwardSettings.gc_gen0_threshold``; 0 keeps Python's default)."""
    gc.freeze()
    if gen0_threshold:
        gc.set_threshold(gen0_threshold, *gc.get_threshold()[1:])


@dataclass
class _Write:
    """A batch whose database write is under way."""

    records: list[Record]
    batch: ParsedBatch
    started: float
    task: asyncio.Task[StoreOutcome | None]


@dataclass
class ForwarderStats:
    records: int = 0
    """Bus messages stored (one carries one event or a JSON batch of them)."""
    events: int = 0
    """Events read (stored, or dead-lettered)."""
    rows: int = 0
    dead_letters: int = 0
    """Dead letters parked: records the parser refused and events the store refused."""
    batches: int = 0
    data_errors: int = 0
    """Events the store refused because of their data (each dead-lettered; the loop went on)."""
    database_errors: int = 0
    """Failed attempts to write a batch because of the database (each retried with backoff)."""
    lag: int = 0

    @property
    def store_errors(self) -> int:
        return self.data_errors + self.database_errors


@dataclass
class Forwarder:
    consumer: BusConsumer
    engine: Engine
    settings: ForwardSettings = field(default_factory=ForwardSettings)
    poll_timeout_ms: int = 500
    sinks: list[BatchSink] = field(default_factory=list)
    stats: ForwarderStats = field(default_factory=ForwarderStats)
    lag_interval_s: float = 1.0
    health: ForwarderHealth = field(init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _lag_checked_at: float = 0.0
    _events_per_record: float = 0.0
    """Events per bus record in the last batch (0: none read yet)."""

    def __post_init__(self) -> None:
        self.health = ForwarderHealth(self.settings.stall_after_s, self.settings.lag_growth_span_s)

    async def run(self) -> None:
        """Consume until :meth:`stop`; the consumer must be started (and is stopped by the caller).

        Pipelined: while one batch is being written (in a thread, waiting on the database), the
        next one is polled and parsed. Offsets are committed batch by batch, each only after its
        own database commit, so the guarantee is the same as :meth:`step`'s.
        """
        backoff = self.settings.retry_backoff_s
        in_flight: _Write | None = None
        while not self._stopping.is_set():
            try:
                polled = await self._poll_and_parse()
                if in_flight is not None:
                    done, in_flight = in_flight, None
                    if not await self._finish(done):
                        break  # stopping while the database was down
                if polled is not None:
                    in_flight = _Write(*polled, asyncio.create_task(self._store(polled[1], polled[0])))
                backoff = self.settings.retry_backoff_s
            except Exception as exc:  # a bus hiccup must not end the service: log, wait, go on
                logger.warning("consuming the bus failed, retrying in %.1fs: %r", backoff, exc)
                if in_flight is not None:
                    await self._finish(in_flight)
                    in_flight = None
                await self.consumer.rewind()
                self.health.dropped()
                try:
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                except TimeoutError:
                    backoff = min(backoff * 2, self.settings.retry_backoff_max_s)
        if in_flight is not None:
            await self._finish(in_flight)

    def stop(self) -> None:
        self._stopping.set()

    async def step(self) -> int:
        """One poll-store-commit round, not pipelined; returns how many records it stored (0: bus idle)."""
        polled = await self._poll_and_parse()
        if polled is None:
            return 0
        records, batch, started = polled
        write = _Write(records, batch, started, asyncio.create_task(self._store(batch, records)))
        return len(records) if await self._finish(write) else 0

    async def _poll_and_parse(self) -> tuple[list[Record], ParsedBatch, float] | None:
        # batch_size counts events and a bus record may carry hundreds: ask for as many records as
        # made up batch_size events in the last batch (one record first, to learn how many).
        per_record = self._events_per_record
        wanted = max(1, int(self.settings.batch_size / per_record)) if per_record else 1
        records = await self.consumer.poll(wanted, self.poll_timeout_ms)
        if not records or time.monotonic() - self._lag_checked_at >= self.lag_interval_s:
            await self._refresh_lag()
        if not records:
            return None
        self.health.read()
        started = time.perf_counter()
        batch = parse_records(records)
        self._events_per_record = max(1.0, (len(batch.events) + len(batch.dead_letters)) / len(records))
        for letter in batch.dead_letters:
            logger.warning("dead-lettered the record at %s: %s", letter.position, letter.reason)
        return records, batch, started

    async def _finish(self, write: _Write) -> bool:
        """Wait for a batch's database commit, then commit its offsets; False if it was not stored."""
        outcome = await write.task
        if outcome is None:
            return False  # nothing committed: the batch is read again after a restart
        await self.consumer.commit(write.records)
        self.health.committed()
        for sink in self.sinks:
            try:
                await sink(outcome.stored)  # the stored events only: not the dead-lettered
            except Exception:  # the batch is stored and committed: a sink's failure must not undo that
                metrics.DRIFT_ERRORS.labels(stage="sink").inc()
                logger.exception("a sink failed on a stored batch")
        self._count(write.records, write.batch, outcome, time.perf_counter() - write.started)
        return True

    async def _store(self, batch: ParsedBatch, records: list[Record]) -> StoreOutcome | None:
        backoff = self.settings.retry_backoff_s
        locate = _locator(records)
        while True:
            try:
                outcome = await asyncio.to_thread(store_batch, self.engine, batch, locate)
                for letter in outcome.poisoned:
                    logger.error("dead-lettered the event at %s: %s", letter.position, letter.reason)
                return outcome
            except Exception as exc:  # the database's fault (or unknown): retry, never drop the batch
                reason = exc.failure.reason if isinstance(exc, DatabaseWriteError) else classify(exc).reason
                self.stats.database_errors += 1
                metrics.STORE_ERRORS.labels(kind="database").inc()
                logger.warning("storing %d records failed, retrying in %.1fs: %s", len(records), backoff, reason)
            try:
                await asyncio.wait_for(self._stopping.wait(), backoff)
                return None
            except TimeoutError:
                backoff = min(backoff * 2, self.settings.retry_backoff_max_s)

    def _count(self, records: list[Record], batch: ParsedBatch, outcome: StoreOutcome, seconds: float) -> None:
        result = outcome.result
        self.stats.records += len(records)
        self.stats.events += len(batch.events) + len(batch.dead_letters)
        self.stats.rows += result.rows
        self.stats.dead_letters += result.dead_letters
        self.stats.batches += 1
        if outcome.poisoned:
            self.stats.data_errors += len(outcome.poisoned)
            metrics.STORE_ERRORS.labels(kind="data").inc(len(outcome.poisoned))
        metrics.RECORDS_READ.inc(len(records))
        metrics.EVENTS_READ.inc(len(batch.events) + len(batch.dead_letters))
        for table in ("predictions", "feedback", "rejected", "dead_letters"):
            metrics.ROWS_WRITTEN.labels(table=table).inc(getattr(result, table))
        metrics.DEAD_LETTERS.inc(result.dead_letters)
        metrics.BATCH_SECONDS.observe(seconds)

    async def _refresh_lag(self) -> None:
        self._lag_checked_at = time.monotonic()
        try:
            self.stats.lag = await self.consumer.lag()
        except Exception:  # lag is informative only; a failing lookup must not stop consuming
            logger.debug("lag lookup failed", exc_info=True)
            return
        metrics.LAG.set(self.stats.lag)
        self.health.lag(self.stats.lag)


def _locator(records: list[Record]) -> Locate:
    """Where each event of these records is on the bus, worked out only if a dead letter needs it."""
    positions: dict[str, str] = {}

    def locate(event: ParsedEvent) -> str:
        if not positions:
            positions.update(_event_positions(records))
        return positions.get(event.id) or f"{records[0].position}..{records[-1].offset}:{event.id}"

    return locate


def _event_positions(records: list[Record]) -> dict[str, str]:
    """Event id -> ``topic/partition@offset`` (one event) or ``...#index`` (its place in a JSON batch)."""
    positions: dict[str, str] = {}
    for record in records:
        parsed = parse_records([record])
        if not is_batch(record.value):
            for event in parsed.events:
                positions.setdefault(event.id, record.position)
            continue
        refused = {int(d.position.rpartition("#")[2]) for d in parsed.dead_letters if "#" in d.position}
        indices = (i for i in range(len(parsed.events) + len(refused)) if i not in refused)
        for index, event in zip(indices, parsed.events, strict=False):
            positions.setdefault(event.id, f"{record.position}#{index}")
    return positions
