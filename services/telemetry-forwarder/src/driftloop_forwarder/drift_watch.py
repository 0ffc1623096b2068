"""Drift on the stored stream: the pure drift stage behind storage, firings out (docs/drift.md).

Two parts, wired through their constructors:

- ``DriftWatch`` is a sink of the consume-and-store loop: it sees each batch only after the batch's
  database commit and offset commit, queues it, and one worker thread feeds the events, in order,
  to the pure ``DriftStage`` (driftloop/drift/stage.py: windows, the labelled stream, the concept
  drift detector, the rules). It writes each closed window's statistics and every firing with the
  rule state in one transaction, then hands retrain firings to the outbox. Storage does not wait for
  drift unless drift is ``backlog`` batches behind, and nothing here raises into the loop: a failure
  (a model version missing from the registry, a rules file naming a column the model lacks) is
  logged once per model version and counted while storage and offset commits go on.
- ``FiringOutbox`` sends the persisted retrain firings to the retrain webhook, records each delivery
  in ``rule_firings``, and at start sends again those whose delivery had no outcome when the process
  stopped, with the same idempotency key.

A rule that asked for a retrain is armed again when the retrain is over: the watch's timer reads
the store and releases it when a retrain job of the model finished after the firing, or when the
firing's delivery was rejected or gave up. Everything else runs on event time, so a replay gives the
same windows and firings however fast it is sent; only a time window left open by a stream that went
quiet is closed on the clock, after ``idle_close_s`` without events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy import Engine

from driftloop.drift import prometheus
from driftloop.drift.evaluator import Firing
from driftloop.drift.notify import DeliveryAttempt, DeliveryOutcome, WebhookSender, WebhookSettings
from driftloop.drift.stage import DriftStage, StageOutput
from driftloop.store import drift as drift_store
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, PredictionData
from driftloop_forwarder import metrics

logger = logging.getLogger(__name__)


@dataclass
class DriftStats:
    windows: int = 0
    alarms: int = 0
    firings: int = 0
    errors: int = 0
    failed_attempts: int = 0
    """Webhook attempts that did not deliver (each is retried or ends in rejected / gave_up)."""


class FiringOutbox:
    """Retrain firings, already persisted, out to the webhook; their deliveries back into the store."""

    def __init__(self, engine: Engine, settings: WebhookSettings, stats: DriftStats) -> None:
        self.engine = engine
        self.stats = stats
        self._sender = WebhookSender(settings, on_attempt=self._attempted, on_outcome=self._finished)
        self._writes: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FiringOutbox:
        await self._sender.__aenter__()
        for firing in await asyncio.to_thread(drift_store.undelivered_firings, self.engine):
            logger.info("sending again the undelivered retrain firing %s (%s)", firing.id, firing.rule)
            self._sender.submit(firing)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._sender.__aexit__(kind, error, trace)
        await asyncio.gather(*self._writes, return_exceptions=True)  # the last outcomes are written

    def submit(self, firing: Firing) -> None:
        """Send a persisted retrain firing (on the event loop)."""
        self._sender.submit(firing)

    def _attempted(self, attempt: DeliveryAttempt) -> None:
        if attempt.error is not None:
            self.stats.failed_attempts += 1
            metrics.WEBHOOK_FAILED_ATTEMPTS.inc()

    def _finished(self, outcome: DeliveryOutcome) -> None:
        prometheus.observe_delivery(outcome)
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._record, outcome))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _record(self, outcome: DeliveryOutcome) -> None:
        try:
            drift_store.record_delivery(self.engine, outcome)
        except Exception:
            self.stats.errors += 1
            metrics.DRIFT_ERRORS.labels(stage="delivery").inc()
            logger.exception("recording the delivery of firing %s failed", outcome.firing_id)


@dataclass
class DriftWatch:
    engine: Engine
    stage: DriftStage
    outbox: FiringOutbox | None
    """Where retrain firings go; None records them without sending (tests, dry runs)."""
    stats: DriftStats = field(default_factory=DriftStats)
    backlog: int = 8
    """Stored batches that may wait for drift before storage waits for drift (backpressure)."""
    idle_close_s: float = 60.0
    """Wall-clock seconds without events after which open time windows are closed on the clock."""

    def __post_init__(self) -> None:
        # The stage runs in worker threads (numpy work off the event loop), one call at a time.
        self._lock = threading.Lock()
        self._numbered: set[tuple[str, int]] = set()
        self._failing: set[tuple[str, int]] = set()
        self._last_event = time.monotonic()
        self._queue: asyncio.Queue[ParsedBatch] = asyncio.Queue(maxsize=self.backlog)
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take back the rule state, then start the worker."""
        state = await asyncio.to_thread(drift_store.load_rule_state, self.engine)
        with self._lock:
            self.stage.evaluator.restore(state)
        self._worker = asyncio.create_task(self._work(), name="drift")

    async def __call__(self, batch: ParsedBatch) -> None:
        """The forwarder's sink: queue a stored batch for drift (waits only when drift is far behind)."""
        if self._worker is None:
            raise RuntimeError("DriftWatch.start() must be awaited before batches are given to it")
        await self._queue.put(batch)

    async def stop(self) -> None:
        """Finish the batches already queued, then stop the worker (before the outbox closes)."""
        if self._worker is None:
            return
        await self._queue.join()
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._worker = None

    async def _work(self) -> None:
        while True:
            batch = await self._queue.get()
            try:
                firings = await asyncio.to_thread(self._process, batch)
            except Exception:  # drift must never stop storage: log, count, go on
                self._failed("batch", "drift on a stored batch failed")
                firings = []
            finally:
                self._queue.task_done()
            self._send(firings)

    def _send(self, firings: list[Firing]) -> None:
        if self.outbox is None:
            return
        for firing in firings:
            if firing.action == "retrain":
                self.outbox.submit(firing)

    def _process(self, batch: ParsedBatch) -> list[Firing]:
        out = StageOutput()
        with self._lock:
            self._last_event = time.monotonic()
            for event in batch.events:
                data = event.data
                key = (data.model, getattr(data, "version", 0) or 0)
                try:
                    if isinstance(data, FeedbackData):
                        out.extend(self.stage.feedback(data.model, data.request_id, data.record_index, data.actual))
                    elif isinstance(data, PredictionData):
                        self._number(data.model, data.version)
                        out.extend(
                            self.stage.prediction(
                                data.model,
                                data.version,
                                data.request_id,
                                data.records,
                                data.predictions,
                                probabilities=data.probabilities,
                                times=data.record_times(event.time),
                            )
                        )
                except Exception:
                    self._failed("window", "drift of %s@%s failed on request %s", *key, data.request_id, once=key)
                    continue
                self._failing.discard(key)
            return self._record(out)

    def _number(self, model: str, version: int) -> None:
        if (model, version) not in self._numbered:
            # A restarted forwarder continues the window numbering instead of restarting at 0.
            self.stage.monitor.continue_from(model, version, drift_store.next_window_index(self.engine, model, version))
            self._numbered.add((model, version))

    def _record(self, out: StageOutput) -> list[Firing]:
        """Persist the windows and firings (each with the rule state after it); the ones stored."""
        stored: list[Firing] = []
        state = self.stage.evaluator.snapshot()
        for report in out.reports:
            firings = out.window_firings.get((report.model, report.version, report.index), [])
            try:
                prometheus.observe_window(report)
                drift_store.write_window(self.engine, report, firings, state)
            except Exception:
                self._failed("rules", "recording window %d of %s@%s failed", report.index, report.model, report.version)
                continue
            self.stats.windows += 1
            stored += firings
        for alarm in out.alarms:
            self.stats.alarms += 1
            logger.info(
                "concept-drift detector of %s@%s: loss %.3f -> %.3f (%s test) since labelled record %d",
                alarm.model, alarm.version, alarm.before, alarm.after, alarm.kind, alarm.since,
            )  # fmt: skip
        if out.alarm_firings:
            try:
                drift_store.write_firings(self.engine, out.alarm_firings, state)
                stored += out.alarm_firings
            except Exception:
                self._failed("rules", "recording %d alarm firings failed", len(out.alarm_firings))
        for firing in stored:
            self.stats.firings += 1
            prometheus.observe_firing(firing)
            logger.warning(
                "rule %s fired for %s@%s (%s): %s",
                firing.rule, firing.model, firing.version, firing.action,
                [f"{e.column}={e.value:.4g}" for e in firing.evidence],
            )  # fmt: skip
        return stored

    def _failed(self, stage: str, message: str, *args: object, once: tuple[str, int] | None = None) -> None:
        self.stats.errors += 1
        metrics.DRIFT_ERRORS.labels(stage=stage).inc()
        if once is not None and once in self._failing:
            return  # one log line per failing model version, not one per event
        if once is not None:
            self._failing.add(once)
        logger.exception(message, *args)

    async def tick(self) -> None:
        """Arm again the rules whose retrain is over; close time windows of a quiet stream."""
        try:
            firings = await asyncio.to_thread(self._tick)
        except Exception:
            self._failed("timer", "the drift timer failed")
            return
        self._send(firings)

    def _tick(self) -> list[Firing]:
        with self._lock:
            waiting = {row["model"] for row in self.stage.evaluator.snapshot() if row["awaiting_retrain"]}
            outcomes = {m: drift_store.retrain_outcome_since_last_firing(self.engine, m) for m in waiting}
            released = [m for m, outcome in outcomes.items() if outcome is not None]
            for model in released:
                logger.info("the retrain asked for %s is over (%s): its rules are armed again", model, outcomes[model])
                self.stage.retrain_finished(model, promoted=outcomes[model] == "promoted")
            if released:
                drift_store.save_rule_state(self.engine, self.stage.evaluator.snapshot())
            if time.monotonic() - self._last_event < self.idle_close_s:
                return []
            return self._record(self.stage.flush(time.time()))

    async def run_timer(self, interval_s: float, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval_s)
            if not stopping.is_set():
                await self.tick()
