"""Whole streams through the windows and the default rules: silence without drift, and each kind of
drift detected, with its delay in windows in the assertion message (bench/drift_windows.py
reports the same figures)."""

from __future__ import annotations

import pytest
from drift_helpers import CreditModel, dominant_category, inverted_labels, mean_shift, run_stream

from driftloop.drift.rules import RulesFile

DRIFT_AT = 10


@pytest.mark.parametrize("seed", [101, 202])
def test_a_stream_without_drift_raises_at_most_one_false_alarm_in_100_windows(
    credit_model: CreditModel, default_rules: RulesFile, seed: int
) -> None:
    result = run_stream(credit_model, default_rules, windows=100, seed=seed)
    assert len(result.reports) == 100
    alarms = [(f.rule, f.window["index"], [e.column for e in f.evidence]) for f in result.firings]
    assert len(result.firings) <= 1, f"false alarms: {alarms}"


@pytest.mark.parametrize(
    ("name", "shift", "rule", "silent"),
    [
        ("mean shift of credit_score by 0.5 std", mean_shift("credit_score", 0.5), "feature-drift", None),
        ("new dominant purpose", dominant_category("purpose", "crypto"), "feature-drift", None),
        ("defaults invert above 0.5 utilisation", inverted_labels(), "performance-drop", "feature-drift"),
    ],
)
def test_an_injected_shift_is_detected_soon_after_it_starts(
    credit_model: CreditModel, default_rules: RulesFile, name: str, shift: object, rule: str, silent: str | None
) -> None:
    result = run_stream(credit_model, default_rules, windows=DRIFT_AT + 10, seed=303, drift_at=DRIFT_AT, shift=shift)  # type: ignore[arg-type]
    delay = result.first_detection(rule)
    fired = [(f.rule, f.window["index"]) for f in result.firings]
    assert delay is not None, f"{name}: {rule} never fired (firings {fired})"
    # consecutive: 2 means the second drifted window is the earliest possible firing (delay 1).
    assert delay <= 3, f"{name}: detected by {rule} after {delay} windows (firings {fired})"
    assert not result.false_alarms(), f"{name}: false alarms before the shift: {fired}"
    if silent is not None:
        # Inputs and predictions are unchanged: only the performance rule can see this drift.
        assert result.first_detection(silent) is None, f"{name}: {silent} fired on unchanged inputs ({fired})"
    print(f"{name}: {rule} detected after {delay} windows")  # shown with pytest -s
