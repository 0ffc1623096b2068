"""Rules against closed windows and detector alarms: consecutive breaches, cooldown, the firings.

State is per (rule, model), not per version: a retrain makes a new version, and the rule that asked
for it must stay quiet across the switch. A fired rule is quiet until its cooldown has passed
*and*, for a ``retrain`` rule, ``retrain_finished(model)`` has been called (the forwarder calls it
when the controller reports the job done, rejected or failed, or when the webhook delivery gave
up), so that one drift fires one retrain, not one per window while the retrain runs.

Cooldowns count evidence, not the wall clock: event time (the windows' ends, the alarms' records)
or labelled records of the model since the firing. A rejected challenger therefore never silences
a later trigger for longer than it takes new labels to arrive, and replaying a stream, at any
speed, gives the same firings.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from driftloop.drift.change import ChangeAlarm
from driftloop.drift.compute import ColumnReport, WindowReport
from driftloop.drift.rules import ColumnShare, Rule, RulesFile

MAX_BACKOFF_DOUBLINGS = 5

Status = Literal["breach", "ok", "not_enough_data", "suppressed", "fired"]


@dataclass(frozen=True)
class Evidence:
    column: str
    statistic: str
    value: float
    threshold: float


@dataclass(frozen=True)
class Firing:
    """One rule firing: plain data for the webhook body and for the store."""

    id: str
    """Stable per firing (rule, model, version, window): the webhook's idempotency key."""
    rule: str
    action: str
    statistic: str
    threshold: float
    consecutive: int
    model: str
    version: int
    window: dict[str, Any]
    evidence: list[Evidence]
    fired_at: float
    summary: dict[str, Any] = field(default_factory=dict)
    """The window's verdicts (every column, predictions, performance) for the reader."""
    change_point: dict[str, Any] | None = None
    """Concept drift: where the change began (``time``, RFC 3339) and the ``labelled`` records since."""

    def body(self) -> dict[str, Any]:
        """The retrain webhook's JSON body."""
        return {
            "firing_id": self.id,
            "model": self.model,
            "version": self.version,
            "rule": {
                "name": self.rule,
                "statistic": self.statistic,
                "threshold": self.threshold,
                "consecutive": self.consecutive,
                "action": self.action,
            },
            "window": self.window,
            "evidence": [asdict(item) for item in self.evidence],
            "summary": self.summary,
            "fired_at": _iso(self.fired_at),
            "trigger": f"drift:{self.rule}",
            "change_point": self.change_point,
        }


@dataclass
class _State:
    consecutive: int = 0
    streaks: dict[str, int] = field(default_factory=dict)
    """Per column, breaching windows in a row (rules on ``any`` or on named columns)."""
    fired_at: float | None = None
    fired_labelled: int = 0
    """The model's labelled-record count when the rule last fired (cooldowns in labels)."""
    awaiting_retrain: bool = False


@dataclass(frozen=True)
class RuleOutcome:
    rule: str
    model: str
    status: Status
    consecutive: int
    evidence: list[Evidence]


