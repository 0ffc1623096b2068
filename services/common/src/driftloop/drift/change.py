"""Concept drift on the labelled stream: a sequential detector on per-record loss (docs/drift.md).

Each labelled record gives a loss in [0, 1]: 1 when the prediction was wrong (classification), or
when its absolute error is above the holdout's median absolute error (regression). A change in
how a model's inputs relate to its target shows as a rise of that loss, usually long before a
window-based statistic is sure of it.

**What the model expected.** A classifier whose bundle carries a calibration (train/profile.py)
says, for each record, how likely it is to be wrong: one minus its calibrated top probability. The
tests then watch the *unexplained* loss, the loss minus that expectation. Inputs that move into a
region where the model is unsure raise both (covariate shift, which the model already prices in and
which a retrain on the newest rows does not cure), a change of concept raises only the loss. That is
the distinction CBPE draws without labels (drift/compute.py), applied to the labels. Without a
calibration (regression, older bundles) every record expects the holdout's loss rate, and the
tests are the plain tests on the loss.

Two tests run every ``check_every`` labelled records over the losses kept (at most ``max_window``):

- **change** (ADWIN's test, Bifet & Gavaldà 2007): for every cut of the kept losses into an older
  and a newer part, the newer part's unexplained loss exceeds the older's by more than an
  empirical-Bernstein bound at confidence ``delta`` (split over the cuts tested) and by at least
  ``min_increase``.
- **level**: the newer part's loss exceeds what the model expected of it (the holdout's loss rate
  without a calibration) by the same bound, for two samples when the holdout's size is known, and
  a larger margin (``level_increase``). It finds a
  model that is worse than it was trained to be from its first labels on (deployed into an
  already changed world, or still bad after a rejected retrain), which the change test cannot
  see because nothing changed *within* the kept losses.

The alarm says where the change began: the cut that maximises the evidence (harmonic size times the
squared gap), with its record's event time, so that a training set can start there. The detector
does not forget on an alarm: as long as the change stays in view (the kept losses reach back before
it), every test raises the alarm again, ``first`` only on the first of them. The rules decide how
often that may retrain (a cooldown in labelled records, and never while a retrain runs), so a
rejected challenger is followed by another attempt once new labels have arrived. A fall of the loss
(the model got better, or the older part was a bad stretch) drops the older part, as ADWIN does.

Loss order is the order the labels arrive in, which is the order of the bus: the same stream gives
the same alarms however fast it is replayed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ChangeConfig(BaseModel):
    """The ``change`` block of the policy: the labelled-stream detector."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    delta: float = Field(default=0.002, gt=0, lt=1)
    """Chance of a false alarm per test over the kept losses (split over the cuts tested)."""
    min_increase: float = Field(default=0.05, gt=0, le=1)
    """Smallest rise of the loss rate that counts (absolute: 0.05 = five points more errors)."""
    level_increase: float = Field(default=0.15, gt=0, le=1)
    """Smallest rise above the holdout's loss rate for the level test: larger than ``min_increase``,
    because the holdout's rate is itself an estimate, and production rarely matches it exactly."""
    min_records: int = Field(default=30, ge=5)
    """Fewest losses on each side of a cut (and since the last alarm, for the level test)."""
    check_every: int = Field(default=16, ge=1)
    """Labelled records between two tests (and the spacing of the cuts tested)."""
    max_window: int = Field(default=5000, ge=100)
    """Most recent losses kept per model version."""


@dataclass(frozen=True)
class ChangeAlarm:
    """A detected rise of the loss: what the concept-drift rule fires on."""

    kind: Literal["change", "level"]
    model: str
    version: int
    at: int
    """Labelled records of this version seen when the alarm was raised."""
    at_time: float
    """Event time of the record that raised it."""
    since: int
    """Where the rise began, in labelled records of this version (the located cut)."""
    since_time: float
    """Event time of the first record after the cut: where a change-following training set starts."""
    before: float
    """Loss rate before the cut (the holdout's, for a level alarm)."""
    after: float
    """Loss rate after it."""
    expected_rise: float
    """How much of ``after - before`` the model's confidence expected (0 without a calibration):
    the rise that counts is the rest."""
    records_after: int
    bound: float
    """The confidence bound the rise had to exceed."""
    first: bool = True
    """The first alarm since the detector last found nothing (later ones repeat the evidence)."""

    @property
    def unexplained_rise(self) -> float:
        return self.after - self.before - self.expected_rise


def bernstein_bound(variance: float | np.ndarray, harmonic: np.ndarray, log_term: float) -> np.ndarray:
    """ADWIN's empirical-Bernstein threshold for a difference of two means of [0, 1] values."""
    return np.sqrt(2.0 * variance * log_term / harmonic) + 2.0 * log_term / (3.0 * harmonic)


