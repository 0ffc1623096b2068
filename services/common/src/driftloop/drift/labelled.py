"""The labelled stream: each prediction paired with its feedback as soon as both have been seen.

Windows count the labels that arrived before they closed (window.py); the concept-drift detector
needs every label, whenever it arrives, with the prediction it belongs to. ``LabelledStream``
remembers the newest predictions per model (``memory`` requests) and the labels that came first,
pairs them, and turns each pair into the detector's per-record loss (drift/change.py), with the
chance of that loss the model's calibrated confidence gave when it answered. The first label of a
record wins: feedback sent twice is not evidence twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftloop.drift.reference import ReferenceProfile

ReferenceLookup = Callable[[str, int], ReferenceProfile]


@dataclass(frozen=True)
class LabelledRecord:
    model: str
    version: int
    loss: float
    time: float
    """The prediction's event time."""
    expected: float | None = None
    """The chance of a loss the model's calibrated confidence gave (None: no calibration)."""


@dataclass
class _Prediction:
    version: int
    predicted: list[Any]
    times: np.ndarray
    expected: np.ndarray | None
    labelled: set[int] = field(default_factory=set)


def record_loss(reference: ReferenceProfile, predicted: Any, actual: Any) -> float | None:
    """The detector's loss of one record (None when the label cannot be judged)."""
    if actual is None:
        return None
    if not reference.task.is_classification:
        threshold = reference.errors.loss_threshold
        try:
            error = abs(float(predicted) - float(actual))
        except (TypeError, ValueError):
            return None
        if threshold is None or not np.isfinite(error):
            return None
        return 1.0 if error > threshold else 0.0
    return 0.0 if _class_text(predicted) == _class_text(actual) else 1.0


def expected_loss(
    reference: ReferenceProfile, probabilities: Sequence[Sequence[float]] | np.ndarray | None, records: int
) -> np.ndarray | None:
    """Per record, one minus the calibrated top probability: how likely the model said it was
    wrong. None without a calibration to trust (the raw probabilities of an uncalibrated model
    would make its overconfidence look like a change)."""
    errors = reference.errors
    if probabilities is None or errors.confidence is None or not reference.task.is_classification:
        return None
    try:
        top = np.asarray(probabilities, dtype=np.float64).reshape(records, -1).max(axis=1)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(top).all():
        return None
    return 1.0 - errors.expected_accuracy(top)


def _class_text(value: Any) -> str:
    # A label sent as 1.0, 1 or "1" is the same class (window.py's categories do the same).
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class LabelledStream:
    def __init__(self, references: ReferenceLookup, *, memory: int = 100_000) -> None:
        self.references = references
        self.memory = memory
        """Requests remembered per model, predictions and early labels each (oldest forgotten first)."""
        self._predictions: dict[str, OrderedDict[str, _Prediction]] = {}
        self._early: dict[str, OrderedDict[str, dict[int | None, Any]]] = {}
        self.labelled: dict[str, int] = {}
        """Per model, labelled records paired so far (the clock of cooldowns in labels)."""

    def prediction(
        self,
        model: str,
        version: int,
        request_id: str,
        predicted: Sequence[Any],
        times: np.ndarray,
        probabilities: Sequence[Sequence[float]] | np.ndarray | None = None,
    ) -> list[LabelledRecord]:
        known = self._predictions.setdefault(model, OrderedDict())
        expected = expected_loss(self.references(model, version), probabilities, len(predicted))
        entry = _Prediction(version, list(predicted), times, expected)
        known[request_id] = entry
        _bound(known, self.memory)
        waiting = self._early.get(model)
        early = waiting.pop(request_id, None) if waiting is not None else None
        if not early:
            return []
        out: list[LabelledRecord] = []
        for index, actual in early.items():
            out += self._pair(model, entry, index, actual)
        return out

    def feedback(self, model: str, request_id: str, record_index: int | None, actual: Any) -> list[LabelledRecord]:
        known = self._predictions.get(model)
        entry = known.get(request_id) if known is not None else None
        if entry is None:
            early = self._early.setdefault(model, OrderedDict())
            early.setdefault(request_id, {}).setdefault(record_index, actual)
            early.move_to_end(request_id)
            _bound(early, self.memory)
            return []
        return self._pair(model, entry, record_index, actual)

    def _pair(self, model: str, entry: _Prediction, index: int | None, actual: Any) -> list[LabelledRecord]:
        indices = range(len(entry.predicted)) if index is None else [index]
        reference = self.references(model, entry.version)
        out = []
        for i in indices:
            if not 0 <= i < len(entry.predicted) or i in entry.labelled:
                continue
            loss = record_loss(reference, entry.predicted[i], actual)
            if loss is None:
                continue
            entry.labelled.add(i)
            expected = None if entry.expected is None else float(entry.expected[i])
            out.append(LabelledRecord(model, entry.version, loss, float(entry.times[i]), expected))
        self.labelled[model] = self.labelled.get(model, 0) + len(out)
        return out


def _bound(known: OrderedDict[str, Any], capacity: int) -> None:
    while len(known) > capacity:
        known.popitem(last=False)