class RuleEvaluator:
    def __init__(self, rules: RulesFile) -> None:
        self.rules = rules
        self._states: dict[tuple[str, str], _State] = {}
        self._checked: set[tuple[str, int]] = set()
        self._rejections: dict[str, int] = {}
        """Per model, retrains in a row that promoted nothing: each doubles the cooldowns (backoff)."""
        self.last_outcomes: list[RuleOutcome] = []
        """Each rule's outcome on the last window evaluated (for logs and gauges)."""

    def evaluate(self, report: WindowReport, *, labelled: int = 0, coverage: float | None = None) -> list[Firing]:
        """Judge a closed window. ``labelled``: the model's labelled records so far (the clock of
        cooldowns in labels); ``coverage``: the share of labels that arrived during the window,
        whatever records they belong to (rules' ``when``; the window's own coverage when None)."""
        key = (report.model, report.version)
        if key not in self._checked:
            self.rules.check_columns(report.model, report.known_columns)
            self._checked.add(key)
        firings: list[Firing] = []
        self.last_outcomes = []
        for rule in self.rules.rules:
            if not rule.watches(report.model):
                continue
            if rule.info.scope == "labelled":
                continue  # fired by alarm()
            state = self._states.setdefault((rule.name, report.model), _State())
            if not self._applies(rule, report, coverage):
                self.last_outcomes.append(RuleOutcome(rule.name, report.model, "not_enough_data", 0, []))
                continue
            status, evidence = self._condition(rule, report, state)
            if status == "ok":
                state.consecutive = 0
            elif status == "breach":
                state.consecutive = max(state.streaks.values()) if state.streaks else state.consecutive + 1
                if state.consecutive >= rule.consecutive:
                    if self._quiet(rule, state, report.model, report.end, labelled):
                        status = "suppressed"
                    else:
                        status = "fired"
                        firings.append(self._fire(rule, state, report, evidence, labelled))
            self.last_outcomes.append(RuleOutcome(rule.name, report.model, status, state.consecutive, evidence))
        return firings

    def alarm(self, alarm: ChangeAlarm, *, labelled: int, window_index: int) -> list[Firing]:
        """A concept-drift alarm of the detector on the labelled stream (drift/change.py)."""
        firings = []
        for rule in self.rules.rules:
            if rule.info.scope != "labelled" or not rule.watches(alarm.model):
                continue
            assert rule.threshold is not None
            rise = alarm.unexplained_rise
            if rise <= rule.threshold:
                continue
            state = self._states.setdefault((rule.name, alarm.model), _State())
            evidence = [Evidence("loss", rule.statistic, rise, rule.threshold)]
            if self._quiet(rule, state, alarm.model, alarm.at_time, labelled):
                self.last_outcomes.append(RuleOutcome(rule.name, alarm.model, "suppressed", 1, evidence))
                continue
            state.fired_at, state.fired_labelled = alarm.at_time, labelled
            state.awaiting_retrain = rule.action == "retrain"
            identity = f"{rule.name}|{alarm.model}|{alarm.version}|{alarm.kind}|{alarm.at}"
            summary = {
                "alarm": alarm.kind,
                "loss_before": alarm.before,
                "loss_after": alarm.after,
                "loss_rise_expected": alarm.expected_rise,
                "bound": alarm.bound,
                "labelled_records_after": alarm.records_after,
            }
            firings.append(
                _change_firing(
                    rule,
                    identity,
                    alarm.model,
                    alarm.version,
                    window_index,
                    since_time=alarm.since_time,
                    at_time=alarm.at_time,
                    labelled_since=alarm.records_after,
                    evidence=evidence,
                    summary=summary,
                )
            )
            self.last_outcomes.append(RuleOutcome(rule.name, alarm.model, "fired", 1, evidence))
        return firings

    def follow_up(
        self,
        model: str,
        version: int,
        *,
        since_time: float,
        since_labelled: int,
        at_time: float,
        labelled: int,
        window_index: int,
    ) -> list[Firing]:
        """A retrain after a promoted one that followed a change: the records since the change have
        doubled, so a model trained on them now knows the new concept better (drift/stage.py). It is
        an attempt like any other: the rule's cooldown in labels counts from it."""
        firings = []
        for rule in self.rules.rules:
            if rule.info.scope != "labelled" or rule.action != "retrain" or not rule.watches(model):
                continue
            state = self._states.setdefault((rule.name, model), _State())
            if state.awaiting_retrain:
                continue
            assert rule.threshold is not None
            state.fired_at, state.fired_labelled, state.awaiting_retrain = at_time, labelled, True
            identity = f"{rule.name}|{model}|{version}|follow_up|{since_time!r}|{since_labelled}"
            evidence = [Evidence("labelled_since_change", "follow_up", float(since_labelled), 0.0)]
            summary = {"alarm": "follow_up", "labelled_records_after": since_labelled}
            firings.append(
                _change_firing(
                    rule,
                    identity,
                    model,
                    version,
                    window_index,
                    since_time=since_time,
                    at_time=at_time,
                    labelled_since=since_labelled,
                    evidence=evidence,
                    summary=summary,
                )
            )
        return firings

    def retrain_finished(self, model: str, *, promoted: bool) -> None:
        """A retrain of ``model`` is over (or will not happen): its rules may fire again after their
        cooldown. One that promoted nothing doubles the cooldowns until one does: each new attempt
        on the same evidence asks for twice the new evidence first."""
        self._rejections[model] = 0 if promoted else self._rejections.get(model, 0) + 1
        for (_, state_model), state in self._states.items():
            if state_model == model:
                state.awaiting_retrain = False
                state.consecutive = 0
                state.streaks.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """The hysteresis state as plain rows, for the store to keep across forwarder restarts."""
        return [
            {"rule": rule, "model": model, "fired_at": state.fired_at, "awaiting_retrain": state.awaiting_retrain}
            for (rule, model), state in self._states.items()
            if state.fired_at is not None
        ]

    def restore(self, rows: list[dict[str, Any]]) -> None:
        """Take back a ``snapshot()``: a restarted forwarder stays quiet where it was quiet.

        The labelled-record count starts again at 0 in a new process, and so does the count since
        each firing: a restarted forwarder waits a whole cooldown in labels, never less."""
        for row in rows:
            state = self._states.setdefault((str(row["rule"]), str(row["model"])), _State())
            state.fired_at = float(row["fired_at"]) if row.get("fired_at") is not None else None
            state.awaiting_retrain = bool(row.get("awaiting_retrain", False))

    def _applies(self, rule: Rule, report: WindowReport, coverage: float | None) -> bool:
        if rule.when == "always":
            return True
        if coverage is None:
            coverage = report.performance.coverage if report.performance else 0.0
        labelled = coverage >= self.rules.detection.min_coverage
        return labelled if rule.when == "labelled" else not labelled

    def _quiet(self, rule: Rule, state: _State, model: str, now: float, labelled: int) -> bool:
        if state.awaiting_retrain:
            return True
        if state.fired_at is None:
            return False
        factor = 1 << min(self._rejections.get(model, 0), MAX_BACKOFF_DOUBLINGS)
        cooldown = rule.cooldown
        return (
            now < state.fired_at + factor * cooldown.seconds
            or labelled < state.fired_labelled + factor * cooldown.labels
        )

    def _fire(self, rule: Rule, state: _State, report: WindowReport, evidence: list[Evidence], labelled: int) -> Firing:
        consecutive = state.consecutive
        state.fired_at, state.fired_labelled = report.end, labelled
        state.awaiting_retrain = rule.action == "retrain"
        state.consecutive = 0
        state.streaks.clear()
        identity = f"{rule.name}|{report.model}|{report.version}|{report.index}|{report.start!r}"
        assert rule.threshold is not None
        return Firing(
            id=hashlib.sha256(identity.encode()).hexdigest()[:32],
            rule=rule.name,
            action=rule.action,
            statistic=rule.statistic,
            threshold=rule.threshold,
            consecutive=consecutive,
            model=report.model,
            version=report.version,
            window={
                "index": report.index,
                "start": _iso(report.start),
                "end": _iso(report.end),
                "rows": report.rows,
            },
            evidence=evidence,
            fired_at=report.end,
            summary=summarise(report),
        )

    def _condition(self, rule: Rule, report: WindowReport, state: _State) -> tuple[Status, list[Evidence]]:
        info = rule.info
        threshold = rule.threshold
        assert threshold is not None
        if info.scope == "column":
            return self._columns(rule, report, state)
        if info.scope == "window":
            value = report.drift_share
            return _judge(rule, "", value, threshold, enough=not math.isnan(value))
        if info.scope == "predictions":
            if report.predictions is None:
                return "not_enough_data", []
            value = _column_value(rule, report.predictions)
            enough = report.predictions.n >= (rule.min_samples or self.rules.detection.min_samples)
            return _judge(rule, report.predictions.column, value, threshold, enough=enough and not math.isnan(value))
        if info.scope == "estimated":
            estimated = report.estimated
            if estimated is None:
                return "not_enough_data", []
            enough = estimated.rows >= (rule.min_samples or self.rules.detection.min_samples)
            return _judge(rule, "accuracy", estimated.drop, threshold, enough=enough and not math.isnan(estimated.drop))
        perf = report.performance
        if perf is None:
            return "not_enough_data", []
        metric = perf.primary_metric if rule.statistic == "performance_drop" else rule.statistic.rsplit("_", 1)[0]
        value = perf.degradation.get(metric, float("nan"))
        enough = perf.labelled >= (rule.min_samples or self.rules.detection.min_labelled)
        return _judge(rule, f"{metric}", value, threshold, enough=enough and not math.isnan(value))

    def _columns(self, rule: Rule, report: WindowReport, state: _State) -> tuple[Status, list[Evidence]]:
        """``any`` and named columns count breaches per column: a drift persists in the same column,
        while chance breaches of different columns in successive windows are noise. ``all`` and
        shares count breaching windows."""
        threshold = rule.threshold
        assert threshold is not None
        minimum = rule.min_samples or self.rules.detection.min_samples
        names = rule.columns if isinstance(rule.columns, list) else list(report.columns)
        candidates = [
            report.columns[name]
            for name in names
            if name in report.columns and report.columns[name].kind in rule.info.kinds
        ]
        judged = [c for c in candidates if c.n >= minimum and not math.isnan(_column_value(rule, c))]
        if not judged:
            return "not_enough_data", []
        if rule.info.is_pvalue and self.rules.detection.bonferroni:
            threshold = threshold / len(candidates)
        breaching = [
            Evidence(c.column, rule.statistic, value, threshold)
            for c in judged
            if _beyond(rule, value := _column_value(rule, c), threshold)
        ]
        if isinstance(rule.columns, ColumnShare):
            needed = max(1, math.ceil(rule.columns.share * len(judged)))
        elif rule.columns == "all":
            needed = len(judged)
        else:
            breached = {item.column for item in breaching}
            for c in judged:
                state.streaks[c.column] = state.streaks.get(c.column, 0) + 1 if c.column in breached else 0
            return ("breach" if breaching else "ok"), breaching
        return ("breach" if len(breaching) >= needed else "ok"), breaching


