"""Tumbling windows: count and time boundaries, per model version, and the batch formats."""

from __future__ import annotations

import numpy as np
import pytest
from drift_helpers import CreditModel, stream_batches

from driftloop.drift.config import DetectionConfig, WindowConfig
from driftloop.drift.reference import parse_profile
from driftloop.drift.window import DriftMonitor
from driftloop.errors import InvalidInputError


def _monitor(model: CreditModel, **window: object) -> DriftMonitor:
    return DriftMonitor(WindowConfig.model_validate(window), DetectionConfig(), lambda name, version: model.reference)


def test_count_windows_split_batches_at_the_boundary(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, by="count", size=250)
    reports = []
    for i, (columns, predicted, probabilities, _) in enumerate(stream_batches(credit_model, 4, 250, seed=1)):
        reports += monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=100.0 + i)
    assert [r.index for r in reports] == [0, 1, 2, 3]
    assert {r.rows for r in reports} == {250}
    assert all(r.columns["age"].n == 250 for r in reports)
    # The batch at t=102 (rows 200-299) is split between the first and the second window.
    assert (reports[0].start, reports[0].end, reports[1].start) == (100.0, 102.0, 102.0)
    assert monitor.close_all() == []


def test_records_as_dicts_and_as_columns_give_the_same_window(credit_model: CreditModel) -> None:
    columns, predicted, probabilities, labels = next(stream_batches(credit_model, 1, 300, seed=2, batch_size=300))
    records = [{name: values[i] for name, values in columns.items()} for i in range(300)]
    feedback = [str(v) for v in labels]
    by_columns = _monitor(credit_model, size=300).add(
        "credit", 1, columns, predicted, probabilities=probabilities, labels=feedback, time=0.0
    )
    by_records = _monitor(credit_model, size=300).add(
        "credit", 1, records, predicted, probabilities=probabilities, labels=feedback, time=0.0
    )
    assert by_columns[0].metric_rows() == by_records[0].metric_rows()


def test_time_windows_are_aligned_and_close_on_a_later_event_or_on_flush(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, by="time", duration="1m")
    batches = stream_batches(credit_model, 3, 100, seed=3)
    for t in (965.0, 1010.0):
        columns, predicted, probabilities, _ = next(batches)
        assert monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=t) == []
    columns, predicted, probabilities, _ = next(batches)
    (first,) = monitor.add("credit", 1, columns, predicted, probabilities=probabilities, time=1030.0)
    assert (first.start, first.end, first.rows) == (960.0, 1020.0, 200)
    assert monitor.flush(now=1079.0) == []
    (second,) = monitor.flush(now=1080.0)
    assert (second.index, second.start, second.end, second.rows) == (1, 1020.0, 1080.0, 100)


def test_each_model_version_has_its_own_windows(credit_model: CreditModel) -> None:
    monitor = _monitor(credit_model, size=200)
    closed = []
    for i, (columns, predicted, _, _) in enumerate(stream_batches(credit_model, 3, 200, seed=4)):
        closed += monitor.add("credit", 1 + i % 2, columns, predicted, time=float(i))
    # 600 rows alternate between the versions in batches of 100: 300 each, one full window each.
    assert sorted((r.version, r.index, r.rows) for r in closed) == [(1, 0, 200), (2, 0, 200)]
    assert sorted((r.version, r.index, r.rows) for r in monitor.close_all()) == [(1, 1, 100), (2, 1, 100)]


def test_performance_covers_the_labelled_part_only(credit_model: CreditModel) -> None:
    columns, predicted, probabilities, labels = next(stream_batches(credit_model, 1, 1000, seed=5, batch_size=1000))
    feedback = [str(v) if i % 4 == 0 else None for i, v in enumerate(labels)]
    (report,) = _monitor(credit_model).add(
        "credit", 1, columns, predicted, probabilities=probabilities, labels=feedback
    )
    perf = report.performance
    assert perf is not None
    assert (perf.labelled, perf.coverage, perf.enough_data) == (250, 0.25, True)
    assert perf.primary_metric == "roc_auc"
    assert abs(perf.degradation["roc_auc"]) < 0.15
    assert set(perf.metrics) == {"roc_auc", "accuracy", "f1"}


