"""The concept-drift detector on a loss stream: delay, location, silence on stationary streams."""

from __future__ import annotations

import numpy as np
import pytest

from driftloop.drift.change import ChangeAlarm, ChangeConfig, ChangeDetector

# docs/drift.md documents these: an error rate that doubles from 0.2 is found within 400 labelled
# records, and the change is located within 250 records of where it happened.
DOCUMENTED_DELAY = 400
DOCUMENTED_LOCATION = 250


def feed(
    rates: list[tuple[int, float]], *, seed: int, reference: float | None, reference_rows: int | None = None
) -> list[ChangeAlarm]:
    """Bernoulli losses: ``rates`` is [(records, error rate), ...] in order."""
    rng = np.random.default_rng(seed)
    detector = ChangeDetector(ChangeConfig(), "m", 1, reference, reference_rows)
    alarms, position = [], 0
    for records, rate in rates:
        for loss in rng.random(records) < rate:
            alarm = detector.add(float(loss), float(position))
            position += 1
            if alarm is not None:
                alarms.append(alarm)
    return alarms


@pytest.mark.parametrize("seed", range(20))
def test_an_abrupt_change_is_found_within_the_documented_delay_and_located(seed: int) -> None:
    alarms = feed([(3000, 0.2), (3000, 0.4)], seed=seed, reference=0.2)
    assert alarms, "the change was missed"
    first = alarms[0]
    assert 3000 <= first.at <= 3000 + DOCUMENTED_DELAY
    assert abs(first.since - 3000) <= DOCUMENTED_LOCATION
    assert first.since_time == float(first.since)
    assert first.after > first.before


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.45])
@pytest.mark.parametrize("seed", range(5))
def test_a_stationary_stream_of_the_same_length_raises_no_alarm(rate: float, seed: int) -> None:
    assert feed([(6000, rate)], seed=seed, reference=rate) == []


def test_a_model_worse_than_its_holdout_from_the_first_label_raises_a_level_alarm() -> None:
    # Nothing changes within the stream, so only the comparison with the holdout can see it.
    alarms = feed([(1000, 0.45)], seed=1, reference=0.2)
    assert alarms
    assert alarms[0].kind == "level"
    assert alarms[0].since == 0
    assert alarms[0].before == 0.2


@pytest.mark.parametrize("seed", range(3))
def test_a_holdout_of_a_few_rows_is_not_taken_for_the_truth(seed: int) -> None:
    # A holdout of 40 rows that showed a 5 % error rate does not prove that 25 % is a change of the
    # world: the level test judges two samples. A holdout of 2,000 rows does prove it.
    assert feed([(1000, 0.25)], seed=seed, reference=0.05, reference_rows=40) == []
    assert feed([(1000, 0.25)], seed=seed, reference=0.05, reference_rows=2000)[0].kind == "level"


def test_an_improvement_raises_no_alarm() -> None:
    assert feed([(3000, 0.4), (3000, 0.1)], seed=2, reference=0.4) == []


def test_the_alarm_repeats_while_the_change_stays_in_view() -> None:
    alarms = feed([(3000, 0.2), (2000, 0.4)], seed=3, reference=0.2)
    assert len(alarms) >= 2
    assert [alarm.first for alarm in alarms[:2]] == [True, False]
    # Repeats locate the same change: a follow-up retrain starts its training set there too.
    assert all(abs(alarm.since - 3000) <= DOCUMENTED_LOCATION for alarm in alarms)


def feed_expected(
    segments: list[tuple[int, float, float]], *, seed: int, reference: float, with_expectation: bool = True
) -> list[ChangeAlarm]:
    """[(records, the chance the model gives of a loss, the true chance of a loss), ...] in order;
    each record's expected loss is drawn around the segment's so that records differ in hardness."""
    rng = np.random.default_rng(seed)
    detector = ChangeDetector(ChangeConfig(), "m", 1, reference)
    alarms, position = [], 0
    for records, expected_rate, true_rate in segments:
        spread = rng.uniform(0.5, 1.5, records)
        expected = np.clip(expected_rate * spread, 0.0, 1.0)
        losses = rng.random(records) < np.clip(true_rate * spread, 0.0, 1.0)
        for loss, chance in zip(losses, expected, strict=True):
            alarm = detector.add(float(loss), float(position), float(chance) if with_expectation else None)
            position += 1
            if alarm is not None:
                alarms.append(alarm)
    return alarms


@pytest.mark.parametrize("seed", range(5))
def test_a_rise_the_model_expected_raises_no_alarm(seed: int) -> None:
    # Covariate shift: the inputs move where the calibrated model is unsure, and it is wrong as
    # often as it said it would be. The same losses without the expectation do raise the alarm.
    segments = [(3000, 0.1, 0.1), (3000, 0.3, 0.3)]
    assert feed_expected(segments, seed=seed, reference=0.1) == []
    assert feed_expected(segments, seed=seed, reference=0.1, with_expectation=False)


@pytest.mark.parametrize("seed", range(5))
def test_a_rise_the_model_did_not_expect_is_found_within_the_documented_delay(seed: int) -> None:
    alarms = feed_expected([(3000, 0.2, 0.2), (3000, 0.2, 0.4)], seed=seed, reference=0.2)
    assert alarms, "the change was missed"
    first = alarms[0]
    assert 3000 <= first.at <= 3000 + DOCUMENTED_DELAY
    assert abs(first.since - 3000) <= DOCUMENTED_LOCATION
    assert abs(first.expected_rise) < 0.05
    assert first.unexplained_rise > 0.1


def test_a_model_worse_than_it_expected_from_the_first_label_raises_a_level_alarm() -> None:
    alarms = feed_expected([(1000, 0.1, 0.45)], seed=4, reference=0.1)
    assert alarms
    assert alarms[0].kind == "level"
    assert alarms[0].unexplained_rise > 0.2
    # ... and one that is as bad as it expected, above its holdout's rate, raises none.
    assert feed_expected([(1000, 0.45, 0.45)], seed=4, reference=0.1) == []
