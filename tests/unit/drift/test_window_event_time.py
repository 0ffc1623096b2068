"""Windows in event time: per-record times split batches by slot, and the same records make the same
windows however they are cut into requests; the timer's flush does not cut a replay short."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from drift_helpers import CreditModel, stream_batches

from driftloop.drift.compute import WindowReport
from driftloop.drift.config import DetectionConfig, WindowConfig
from driftloop.drift.window import DriftMonitor
from driftloop.errors import InvalidInputError

HOUR = 1_795_780_800.0  # 2026-11-27T12:00:00Z, a multiple of every duration used here


class ManualClock:
    """The processing clock the monitor measures idle time on, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _monitor(model: CreditModel, clock: ManualClock | None = None, **window: object) -> DriftMonitor:
    return DriftMonitor(
        WindowConfig.model_validate(window),
        DetectionConfig(),
        lambda name, version: model.reference,
        elapsed=clock or ManualClock(),
    )


def _stream(model: CreditModel, rows: int, seed: int) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    columns, predicted, probabilities, _ = next(stream_batches(model, 1, rows, seed=seed, batch_size=rows))
    return columns, list(predicted), probabilities


def _cut(columns: dict[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    return {name: values[start:stop] for name, values in columns.items()}


def _summary(reports: list[WindowReport]) -> list[tuple[Any, ...]]:
    """What a window is, comparable with ``==`` (NaN, "not enough data", as None)."""

    def rows(report: WindowReport) -> list[dict[str, Any]]:
        return [
            {**row, "value": None if row["value"] != row["value"] else row["value"]} for row in report.metric_rows()
        ]

    return [(r.index, r.start, r.end, r.rows, rows(r)) for r in reports]


def _feed(monitor: DriftMonitor, model: CreditModel, times: np.ndarray, sizes: list[int], seed: int) -> list[Any]:
    """The same stream of records, cut into requests of the given sizes."""
    columns, predicted, probabilities = _stream(model, len(times), seed)
    reports: list[WindowReport] = []
    start = 0
    for size in sizes:
        stop = start + size
        reports += monitor.add(
            "credit",
            1,
            _cut(columns, start, stop),
            predicted[start:stop],
            probabilities=probabilities[start:stop],
            time=times[start:stop],
            request_id=f"req-{start}",
        )
        start = stop
    return _summary(reports + monitor.close_all())


def test_a_batch_spanning_slots_is_split_into_their_windows(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, by="time", duration="5m")
    columns, predicted, probabilities = _stream(credit_model, 300, seed=11)
    # 100 records in each of three 5-minute slots, all in one request.
    times = HOUR + np.repeat([10.0, 310.0, 610.0], 100)
    closed = monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=times)
    assert [(r.index, r.start, r.end, r.rows) for r in closed] == [
        (0, HOUR, HOUR + 300, 100),
        (1, HOUR + 300, HOUR + 600, 100),
    ]
    (last,) = monitor.close_all()
    assert (last.index, last.start, last.end, last.rows) == (2, HOUR + 600, HOUR + 900, 100)


def test_a_record_older_than_the_open_window_counts_in_the_open_window(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, by="time", duration="5m")
    columns, predicted, probabilities = _stream(credit_model, 200, seed=12)
    # Slot 1, then 50 records that belong to slot 0 (late), then slot 1 again.
    times = HOUR + np.concatenate([np.full(100, 320.0), np.full(50, 5.0), np.full(50, 330.0)])
    assert monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=times) == []
    (window,) = monitor.close_all()
    assert (window.index, window.start, window.rows) == (0, HOUR + 300, 200)


@pytest.mark.parametrize("by", ["time", "count"])
def test_the_same_records_make_the_same_windows_however_they_are_cut(credit_model: CreditModel, by: str) -> None:
    # An hour of event time, 1,200 records, in order with some jitter and a few late ones.
    rng = np.random.default_rng(5)
    times = HOUR + np.sort(rng.uniform(0, 3600, 1200)) + rng.choice([0.0, -400.0], 1200, p=[0.97, 0.03])
    window: dict[str, Any] = {"by": "time", "duration": "5m"} if by == "time" else {"by": "count", "size": 250}
    burst = _feed(_monitor(credit_model, **window), credit_model, times, [1000, 200], seed=13)
    sizes = list(rng.integers(1, 40, 200))
    sizes = [*sizes[: np.searchsorted(np.cumsum(sizes), 1200)], 0]
    sizes[-1] = 1200 - sum(sizes[:-1])
    small = _feed(_monitor(credit_model, **window), credit_model, times, [s for s in sizes if s], seed=13)
    one_by_one = _feed(_monitor(credit_model, **window), credit_model, times, [1] * 1200, seed=13)
    assert len(burst) == (12 if by == "time" else 5)
    assert burst == small == one_by_one


