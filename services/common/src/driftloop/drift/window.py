"""Tumbling windows per model and version, fed with batches of scored records.

A batch is what one prediction event carries: the records (a list of dicts, or a dict of column
arrays), the predictions (class labels or values), optionally the class probabilities and the
labels of the records whose feedback has arrived (None elsewhere). Batches are converted to column
arrays on arrival and concatenated once when the window closes, so that the statistics run on
whole arrays (``driftloop.drift.compute``).

Windows count in event time: the time each record happened, as its client said (``time``: one
value for the batch, or one per record; docs/drift.md, "Event time"). Count windows close after
``size`` records (a batch that straddles the boundary is split) and span the earliest to the latest
event time of their records. Time windows are aligned on multiples of ``duration``; a batch whose
records fall in several slots is split, records taken in their order: a record of a later slot
closes the open window and opens its slot's, a record older than the open window counts in the open
window (or, when none is open, in the one after the last window closed). Records are taken one by
one in order, so the same records give the same windows however they are cut into batches.

A time window also closes when event time passes its end while no record comes
(``DriftMonitor.flush``, on the forwarder's timer): event time is taken to run on with the wall
clock from the latest record seen, so live traffic closes its windows on time, and a replay of
history, whose event time runs far ahead of the wall clock, is closed by its own records.
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
EventTimes = float | Sequence[float] | np.ndarray
"""One event time (Unix seconds) for a whole batch, or one per record."""


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


def _rows(batch: WindowData, start: int, stop: int) -> WindowData:
    part = slice(start, stop)
    return WindowData(
        columns={name: values[part] for name, values in batch.columns.items()},
        predictions=batch.predictions[part],
        probabilities=batch.probabilities[part] if batch.probabilities is not None else None,
        labels=batch.labels[part] if batch.labels is not None else None,
    )


class DriftMonitor:
    """The open windows of every (model, version) and the reports of the windows they close."""

    def __init__(
        self,
        window: WindowConfig,
        detection: DetectionConfig,
        references: ReferenceLookup,
        *,
        elapsed: Callable[[], float] = clock.monotonic,
    ) -> None:
        self.window = window
        self.detection = detection
        self.references = references
        self._elapsed = elapsed
        """The processing clock that event time is taken to run on with between records (flush)."""
        self._open: dict[tuple[str, int], _Buffer] = {}
        self._latest: dict[tuple[str, int], tuple[float, float]] = {}
        """(latest event time seen, processing clock then) per (model, version)."""
        self._closed_until: dict[tuple[str, int], float] = {}
        """End of the last time window closed per (model, version): a later record of an earlier
        slot counts in the next window, never in a second window of a slot already reported."""
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
        time: EventTimes | None = None,
        request_id: str | None = None,
    ) -> list[WindowReport]:
        """Add one batch; return the windows it closed.

        ``time``: the records' event time (Unix seconds), one for the batch or one per record; now
        if absent. With ``request_id``, feedback given to :meth:`label` for that request before the
        window closes fills in the labels of its records."""
        reference = self.references(model, version)
        batch = to_window_data(reference, records, predictions, probabilities=probabilities, labels=labels)
        times = _event_times(time, batch.rows)
        key = (model, version)
        latest = float(times) if type(times) is float else float(times.max(initial=-math.inf))  # type: ignore[union-attr]
        seen = self._latest.get(key)
        if seen is None or latest >= seen[0]:
            self._latest[key] = (latest, self._elapsed())
        if self.window.by == "time":
            return self._add_by_time(key, reference, batch, times, request_id)
        return self._add_by_count(key, reference, batch, times, request_id)

    def _add_by_time(
        self,
        key: tuple[str, int],
        reference: ReferenceProfile,
        batch: WindowData,
        times: float | np.ndarray,
        request_id: str | None,
    ) -> list[WindowReport]:
        closed: list[WindowReport] = []
        open_buffer = self._open.get(key)
        floor = open_buffer.opened if open_buffer is not None else self._closed_until.get(key, -math.inf)
        for first, stop, slot in self._slot_runs(times, batch.rows, floor):
            buffer = self._open.get(key)
            if buffer is not None and slot > buffer.opened:
                closed.append(self._close(key, reference))
                buffer = None
            if buffer is None:
                buffer = self._buffer(key, slot)
            if request_id is not None:
                buffer.requests.append((request_id, first, buffer.rows, stop - first))
            part = batch if first == 0 and stop == batch.rows else _rows(batch, first, stop)
            buffer.add(part, slot, slot)
        return closed

    def _slot_runs(self, times: float | np.ndarray, rows: int, floor: float) -> list[tuple[int, int, float]]:
        """(first row, stop row, slot start) of the runs of consecutive records that go to one
        window: each record to its slot, or to the open (latest) one if its slot is older."""
        duration = self.window.duration
        if type(times) is float:
            return [(0, rows, max(math.floor(times / duration) * duration, floor))]
        if rows == 0:
            return []
        slots = np.maximum.accumulate(np.maximum(np.floor(times / duration) * duration, floor))  # type: ignore[operator]
        cuts = (np.flatnonzero(slots[1:] != slots[:-1]) + 1).tolist()
        starts, stops = [0, *cuts], [*cuts, rows]
        return [(first, stop, float(slots[first])) for first, stop in zip(starts, stops, strict=True)]

    def _add_by_count(
        self,
        key: tuple[str, int],
        reference: ReferenceProfile,
        batch: WindowData,
        times: float | np.ndarray,
        request_id: str | None,
    ) -> list[WindowReport]:
        closed: list[WindowReport] = []
        consumed = 0
        while consumed < batch.rows:
            open_rows = self._open[key].rows if key in self._open else 0
            stop = min(batch.rows, consumed + self.window.size - open_rows)
            if type(times) is float:
                first, last = times, times
            else:
                span = times[consumed:stop]  # type: ignore[index]
                first, last = float(span.min()), float(span.max())
            buffer = self._buffer(key, first)
            if request_id is not None:
                buffer.requests.append((request_id, consumed, buffer.rows, stop - consumed))
            buffer.add(batch if consumed == 0 and stop == batch.rows else _rows(batch, consumed, stop), first, last)
            consumed = stop
            if buffer.rows >= self.window.size:
                closed.append(self._close(key, reference))
        return closed

    def flush(self, now: float | None = None) -> list[WindowReport]:
        """Close the time windows whose end event time has passed (the forwarder calls this on a timer).

        ``now``: the event time it is now; absent, each model version's latest event time plus the
        processing time since it arrived (so a replay far ahead of the wall clock is not cut short
        between its requests, and live traffic closes its windows when they end)."""
        if self.window.by != "time":
            return []
        due = [key for key, buffer in self._open.items() if self._event_now(key, now) >= self._time_end(buffer)]
        return [self._close(key, self.references(*key)) for key in due]

    def _event_now(self, key: tuple[str, int], now: float | None) -> float:
        if now is not None:
            return now
        latest, seen_at = self._latest.get(key, (clock.time(), self._elapsed()))
        return latest + (self._elapsed() - seen_at)

    def close_all(self) -> list[WindowReport]:
        """Close every open window, full or not (shutdown, or a version that stopped serving)."""
        return [self._close(key, self.references(*key)) for key in list(self._open)]

    def _time_end(self, buffer: _Buffer) -> float:
        return buffer.opened + self.window.duration

    def _buffer(self, key: tuple[str, int], start: float) -> _Buffer:
        """The open window of ``key``, or a new one opened at ``start`` (a slot start, or a count
        window's first event time)."""
        buffer = self._open.get(key)
        if buffer is None:
            index = self._next_index.get(key, 0)
            self._next_index[key] = index + 1
            buffer = _Buffer(index=index, opened=start, start=start, end=start)
            self._open[key] = buffer
        return buffer

    def _close(self, key: tuple[str, int], reference: ReferenceProfile) -> WindowReport:
        buffer = self._open.pop(key)
        end = self._time_end(buffer) if self.window.by == "time" else buffer.end
        if self.window.by == "time":
            self._closed_until[key] = end
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


def _event_times(time: EventTimes | None, rows: int) -> float | np.ndarray:
    """One float for the batch, or a float64 array of one per record."""
    if time is None:
        return clock.time()
    if isinstance(time, int | float | np.floating | np.integer):
        return float(time)
    times = np.asarray(time, dtype=np.float64)
    if times.ndim == 0:
        return float(times)
    if times.shape != (rows,):
        raise InvalidInputError(f"{times.size} event times for {rows} records (give one, or one per record)")
    if not np.isfinite(times).all():
        raise InvalidInputError("event times must be finite Unix seconds")
    return times


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
