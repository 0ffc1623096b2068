"""The drift stage: events in, windows, alarms and firings out. Pure: no threads, no I/O, no clock.

The forwarder (drift_watch.py) feeds it the stored events and persists and sends what comes out;
``driftloop backtest`` feeds it a history and acts on the firings itself. Both run this code, so
a policy tried on a history behaves the same in production.

Per model: tumbling windows per version (window.py) for the drift statistics and the per-window
rules; the labelled stream (labelled.py) pairing predictions with their feedback; one concept-drift
detector per version (change.py) on the pairs' losses.

After a change, the first challenger is trained on the few hundred records seen since it. When one
is promoted, the stage schedules **follow-ups**: each time the labelled records since the change
point have doubled, the concept-drift rule fires again with the same change point, until a retrain
has had as many records as the champion before the change was trained on. A model trained on the
new concept then grows with it instead of staying what a few hundred labels could teach. A
follow-up whose challenger is rejected does not end the schedule: the next one comes when the
records have doubled again (an early follow-up is judged on few labels, and a rejection says
little).

Only the serving version's alarms reach the rules (the version of the newest prediction), and a
version's repeated alarms keep the earliest change point found, so that a follow-up retrain after
a rejected challenger trains on everything since the change.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from driftloop.drift.change import ChangeAlarm, ChangeDetector
from driftloop.drift.compute import WindowReport
from driftloop.drift.evaluator import Firing, RuleEvaluator
from driftloop.drift.labelled import LabelledRecord, LabelledStream
from driftloop.drift.reference import ReferenceProfile
from driftloop.drift.rules import RulesFile
from driftloop.drift.window import DriftMonitor, Records
from driftloop.policy import Policy

ReferenceLookup = Callable[[str, int], ReferenceProfile]
LABEL_TIMES_KEPT = 500_000
"""Labelled records' times kept per model to count those since a change point (4 MB of floats)."""


@dataclass
class StageOutput:
    reports: list[WindowReport] = field(default_factory=list)
    window_firings: dict[tuple[str, int, int], list[Firing]] = field(default_factory=dict)
    """Firings of each closed window, by (model, version, window index)."""
    alarms: list[ChangeAlarm] = field(default_factory=list)
    alarm_firings: list[Firing] = field(default_factory=list)

    @property
    def firings(self) -> list[Firing]:
        return [f for group in self.window_firings.values() for f in group] + self.alarm_firings

    def extend(self, other: StageOutput) -> None:
        self.reports += other.reports
        self.window_firings.update(other.window_firings)
        self.alarms += other.alarms
        self.alarm_firings += other.alarm_firings


@dataclass
class _Change:
    """A change point a retrain was asked for, and the labelled records since it at that moment."""

    since: float
    labelled: int
    target: int
    """Stop following up once a retrain has had this many records (the old champion's training rows)."""
    follow_up: bool = False