def test_a_column_without_values_is_reported_as_missing_not_invented(credit_model: CreditModel) -> None:
    columns, predicted, _, _ = next(stream_batches(credit_model, 1, 200, seed=6, batch_size=200))
    del columns["savings"]
    (report,) = _monitor(credit_model, size=200).add("credit", 1, columns, predicted)
    assert "savings" not in report.columns
    assert "savings" in report.known_columns


def test_a_window_below_the_minimum_sample_gives_no_verdict(credit_model: CreditModel) -> None:
    columns, predicted, _, _ = next(stream_batches(credit_model, 1, 50, seed=7, batch_size=50))
    (report,) = _monitor(credit_model, size=50).add("credit", 1, columns, predicted)
    assert {c.verdict.drifted for c in report.columns.values()} == {None}
    assert np.isnan(report.drift_share)


def test_text_in_a_numeric_column_is_a_clear_error(credit_model: CreditModel) -> None:
    columns, predicted, _, _ = next(stream_batches(credit_model, 1, 10, seed=8, batch_size=10))
    columns["age"] = np.array(["forty"] * 10, dtype=object)
    with pytest.raises(InvalidInputError, match="column 'age' has values that are not numbers"):
        _monitor(credit_model).add("credit", 1, columns, predicted)


def test_boolean_columns_are_judged_as_two_categories() -> None:
    profile = {
        "rows": 1000,
        "columns": {"member": {"kind": "boolean", "missing_rate": 0.0, "frequencies": {"false": 0.7, "true": 0.3}}},
        "predictions": {"kind": "class", "rows": 200, "class_frequencies": {"no": 0.8, "yes": 0.2}},
    }
    reference = parse_profile(profile, {"task": "binary"})
    monitor = DriftMonitor(WindowConfig(size=200), DetectionConfig(), lambda name, version: reference)
    flags = [True] * 150 + [False] * 40 + [None] * 10
    (report,) = monitor.add("m", 1, {"member": flags}, ["no"] * 200)
    member = report.columns["member"]
    assert (member.kind, member.n, member.verdict.method, member.verdict.drifted) == ("categorical", 190, "chi2", True)
    assert member.statistics["missing_rate"] == pytest.approx(0.05)
    assert report.predictions is not None
    assert report.predictions.verdict.drifted is True  # 100 % "no" against 80 %


def test_categories_are_compared_as_the_training_side_wrote_them() -> None:
    profile = {
        "rows": 1000,
        "columns": {"grade": {"kind": "categorical", "missing_rate": 0.0, "frequencies": {"1": 0.5, "2": 0.5}}},
    }
    reference = parse_profile(profile, {"task": "regression"})
    monitor = DriftMonitor(WindowConfig(size=200), DetectionConfig(), lambda name, version: reference)
    codes = [1.0] * 100 + [2] * 90 + [None] * 5 + [float("nan")] * 5  # a CSV's floats, JSON's ints, missing
    (report,) = monitor.add("m", 1, {"grade": codes}, [0.0] * 200)
    grade = report.columns["grade"]
    assert (grade.n, grade.statistics["unseen_share"], grade.verdict.drifted) == (190, 0.0, False)


def test_batches_of_mismatched_lengths_are_clear_errors(credit_model: CreditModel) -> None:
    columns, predicted, probabilities, labels = next(stream_batches(credit_model, 1, 10, seed=9, batch_size=10))
    monitor = _monitor(credit_model)
    with pytest.raises(InvalidInputError, match="column 'age' has 10 values for 9 predictions"):
        monitor.add("credit", 1, columns, predicted[:9])
    with pytest.raises(InvalidInputError, match=r"probabilities must be one row per prediction \(10\)"):
        monitor.add("credit", 1, columns, predicted, probabilities=probabilities[:5])
    with pytest.raises(InvalidInputError, match="3 labels for 10 predictions"):
        monitor.add("credit", 1, columns, predicted, labels=list(labels[:3]))
