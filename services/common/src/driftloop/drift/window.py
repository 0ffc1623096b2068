"""Tumbling windows per model and version, fed with batches of scored records.

A batch is what one prediction event carries: the records (a list of dicts, or a dict of column
arrays), the predictions (class labels or values), optionally the class probabilities and the
labels of the records whose feedback has arrived (None elsewhere). Batches are converted to column
arrays on arrival and concatenated once when the window closes, so that the statistics run on
whole arrays (``driftloop.drift.compute``).

Count windows close after ``size`` records (a batch that straddles the boundary is split); time
windows are aligned on multiples of ``duration`` and close when a later event arrives or when the
caller's clock passes their end (``DriftMonitor.flush``). A late event (older than the open window)
is counted in the open window: the window is about what the service saw, when it saw it.
"""

from __future__ import annotations

import math
import time as clock
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftloop.contract import MISSING_CATEGORY, Task
from driftloop.drift.compute import WindowData, WindowReport, compute_window
from driftloop.drift.config import DetectionConfig, WindowConfig
from driftloop.drift.reference import ReferenceProfile
from driftloop.errors import InvalidInputError

Records = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any] | np.ndarray]
ReferenceLookup = Callable[[str, int], ReferenceProfile]


@dataclass
class _Buffer:
    index: int
    opened: float
    """Where the window begins: the aligned start (time windows) or the first event's time (count)."""
    start: float
    end: float
    rows: int = 0
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)
    predictions: list[np.ndarray] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    requests: list[tuple[str, int, int, int]] = field(default_factory=list)
    """(request id, first record index in the request, first row in the window, rows): where late labels go."""

    def add(self, batch: WindowData, first: float, last: float) -> None:
        for name, values in batch.columns.items():
            self.columns.setdefault(name, []).append(values)
        self.predictions.append(batch.predictions)
        if batch.probabilities is not None:
            self.probabilities.append(batch.probabilities)
        self.labels.append(batch.labels if batch.labels is not None else np.full(batch.rows, np.nan))
        self.rows += batch.rows
        self.start, self.end = min(self.start, first), max(self.end, last)

    def data(self) -> WindowData:
        probabilities = np.concatenate(self.probabilities) if len(self.probabilities) == len(self.predictions) else None
        return WindowData(
            columns={name: np.concatenate(chunks) for name, chunks in self.columns.items()},
            predictions=np.concatenate(self.predictions),
            probabilities=probabilities,
            labels=np.concatenate(self.labels),
        )


def _slice(batch: WindowData, stop: int, *, after: bool = False) -> WindowData:
    part = slice(stop, None) if after else slice(0, stop)
    return WindowData(
        columns={name: values[part] for name, values in batch.columns.items()},
        predictions=batch.predictions[part],
        probabilities=batch.probabilities[part] if batch.probabilities is not None else None,
        labels=batch.labels[part] if batch.labels is not None else None,
    )


