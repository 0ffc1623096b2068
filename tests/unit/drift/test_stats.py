"""Drift statistics against scipy and hand-computed values on small fixed inputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from driftloop.drift import stats


def test_psi_matches_hand_computation() -> None:
    reference = np.array([50, 30, 20])
    current = np.array([30, 30, 40])
    expected = sum((c - r) * math.log(c / r) for r, c in [(0.5, 0.3), (0.3, 0.3), (0.2, 0.4)])
    assert stats.psi(reference, current) == pytest.approx(expected, rel=1e-3)


def test_psi_of_identical_distributions_is_zero_and_empty_bins_stay_finite() -> None:
    assert stats.psi(np.array([10, 20, 30]), np.array([1, 2, 3])) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(stats.psi(np.array([10, 0, 30]), np.array([0, 20, 0])))


def test_jensen_shannon_matches_scipy() -> None:
    reference, current = np.array([5.0, 3.0, 2.0]), np.array([2.0, 3.0, 5.0])
    expected = float(jensenshannon(reference / 10, current / 10, base=2))
    assert stats.jensen_shannon(reference, current) == pytest.approx(expected, rel=1e-3)


def test_chi_square_matches_scipy() -> None:
    reference = np.array([400, 300, 300])
    current = np.array([50, 20, 30])
    expected = sps.chisquare(current, f_exp=reference / reference.sum() * current.sum())
    statistic, pvalue = stats.chi_square(reference, current)
    assert statistic == pytest.approx(expected.statistic, rel=1e-3)
    assert pvalue == pytest.approx(expected.pvalue, rel=1e-2)


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_ks_matches_scipy(shift: float) -> None:
    rng = np.random.default_rng(3)
    reference = np.sort(rng.normal(size=800))
    current = rng.normal(loc=shift, size=300)
    d, p = stats.ks_two_sample(reference, current)
    expected = sps.ks_2samp(reference, current, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=0.05, abs=1e-6)


def test_wasserstein_normed_matches_scipy_over_std() -> None:
    rng = np.random.default_rng(4)
    reference = np.sort(rng.normal(scale=2.0, size=500))
    current = rng.normal(loc=1.0, scale=2.0, size=200)
    expected = sps.wasserstein_distance(reference, current) / reference.std()
    assert stats.wasserstein_normed(reference, current, float(reference.std())) == pytest.approx(expected)


def test_bin_counts_puts_out_of_range_values_in_outer_bins_and_skips_nan() -> None:
    counts = stats.bin_counts(np.array([-100.0, 0.5, 1.5, 2.5, 100.0, np.nan]), np.array([1.0, 2.0]))
    assert counts.tolist() == [2, 1, 2]


def test_numeric_drift_sees_a_mean_shift_and_not_a_resample() -> None:
    rng = np.random.default_rng(5)
    train = rng.normal(size=20_000)
    edges = np.quantile(train, np.linspace(0, 1, 11)[1:-1])
    reference: dict[str, Any] = dict(
        edges=edges,
        reference_counts=stats.bin_counts(train, edges),
        reference_sample_sorted=np.sort(train[:1000]),
        reference_std=float(train.std()),
        reference_range=(float(train.min()), float(train.max())),
    )
    same = stats.numeric_drift(rng.normal(size=1000), **reference)
    shifted = stats.numeric_drift(rng.normal(loc=1.0, size=1000), **reference)
    assert same.psi < 0.05 < 0.5 < shifted.psi
    assert same.ks_pvalue > 0.01 > shifted.ks_pvalue
    assert shifted.wasserstein > 0.8 > 0.15 > same.wasserstein


def test_categorical_drift_counts_unseen_and_missing() -> None:
    values = np.array(["a", "a", "b", "new", "", "new"], dtype=object)
    drift = stats.categorical_drift(values, categories=["a", "b"], reference_counts=np.array([50, 50, 0]))
    assert drift.n == 5
    assert drift.missing_rate == pytest.approx(1 / 6)
    assert drift.unseen_share == pytest.approx(2 / 5)
    assert drift.psi > 0.5


def test_chi_square_two_sample_matches_scipy_contingency() -> None:
    reference = np.array([400, 300, 300, 0])
    current = np.array([50, 20, 30, 0])
    expected = sps.chi2_contingency(np.vstack([reference[:3], current[:3]]), correction=False)
    statistic, pvalue = stats.chi_square_two_sample(reference, current)
    assert statistic == pytest.approx(expected.statistic)
    assert pvalue == pytest.approx(expected.pvalue)
    # A small reference is a sample too: the same window is less surprising than against exact shares.
    assert pvalue > stats.chi_square(reference[:3], current[:3])[1]


@pytest.mark.parametrize(("n", "m"), [(1000, 100), (1000, 1000), (1000, 5000), (20_000, 20_000)])
def test_ks_pvalue_approximation_stays_close_to_scipy_where_decisions_are_made(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    reference = np.sort(rng.normal(size=n))
    for shift in (0.0, 0.05, 0.1, 0.2):
        current = rng.normal(loc=shift, size=m)
        _, p = stats.ks_two_sample(reference, current)
        expected = sps.ks_2samp(reference, current, method="asymp").pvalue
        if expected > 1e-8:
            assert p == pytest.approx(expected, rel=0.06, abs=1e-4)