class ChangeDetector:
    """The detector of one model version."""

    def __init__(
        self,
        config: ChangeConfig,
        model: str,
        version: int,
        reference_loss: float | None,
        reference_rows: int | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.version = version
        self.reference_loss = reference_loss
        """The loss rate on the holdout at training time (None: no level test)."""
        self.reference_rows = reference_rows
        """The holdout rows it was measured on (None: taken as exact)."""
        self.seen = 0
        self._alarmed = False
        self._losses: deque[float] = deque(maxlen=config.max_window)
        self._expected: deque[float] = deque(maxlen=config.max_window)
        self._times: deque[float] = deque(maxlen=config.max_window)

    @property
    def kept(self) -> int:
        return len(self._losses)

    def add(self, loss: float, time: float, expected: float | None = None) -> ChangeAlarm | None:
        """One labelled record's loss (in [0, 1]), event time and, where the model's confidence
        says it, the chance that the record would be a loss; an alarm when a test fires."""
        self._losses.append(min(max(float(loss), 0.0), 1.0))
        fallback = self.reference_loss if self.reference_loss is not None else 0.0
        self._expected.append(fallback if expected is None else min(max(float(expected), 0.0), 1.0))
        self._times.append(float(time))
        self.seen += 1
        if self.seen % self.config.check_every or self.kept < self.config.min_records:
            return None
        alarm = self._test()
        self._alarmed = alarm is not None
        return alarm

    def _test(self) -> ChangeAlarm | None:
        config = self.config
        n = self.kept
        losses = np.fromiter(self._losses, dtype=np.float64, count=n)
        expected = np.fromiter(self._expected, dtype=np.float64, count=n)
        residuals = losses - expected
        prefix = _prefix(residuals)
        cuts = np.arange(config.min_records, n - config.min_records + 1, config.check_every)
        # The union bound over the cuts, as ADWIN splits delta over the window's buckets.
        log_term = math.log(2.0 * max(len(cuts), 1) / config.delta)
        if len(cuts):
            # The residuals' own variance: the Bernoulli m(1 - m) of the losses when every record
            # expects the same, smaller when the model knows which records are hard.
            variance = float(np.var(residuals))
            older, newer = cuts.astype(np.float64), (n - cuts).astype(np.float64)
            gap = (prefix[-1] - prefix[cuts]) / newer - prefix[cuts] / older
            harmonic = 1.0 / (1.0 / older + 1.0 / newer)
            bound = bernstein_bound(variance, harmonic, log_term)
            rising = gap > np.maximum(bound, config.min_increase)
            if rising.any():
                # Where the rise began: the cut with the most evidence (harmonic size x squared gap).
                best = int(np.argmax(np.where(rising, harmonic * gap * gap, -1.0)))
                cut = int(cuts[best])
                return self._alarm("change", cut, losses, expected, float(bound[best]))
            falling = np.flatnonzero(gap < -bound)
            if len(falling):
                # The loss fell: the older part no longer describes the model.
                for _ in range(int(cuts[falling[-1]])):
                    self._losses.popleft()
                    self._expected.popleft()
                    self._times.popleft()
                return None
        return self._level(prefix, expected, losses, log_term)

    def _level(
        self, prefix: np.ndarray, expected: np.ndarray, losses: np.ndarray, log_term: float
    ) -> ChangeAlarm | None:
        """The newest part against what the model expected of it: suffixes of at least ``min_records``."""
        if self.reference_loss is None:
            return None
        config = self.config
        n = len(prefix) - 1
        cuts = np.arange(0, n - config.min_records + 1, config.check_every)
        sizes = (n - cuts).astype(np.float64)
        excess = (prefix[-1] - prefix[cuts]) / sizes
        # Under no change each record is a loss with its expected chance e: variance e(1 - e).
        spread = _prefix(expected * (1.0 - expected))
        variance = np.maximum((spread[-1] - spread[cuts]) / sizes, 1.0 / n)
        effective = sizes
        if self.reference_rows is not None:
            # The holdout's rate is an estimate too: a model judged on 50 holdout rows that made
            # no mistake there is not known to be perfect. Two samples, as in the change test.
            reference = self.reference_loss
            variance = np.maximum(variance, reference * (1.0 - reference))
            effective = 1.0 / (1.0 / sizes + 1.0 / self.reference_rows)
        bound = bernstein_bound(variance, effective, log_term)
        rising = excess > np.maximum(bound, config.level_increase)
        if not rising.any():
            return None
        # Where the excess began: the largest cumulative excess (a CUSUM's estimate).
        best = int(np.argmax(np.where(rising, sizes * excess, -np.inf)))
        return self._alarm("level", int(cuts[best]), losses, expected, float(bound[best]))

    def _alarm(
        self, kind: Literal["change", "level"], cut: int, losses: np.ndarray, expected: np.ndarray, bound: float
    ) -> ChangeAlarm:
        after, expected_after = float(losses[cut:].mean()), float(expected[cut:].mean())
        if kind == "change":
            before, expected_before = float(losses[:cut].mean()), float(expected[:cut].mean())
        else:
            assert self.reference_loss is not None
            before = expected_before = self.reference_loss
        kept_from = self.seen - self.kept
        return ChangeAlarm(
            kind=kind,
            model=self.model,
            version=self.version,
            at=self.seen,
            at_time=self._times[-1],
            since=kept_from + cut,
            since_time=self._times[cut],
            before=before,
            after=after,
            expected_rise=expected_after - expected_before,
            records_after=self.kept - cut,
            bound=bound,
            first=not self._alarmed,
        )


def _prefix(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(values)))