class DriftMonitor:
    """The open windows of every (model, version) and the reports of the windows they close."""

    def __init__(self, window: WindowConfig, detection: DetectionConfig, references: ReferenceLookup) -> None:
        self.window = window
        self.detection = detection
        self.references = references
        self._open: dict[tuple[str, int], _Buffer] = {}
        self._next_index: dict[tuple[str, int], int] = {}
        # Feedback by model and request id ({record index or None: label}), applied when a window
        # closes: labels that arrive before their window closes count; later ones do not.
        self._labels: dict[str, OrderedDict[str, dict[int | None, Any]]] = {}
        self.label_capacity = 200_000
        """Requests whose labels are kept per model (the oldest are forgotten first)."""

    def label(self, model: str, request_id: str, actual: Any, record_index: int | None = None) -> None:
        """Feedback for a request (``record_index`` None: every record of it), before or after its
        prediction; it counts in the request's window if that window has not closed yet."""
        known = self._labels.setdefault(model, OrderedDict())
        known.setdefault(request_id, {})[record_index] = actual
        known.move_to_end(request_id)
        while len(known) > self.label_capacity:
            known.popitem(last=False)

    def open_index(self, model: str, version: int) -> int:
        """The number of (model, version)'s open window, or of its next one when none is open."""
        buffer = self._open.get((model, version))
        return buffer.index if buffer is not None else self._next_index.get((model, version), 0)

    def continue_from(self, model: str, version: int, index: int) -> None:
        """Number the next window of (model, version) ``index`` (a restarted process continues its sequence)."""
        if (model, version) not in self._open:
            self._next_index[(model, version)] = max(index, self._next_index.get((model, version), 0))

    def add(
        self,
        model: str,
        version: int,
        records: Records,
        predictions: Sequence[Any] | np.ndarray,
        *,
        probabilities: Sequence[Sequence[float]] | np.ndarray | None = None,
        labels: Sequence[Any] | np.ndarray | None = None,
        time: float | None = None,
        request_id: str | None = None,
    ) -> list[WindowReport]:
        """Add one batch (``time``: the event's Unix time, now if absent); return the windows it closed.

        With ``request_id``, feedback given to :meth:`label` for that request before the window
        closes fills in the labels of its records."""
        reference = self.references(model, version)
        batch = to_window_data(reference, records, predictions, probabilities=probabilities, labels=labels)
        now = clock.time() if time is None else float(time)
        key = (model, version)
        closed: list[WindowReport] = []
        if self.window.by == "time":
            buffer = self._open.get(key)
            if buffer is not None and now >= self._time_end(buffer):
                closed.append(self._close(key, reference))
            buffer = self._buffer(key, now)
            if request_id is not None:
                buffer.requests.append((request_id, 0, buffer.rows, batch.rows))
            buffer.add(batch, now, now)
            return closed
        consumed = 0
        while batch.rows:
            buffer = self._buffer(key, now)
            room = self.window.size - buffer.rows
            part = _slice(batch, room)
            if request_id is not None:
                buffer.requests.append((request_id, consumed, buffer.rows, part.rows))
            buffer.add(part, now, now)
            consumed += part.rows
            batch = _slice(batch, room, after=True)
            if buffer.rows >= self.window.size:
                closed.append(self._close(key, reference))
        return closed

    def flush(self, now: float | None = None) -> list[WindowReport]:
        """Close the time windows whose end has passed (the forwarder calls this on a timer)."""
        now = clock.time() if now is None else now
        due = [key for key, buffer in self._open.items() if self.window.by == "time" and now >= self._time_end(buffer)]
        return [self._close(key, self.references(*key)) for key in due]

    def close_all(self) -> list[WindowReport]:
        """Close every open window, full or not (shutdown, or a version that stopped serving)."""
        return [self._close(key, self.references(*key)) for key in list(self._open)]

    def _time_end(self, buffer: _Buffer) -> float:
        return buffer.opened + self.window.duration

    def _buffer(self, key: tuple[str, int], now: float) -> _Buffer:
        buffer = self._open.get(key)
        if buffer is None:
            index = self._next_index.get(key, 0)
            self._next_index[key] = index + 1
            start = math.floor(now / self.window.duration) * self.window.duration if self.window.by == "time" else now
            buffer = _Buffer(index=index, opened=start, start=start, end=start)
            self._open[key] = buffer
        return buffer

    def _close(self, key: tuple[str, int], reference: ReferenceProfile) -> WindowReport:
        buffer = self._open.pop(key)
        end = self._time_end(buffer) if self.window.by == "time" else buffer.end
        data = buffer.data()
        self._apply_labels(key[0], buffer, data, reference)
        return compute_window(
            reference,
            data,
            self.detection,
            model=key[0],
            version=key[1],
            index=buffer.index,
            start=buffer.opened if self.window.by == "time" else buffer.start,
            end=end,
        )

    def _apply_labels(self, model: str, buffer: _Buffer, data: WindowData, reference: ReferenceProfile) -> None:
        known = self._labels.get(model)
        if not known or data.labels is None:
            return
        for request_id, first, row, rows in buffer.requests:
            given = known.get(request_id)
            if not given:
                continue
            whole = given.get(None)
            values = [given.get(first + i, whole) for i in range(rows)]
            if reference.task is Task.REGRESSION:
                filled = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
            else:
                filled = _class_indices(values, reference.class_labels, missing=np.nan)
            target = data.labels[row : row + rows]
            # Labels carried by the prediction event itself win over feedback.
            data.labels[row : row + rows] = np.where(np.isnan(target), filled, target)