def test_count_windows_span_their_records_event_times(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, by="count", size=100)
    columns, predicted, probabilities = _stream(credit_model, 150, seed=14)
    times = HOUR + np.arange(150, dtype=float)[::-1]  # newest first
    (first,) = monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=times)
    assert (first.start, first.end, first.rows) == (HOUR + 50, HOUR + 149, 100)
    (rest,) = monitor.close_all()
    assert (rest.start, rest.end, rest.rows) == (HOUR, HOUR + 49, 50)


def test_late_labels_reach_records_split_across_windows(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, by="time", duration="5m")
    columns, predicted, _ = _stream(credit_model, 400, seed=15)
    times = HOUR + np.repeat([10.0, 310.0], 200)
    actual = [predicted[i] if i < 200 else ("1" if predicted[i] == "0" else "0") for i in range(400)]
    for index, label in enumerate(actual):
        monitor.label("credit", "req-1", label, index)
    (first,) = monitor.add("credit", 1, columns, predicted, time=times, request_id="req-1")
    (second,) = monitor.close_all()
    assert first.performance is not None
    assert second.performance is not None
    # Each window's labels are its own records': the first all right, the second all wrong.
    assert (first.performance.labelled, first.performance.metrics["accuracy"]) == (200, 1.0)
    assert (second.performance.labelled, second.performance.metrics["accuracy"]) == (200, 0.0)


def test_flush_runs_event_time_on_with_the_processing_clock(credit_model: CreditModel) -> None:
    clock = ManualClock()
    monitor = _monitor(credit_model, clock, by="time", duration="5m")
    batches = stream_batches(credit_model, 2, 100, seed=16)
    columns, predicted, probabilities, _ = next(batches)
    # A replay: event time a year behind the wall clock; the timer fires between its requests.
    monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=HOUR + 100)
    clock.now += 0.5
    assert monitor.flush() == []  # 0.5 s of idle time is not the 200 s left in the window
    columns, predicted, probabilities, _ = next(batches)
    monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=HOUR + 290)
    clock.now += 9.0
    assert monitor.flush() == []  # event time is now HOUR + 299
    clock.now += 1.0
    (window,) = monitor.flush()  # ... and now HOUR + 300: the window's end
    assert (window.start, window.end, window.rows) == (HOUR, HOUR + 300, 200)
    # An explicit ``now`` is on the event-time clock, as before.
    monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=HOUR + 400)
    assert monitor.flush(now=HOUR + 599) == []
    assert [w.start for w in monitor.flush(now=HOUR + 600)] == [HOUR + 300]


def test_event_times_must_be_one_per_record_and_finite(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, by="time", duration="5m")
    columns, predicted, _ = _stream(credit_model, 10, seed=17)
    with pytest.raises(InvalidInputError, match="3 event times for 10 records"):
        monitor.add("credit", 1, columns, predicted, time=[HOUR, HOUR, HOUR])
    with pytest.raises(InvalidInputError, match="finite"):
        monitor.add("credit", 1, columns, predicted, time=[HOUR] * 9 + [float("nan")])


def test_a_record_of_a_slot_already_closed_counts_in_the_next_window(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, by="time", duration="5m")
    batches = stream_batches(credit_model, 3, 100, seed=18)
    columns, predicted, probabilities, _ = next(batches)
    monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=HOUR + 10)
    (closed,) = monitor.flush(now=HOUR + 300)
    columns, predicted, probabilities, _ = next(batches)
    assert monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=HOUR + 20) == []
    (late,) = monitor.close_all()
    assert (closed.index, closed.start) == (0, HOUR)
    assert (late.index, late.start, late.end, late.rows) == (1, HOUR + 300, HOUR + 600, 100)