def _change_firing(
    rule: Rule,
    identity: str,
    model: str,
    version: int,
    window_index: int,
    *,
    since_time: float,
    at_time: float,
    labelled_since: int,
    evidence: list[Evidence],
    summary: dict[str, Any],
) -> Firing:
    """A firing on the labelled stream: its "window" is the span from the change to now."""
    assert rule.threshold is not None
    return Firing(
        id=hashlib.sha256(identity.encode()).hexdigest()[:32],
        rule=rule.name,
        action=rule.action,
        statistic=rule.statistic,
        threshold=rule.threshold,
        consecutive=1,
        model=model,
        version=version,
        window={"index": window_index, "start": _iso(since_time), "end": _iso(at_time), "rows": labelled_since},
        evidence=evidence,
        fired_at=at_time,
        summary=summary,
        change_point={"time": _iso(since_time), "labelled": labelled_since},
    )


def _column_value(rule: Rule, column: ColumnReport) -> float:
    if rule.statistic in ("drift", "prediction_drift"):
        return float("nan") if column.verdict.drifted is None else float(column.verdict.drifted)
    name = rule.statistic.removeprefix("prediction_")
    return column.statistics.get(name, float("nan"))


def _beyond(rule: Rule, value: float, threshold: float) -> bool:
    return value < threshold if rule.info.is_pvalue else value > threshold