def to_window_data(
    reference: ReferenceProfile,
    records: Records,
    predictions: Sequence[Any] | np.ndarray,
    *,
    probabilities: Sequence[Sequence[float]] | np.ndarray | None = None,
    labels: Sequence[Any] | np.ndarray | None = None,
) -> WindowData:
    """Column arrays of one batch, with predictions and labels as class indices (classification)."""
    columns: dict[str, np.ndarray] = {}
    by_column = isinstance(records, Mapping)
    for name in reference.columns:
        if by_column:
            raw: Any = records.get(name)  # type: ignore[union-attr]
        else:
            raw = [record.get(name) for record in records]  # type: ignore[union-attr]
        if raw is None:
            continue
        if name in reference.numeric:
            try:
                # Rounded to float32 as the model and the profile saw them (docs/decisions.md): a
                # float64 0.1 against a float32 0.1 would split every tie and bias KS and the bins.
                columns[name] = np.asarray(raw, dtype=np.float32).astype(np.float64)
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"column {name!r} has values that are not numbers", details={"column": name}
                ) from None
        elif name in reference.boolean:
            flags = np.asarray([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
            columns[name] = np.where(np.isnan(flags), MISSING_CATEGORY, np.where(flags == 1, "true", "false")).astype(
                object
            )
        else:
            columns[name] = _category_text(raw)
    rows = len(predictions)
    for name, values in columns.items():
        if len(values) != rows:
            raise InvalidInputError(f"column {name!r} has {len(values)} values for {rows} predictions")
    probs = np.asarray(probabilities, dtype=np.float64) if probabilities is not None else None
    if probs is not None and (probs.ndim != 2 or len(probs) != rows):
        raise InvalidInputError(f"probabilities must be one row per prediction ({rows}), shaped {probs.shape}")
    if labels is not None and len(labels) != rows:
        raise InvalidInputError(f"{len(labels)} labels for {rows} predictions (use None where no label arrived)")
    if reference.task is Task.REGRESSION:
        predicted = np.asarray(predictions, dtype=np.float64)
        actual = (
            np.asarray([np.nan if v is None else v for v in labels], dtype=np.float64) if labels is not None else None
        )
    else:
        predicted = _class_indices(predictions, reference.class_labels, missing=-1).astype(np.int64)
        actual = _class_indices(labels, reference.class_labels, missing=np.nan) if labels is not None else None
    return WindowData(columns=columns, predictions=predicted, probabilities=probs, labels=actual)


def _category_text(raw: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Categories as the training side wrote them (``driftloop.train.frame``): None is the empty
    string, an integral float is its integer text (1.0 and "1" are the same category)."""
    values = np.asarray(raw, dtype=object)
    if {type(v) for v in values} <= {str}:
        return values
    return np.asarray(
        [
            MISSING_CATEGORY
            if v is None or (isinstance(v, float) and math.isnan(v))
            else str(int(v))
            if isinstance(v, float | np.floating) and float(v).is_integer()
            else str(v)
            for v in values
        ],
        dtype=object,
    )


def _class_indices(values: Sequence[Any] | np.ndarray, labels: list[str] | None, *, missing: float) -> np.ndarray:
    """Class labels (or indices when the reference has no labels) -> indices; None/unknown -> ``missing``."""
    array = np.asarray(values, dtype=object)
    if labels is None:
        return np.asarray([missing if v is None else float(v) for v in array], dtype=np.float64)
    lookup = {label: float(i) for i, label in enumerate(labels)}
    distinct, inverse = np.unique(array.astype(str), return_inverse=True)
    codes = np.asarray([lookup.get(v, missing) for v in distinct], dtype=np.float64)
    result = codes[inverse]
    result[array == None] = missing  # noqa: E711 (elementwise)
    return result
