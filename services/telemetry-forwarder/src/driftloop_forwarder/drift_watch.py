"""Drift on the stored stream: windows, rules, firings in SQL, retrain webhook (docs/drift.md).

``DriftWatch`` is a sink of the consume-and-store loop: it sees each batch only after the batch's
database commit and offset commit, queues it, and one worker task computes drift on the queued
batches in order (the numpy work in a thread), so storage does not wait for drift unless drift is
``backlog`` batches behind. It never raises into the loop: a failure here (a model version missing
from the registry, a rules file naming a column the model lacks) is logged and counted while
storage and offset commits go on.

Labels: feedback events arrive on the same bus, usually after their predictions. The monitor keeps
recent requests' labels in memory (``DriftMonitor.label``) and fills them in when a window closes,
so a window's performance counts the feedback that arrived before the window closed; later
feedback is in SQL (``labelled_predictions``) but not in that window's performance.

Hysteresis across processes: the rule state is written to ``rule_state`` with every firing and
read back at start; a timer reads ``retrain_jobs`` to learn that a retrain asked for has finished
(the controller writes it), and a delivery that was rejected or gave up releases the rule at once.
Firings whose delivery had no outcome when the process stopped are sent again at start, with the
same idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from driftloop.drift import prometheus
from driftloop.drift.compute import WindowReport
from driftloop.drift.evaluator import Firing, RuleEvaluator
from driftloop.drift.notify import DeliveryAttempt, DeliveryOutcome, WebhookSender
from driftloop.drift.reference import ReferenceCache, ReferenceProfile
from driftloop.drift.rules import RulesFile
from driftloop.drift.window import DriftMonitor, EventTimes
from driftloop.registry import Registry
from driftloop.store import drift as drift_store
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, PredictionData
from driftloop_forwarder import metrics

logger = logging.getLogger(__name__)


@dataclass
class DriftStats:
    windows: int = 0
    firings: int = 0
    errors: int = 0
    failed_attempts: int = 0
    """Webhook attempts that did not deliver (each is retried or ends in rejected / gave_up)."""


@dataclass
class DriftWatch:
    engine: Engine
    registry: Registry
    rules: RulesFile
    sender: WebhookSender | None = None
    """Where retrain firings go; None records them without sending (tests, dry runs)."""
    backlog: int = 8
    """Stored batches that may wait for drift before storage waits for drift (backpressure)."""
    stats: DriftStats = field(default_factory=DriftStats)

    def __post_init__(self) -> None:
        self.cache = ReferenceCache()
        self.monitor = DriftMonitor(self.rules.window, self.rules.detection, self._reference)
        self.evaluator = RuleEvaluator(self.rules)
        # Monitor and evaluator run in worker threads (numpy work off the event loop), one at a time.
        self._lock = threading.Lock()
        self._numbered: set[tuple[str, int]] = set()
        self._failing: set[tuple[str, int]] = set()
        self._background: set[asyncio.Task[None]] = set()
        # Storage hands batches over and goes on; one worker computes drift in order behind it.
        self._queue: asyncio.Queue[ParsedBatch] = asyncio.Queue(maxsize=self.backlog)
        self._worker: asyncio.Task[None] | None = None

    def _reference(self, model: str, version: int) -> ReferenceProfile:
        return self.cache.get(self.registry.resolve(model, version))

    async def start(self) -> None:
        """Take back the rule state and send again the retrain firings left undelivered."""
        state = await asyncio.to_thread(drift_store.load_rule_state, self.engine)
        with self._lock:
            self.evaluator.restore(state)
        for firing in await asyncio.to_thread(drift_store.undelivered_firings, self.engine):
            logger.info("sending again the undelivered retrain firing %s (%s)", firing.id, firing.rule)
            self._submit(firing)
        self._worker = asyncio.create_task(self._work(), name="drift")

    async def __call__(self, batch: ParsedBatch) -> None:
        """The forwarder's sink: queue a stored batch for drift (waits only when drift is far behind)."""
        if self._worker is None:
            raise RuntimeError("DriftWatch.start() must be awaited before batches are given to it")
        await self._queue.put(batch)

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
            for firing in firings:
                if firing.action == "retrain":
                    self._submit(firing)

    async def stop(self) -> None:
        """Finish the batches already queued, then stop the worker (before the sender stops)."""
        if self._worker is None:
            return
        await self._queue.join()
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._worker = None

    def _process(self, batch: ParsedBatch) -> list[Firing]:
        firings: list[Firing] = []
        with self._lock:
            for event in batch.events:
                data = event.data
                if isinstance(data, FeedbackData):
                    self.monitor.label(data.model, data.request_id, data.actual, data.record_index)
                elif isinstance(data, PredictionData):
                    for report in self._add(data, data.record_times(event.time)):
                        firings += self._close(report)
        return firings

    def _add(self, data: PredictionData, time: EventTimes) -> list[WindowReport]:
        key = (data.model, data.version)
        try:
            if key not in self._numbered:
                # A restarted forwarder continues the window numbering instead of restarting at 0.
                self.monitor.continue_from(*key, drift_store.next_window_index(self.engine, *key))
                self._numbered.add(key)
            reports = self.monitor.add(
                data.model,
                data.version,
                data.records,
                data.predictions,
                probabilities=data.probabilities,
                time=time,
                request_id=data.request_id,
            )
        except Exception:
            self._failed("window", "drift of %s@%s failed on request %s", *key, data.request_id, once=key)
            return []
        self._failing.discard(key)
        return reports

    def _close(self, report: WindowReport) -> list[Firing]:
        try:
            prometheus.observe_window(report)
            firings = self.evaluator.evaluate(report)
            drift_store.write_window(self.engine, report, firings, self.evaluator.snapshot())
        except Exception:
            self._failed("rules", "evaluating window %d of %s@%s failed", report.index, report.model, report.version)
            return []
        self.stats.windows += 1
        for firing in firings:
            self.stats.firings += 1
            prometheus.observe_firing(firing)
            logger.warning(
                "rule %s fired for %s@%s on window %d (%s): %s",
                firing.rule, firing.model, firing.version, report.index, firing.action,
                [f"{e.column}={e.value:.4g}" for e in firing.evidence],
            )  # fmt: skip
        return firings

    def _failed(self, stage: str, message: str, *args: object, once: tuple[str, int] | None = None) -> None:
        self.stats.errors += 1
        metrics.DRIFT_ERRORS.labels(stage=stage).inc()
        if once is not None and once in self._failing:
            return  # one log line per failing model version, not one per event
        if once is not None:
            self._failing.add(once)
        logger.exception(message, *args)

    def _submit(self, firing: Firing) -> None:
        if self.sender is not None:
            self.sender.submit(firing)

    def on_attempt(self, attempt: DeliveryAttempt) -> None:
        """WebhookSender's callback for each attempt."""
        if attempt.error is not None:
            self.stats.failed_attempts += 1
            metrics.WEBHOOK_FAILED_ATTEMPTS.inc()

    def on_outcome(self, outcome: DeliveryOutcome) -> None:
        """WebhookSender's callback (on the event loop): record it off the loop."""
        prometheus.observe_delivery(outcome)
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._delivered, outcome))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _delivered(self, outcome: DeliveryOutcome) -> None:
        try:
            drift_store.record_delivery(self.engine, outcome)
            if outcome.status != "delivered":
                # No retrain will come of this firing: let the rule fire again after its cooldown.
                model = drift_store.firing_model(self.engine, outcome.firing_id)
                if model is not None:
                    with self._lock:
                        self.evaluator.retrain_finished(model)
                        drift_store.save_rule_state(self.engine, self.evaluator.snapshot())
        except Exception:
            self._failed("delivery", "recording the delivery of firing %s failed", outcome.firing_id)

    async def tick(self) -> None:
        """Close due time windows and release rules whose retrain finished (called on a timer)."""
        try:
            await asyncio.to_thread(self._tick, asyncio.get_running_loop())
        except Exception:
            self._failed("timer", "the drift timer failed")

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            reports = self.monitor.flush()
            for report in reports:
                firings = self._close(report)
                for firing in firings:
                    if firing.action == "retrain" and self.sender is not None:
                        # submit() needs the loop; this runs in a worker thread.
                        loop.call_soon_threadsafe(self._submit, firing)
            waiting = {row["model"] for row in self.evaluator.snapshot() if row["awaiting_retrain"]}
            released = [m for m in waiting if drift_store.retrain_finished_since_last_firing(self.engine, m)]
            for model in released:
                logger.info("a retrain of %s finished: its rules are armed again", model)
                self.evaluator.retrain_finished(model)
            if released:
                drift_store.save_rule_state(self.engine, self.evaluator.snapshot())

    async def run_timer(self, interval_s: float, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), interval_s)
            except TimeoutError:
                await self.tick()

    async def drain(self) -> None:
        """Wait for the delivery outcomes still being written."""
        await asyncio.gather(*self._background, return_exceptions=True)