def _judge(rule: Rule, column: str, value: float, threshold: float, *, enough: bool) -> tuple[Status, list[Evidence]]:
    if not enough:
        return "not_enough_data", []
    if _beyond(rule, value, threshold):
        return "breach", [Evidence(column, rule.statistic, value, threshold)]
    return "ok", []


def summarise(report: WindowReport) -> dict[str, Any]:
    """The window's verdicts and key figures, small enough for a webhook body and a log line."""

    def column(c: ColumnReport) -> dict[str, Any]:
        v = c.verdict
        return {"n": c.n, "method": v.method, "score": v.score, "threshold": v.threshold, "drifted": v.drifted}

    summary: dict[str, Any] = {
        "columns": {name: column(c) for name, c in report.columns.items()},
        "drift_share": report.drift_share,
    }
    if report.predictions:
        summary["predictions"] = column(report.predictions)
    if report.performance:
        perf = report.performance
        summary["performance"] = {
            "labelled": perf.labelled,
            "label_coverage": perf.coverage,
            "metrics": perf.metrics,
            "holdout": perf.holdout,
            "degradation": perf.degradation,
        }
    if report.estimated:
        estimated = report.estimated
        summary["estimated"] = {"rows": estimated.rows, "accuracy": estimated.accuracy, "drop": estimated.drop}
    return summary


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