class DriftStage:
    def __init__(self, policy: RulesFile, references: ReferenceLookup, *, label_memory: int = 100_000) -> None:
        self.policy = policy
        self.references = references
        self.monitor = DriftMonitor(policy.window, policy.detection, references)
        self.evaluator = RuleEvaluator(policy)
        self.labels = LabelledStream(references, memory=label_memory)
        self._detectors: dict[tuple[str, int], ChangeDetector] = {}
        self._serving: dict[str, int] = {}
        self._change_since: dict[tuple[str, int], float] = {}
        self._labels_at_close: dict[str, int] = {}
        self._label_times: dict[str, list[float]] = {}
        self._asked: dict[str, _Change] = {}
        """Per model, the change point of the retrain asked for last."""
        self._following: dict[str, _Change] = {}
        """Per model, the change a promoted retrain followed: the follow-up schedule."""
        self._replaced: dict[str, int] = {}
        """Per model, the version a promotion replaced, until the new one's first prediction: its
        alarms (the change it failed on is still in view) must not ask for another retrain."""
        self._rows_since_close: dict[str, int] = {}
        self._floor = policy.retrain.dataset.min_rows if isinstance(policy, Policy) else 0
        """The change-following training set's floor (``retrain.dataset.min_rows``)."""

    def prediction(
        self,
        model: str,
        version: int,
        request_id: str,
        records: Records,
        predictions: Sequence[Any],
        *,
        times: float | np.ndarray,
        probabilities: Sequence[Sequence[float]] | np.ndarray | None = None,
    ) -> StageOutput:
        """One prediction event; ``times``: its records' event times (one for all, or one each).

        A version the registry does not have raises before anything is remembered of the event."""
        self.references(model, version)
        self._serving[model] = version
        if self._replaced.get(model, version) != version:
            del self._replaced[model]  # the promoted version serves
        per_record = np.broadcast_to(np.asarray(times, dtype=np.float64), (len(predictions),))
        out = StageOutput()
        self._labelled(self.labels.prediction(model, version, request_id, predictions, per_record, probabilities), out)
        self._rows_since_close[model] = self._rows_since_close.get(model, 0) + len(predictions)
        reports = self.monitor.add(
            model,
            version,
            records,
            predictions,
            probabilities=probabilities,
            time=times if np.ndim(times) else float(times),
            request_id=request_id,
        )
        for report in reports:
            self._window(report, out)
        return out

    def feedback(self, model: str, request_id: str, record_index: int | None, actual: Any) -> StageOutput:
        self.monitor.label(model, request_id, actual, record_index)
        out = StageOutput()
        self._labelled(self.labels.feedback(model, request_id, record_index, actual), out)
        return out

    def flush(self, now: float) -> StageOutput:
        """Close the time windows whose end ``now`` (event time, or the clock) has passed."""
        out = StageOutput()
        for report in self.monitor.flush(now):
            self._window(report, out)
        return out

    def retrain_finished(self, model: str, *, promoted: bool) -> None:
        """A retrain asked for ``model`` is over: its rules are armed again (with a backoff when it
        promoted nothing), and a promoted retrain that followed a change is followed up."""
        self.evaluator.retrain_finished(model, promoted=promoted)
        asked = self._asked.get(model)
        if not promoted and asked is not None and asked.follow_up and asked.labelled < asked.target:
            self._following[model] = asked  # a rejected follow-up: the next one when the records double again
        if promoted:
            if model in self._serving:
                self._replaced[model] = self._serving[model]
            self._following.pop(model, None)
            if asked is not None and asked.labelled < asked.target:
                self._following[model] = asked

    def labelled_since(self, model: str, since: float) -> int:
        """Labelled records of ``model`` whose prediction happened at or after ``since``."""
        times = self._label_times.get(model, [])
        return len(times) - bisect.bisect_left(times, since)

    def labelled(self, model: str) -> int:
        return self.labels.labelled.get(model, 0)

    def _labelled(self, records: list[LabelledRecord], out: StageOutput) -> None:
        if not self.policy.change.enabled:
            return
        for record in records:
            times = self._label_times.setdefault(record.model, [])
            bisect.insort(times, record.time)
            if len(times) > 2 * LABEL_TIMES_KEPT:
                del times[: len(times) - LABEL_TIMES_KEPT]
            key = (record.model, record.version)
            detector = self._detectors.get(key)
            if detector is None:
                errors = self.references(*key).errors
                detector = ChangeDetector(self.policy.change, *key, errors.loss, errors.rows)
                self._detectors[key] = detector
            alarm = detector.add(record.loss, record.time, record.expected)
            if alarm is None:
                continue
            if alarm.first:
                out.alarms.append(alarm)
            if self._serving.get(record.model) != record.version or self._replaced.get(record.model) == record.version:
                continue  # a version no longer serving, or about to stop: nothing to retrain
            since = self._change_since[key] = min(self._change_since.get(key, alarm.since_time), alarm.since_time)
            if since < alarm.since_time:
                alarm = _from(alarm, since)
            firings = self.evaluator.alarm(
                alarm, labelled=self.labelled(record.model), window_index=self.monitor.open_index(*key)
            )
            out.alarm_firings += firings
            if firings:
                self._ask(record.model, record.version, alarm.since_time)
        for model in {record.model for record in records}:
            out.alarm_firings += self._follow_up(model, records[-1].time)

    def _ask(self, model: str, version: int, since: float) -> None:
        target = self.references(model, version).rows
        self._asked[model] = _Change(since, self.labelled_since(model, since), target)

    def _follow_up(self, model: str, now: float) -> list[Firing]:
        change = self._following.get(model)
        version = self._serving.get(model)
        if change is None or version is None or model in self._replaced:
            return []  # (a follow-up is about the promoted version: it waits until that one serves)
        seen = self.labelled_since(model, change.since)
        # Until the post-change records alone fill the training set's floor, a new set differs from
        # the last one only in trading a few older fill rows for newer ones: not worth a search.
        if seen < max(2 * change.labelled, self._floor):
            return []
        firings = self.evaluator.follow_up(
            model, version, since_time=change.since, since_labelled=seen, at_time=now,
            labelled=self.labelled(model), window_index=self.monitor.open_index(model, version),
        )  # fmt: skip
        if firings:
            del self._following[model]  # the next schedule comes with this retrain's promotion
            self._asked[model] = _Change(change.since, seen, change.target, follow_up=True)
        return firings

    def _window(self, report: WindowReport, out: StageOutput) -> None:
        model = report.model
        labelled = self.labelled(model)
        rows = self._rows_since_close.pop(model, 0) or report.rows
        arrived = labelled - self._labels_at_close.get(model, 0)
        self._labels_at_close[model] = labelled
        firings = self.evaluator.evaluate(report, labelled=labelled, coverage=arrived / max(rows, 1))
        out.reports.append(report)
        out.window_firings[(model, report.version, report.index)] = firings


def _from(alarm: ChangeAlarm, since_time: float) -> ChangeAlarm:
    """The alarm with the earlier change point of its version's first alarm."""
    return replace(alarm, since_time=since_time)
