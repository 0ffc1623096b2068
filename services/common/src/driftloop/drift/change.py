"""Concept drift on the labelled stream: a sequential detector on per-record loss (docs/drift.md).

Each labelled record gives a loss in [0, 1]: 1 when the prediction was wrong (classification), or
when its absolute error is above the holdout's median absolute error (regression). A change in
how a model's inputs relate to its target shows as a rise of that loss, usually long before a
window-based statistic is sure of it.

Two tests run every ``check_every`` labelled records over the losses kept (at most ``max_window``):

- **change** (ADWIN's test, Bifet & Gavaldà 2007): for every cut of the kept losses into an older
  and a newer part, the newer mean exceeds the older by more than an empirical-Bernstein bound at
  confidence ``delta`` (split over the cuts tested) and by at least ``min_increase``.
- **level**: the newer part's mean exceeds the loss measured on the holdout at training time by the
  same bound and a larger margin (``level_increase``). It finds a model that is worse than it was
  trained to be from its first labels on (deployed into an already changed world, or still bad
  after a rejected retrain), which the change test cannot see because nothing changed *within* the kept losses.

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
    records_after: int
    bound: float
    """The confidence bound the rise had to exceed."""
    first: bool = True
    """The first alarm since the detector last found nothing (later ones repeat the evidence)."""


def bernstein_bound(variance: float, harmonic: np.ndarray, log_term: float) -> np.ndarray:
    """ADWIN's empirical-Bernstein threshold for a difference of two means of [0, 1] values."""
    return np.sqrt(2.0 * variance * log_term / harmonic) + 2.0 * log_term / (3.0 * harmonic)


class ChangeDetector:
    """The detector of one model version."""

    def __init__(self, config: ChangeConfig, model: str, version: int, reference_loss: float | None) -> None:
        self.config = config
        self.model = model
        self.version = version
        self.reference_loss = reference_loss
        """The loss rate on the holdout at training time (None: no level test)."""
        self.seen = 0
        self._alarmed = False
        self._losses: deque[float] = deque(maxlen=config.max_window)
        self._times: deque[float] = deque(maxlen=config.max_window)

    @property
    def kept(self) -> int:
        return len(self._losses)

    def add(self, loss: float, time: float) -> ChangeAlarm | None:
        """One labelled record's loss (in [0, 1]) and event time; an alarm when a test fires."""
        self._losses.append(min(max(float(loss), 0.0), 1.0))
        self._times.append(float(time))
        self.seen += 1
        if self.seen % self.config.check_every or self.kept < self.config.min_records:
            return None
        alarm = self._test()
        self._alarmed = alarm is not None
        return alarm

    def _test(self) -> ChangeAlarm | None:
        config = self.config
        losses = np.fromiter(self._losses, dtype=np.float64, count=self.kept)
        n = len(losses)
        prefix = np.concatenate(([0.0], np.cumsum(losses)))
        cuts = np.arange(config.min_records, n - config.min_records + 1, config.check_every)
        # The union bound over the cuts, as ADWIN splits delta over the window's buckets.
        log_term = math.log(2.0 * max(len(cuts), 1) / config.delta)
        if len(cuts):
            mean = prefix[-1] / n
            older, newer = cuts.astype(np.float64), (n - cuts).astype(np.float64)
            gap = (prefix[-1] - prefix[cuts]) / newer - prefix[cuts] / older
            harmonic = 1.0 / (1.0 / older + 1.0 / newer)
            bound = bernstein_bound(mean * (1.0 - mean), harmonic, log_term)
            rising = gap > np.maximum(bound, config.min_increase)
            if rising.any():
                # Where the rise began: the cut with the most evidence (harmonic size x squared gap).
                best = int(np.argmax(np.where(rising, harmonic * gap * gap, -1.0)))
                cut = int(cuts[best])
                before = float(prefix[cut] / cut)
                return self._alarm("change", cut, before, before + float(gap[best]), float(bound[best]))
            falling = np.flatnonzero(gap < -bound)
            if len(falling):
                # The loss fell: the older part no longer describes the model.
                for _ in range(int(cuts[falling[-1]])):
                    self._losses.popleft()
                    self._times.popleft()
                return None
        return self._level(prefix, log_term)

    def _level(self, prefix: np.ndarray, log_term: float) -> ChangeAlarm | None:
        """The newest part against the holdout's loss: suffixes of at least ``min_records``."""
        reference = self.reference_loss
        if reference is None:
            return None
        config = self.config
        n = len(prefix) - 1
        cuts = np.arange(0, n - config.min_records + 1, config.check_every)
        sizes = (n - cuts).astype(np.float64)
        means = (prefix[-1] - prefix[cuts]) / sizes
        variance = max(reference * (1.0 - reference), 1.0 / n)
        bound = bernstein_bound(variance, sizes, log_term)
        excess = means - reference
        rising = excess > np.maximum(bound, config.level_increase)
        if not rising.any():
            return None
        # Where the excess began: the largest cumulative excess (a CUSUM's estimate).
        best = int(np.argmax(np.where(rising, sizes * excess, -np.inf)))
        return self._alarm("level", int(cuts[best]), reference, float(means[best]), float(bound[best]))

    def _alarm(
        self, kind: Literal["change", "level"], cut: int, before: float, after: float, bound: float
    ) -> ChangeAlarm:
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
            records_after=self.kept - cut,
            bound=bound,
            first=not self._alarmed,
        )
