"""Whether the forwarder is doing its job: storing what the bus holds, and keeping up with it.

``/healthz`` answers from :func:`assess`; a forwarder whose loop runs is still unhealthy when

- **stalled**: it has not committed for longer than ``ForwardSettings.stall_after_s`` while there
  is work (a batch read and not yet committed, or lag): the database is away, a write is stuck
  retrying, or the loop is blocked;
- **falling behind**: its consumer lag kept growing over ``ForwardSettings.lag_growth_span_s``
  (Burrow's rule, LinkedIn's Kafka lag checker: every sample of the span at least the one before,
  the last above the first, none zero), i.e. it is committing, but less than arrives.

The same verdict is exported for alerting: ``driftloop_forwarder_seconds_since_commit``,
``driftloop_forwarder_lag`` and ``driftloop_forwarder_stalled{reason}`` (metrics.py).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from driftloop_forwarder import metrics

SAMPLES_PER_SPAN = 10


class LagTrend:
    """Lag samples over the last span, one every ``span / SAMPLES_PER_SPAN`` seconds at most.

    Spacing the samples evens out the saw-tooth of batches being read and committed, which
    samples taken every second would show as a fall.
    """

    def __init__(self, span_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.span_s = span_s
        self.clock = clock
        self._every_s = span_s / SAMPLES_PER_SPAN
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, lag: int) -> None:
        now = self.clock()
        if self._samples and now - self._samples[-1][0] < self._every_s:
            return
        self._samples.append((now, lag))
        # Keep one sample at or before the span's start, so that a full span is always covered.
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.span_s:
            self._samples.popleft()

    def growing(self) -> bool:
        """Whether the lag grew through the whole last span."""
        if len(self._samples) < 3 or self.clock() - self._samples[0][0] < self.span_s:
            return False
        lags = [lag for _, lag in self._samples]
        return lags[0] > 0 and lags[-1] > lags[0] and all(b >= a for a, b in itertools.pairwise(lags))


@dataclass
class Progress:
    """What the loop reports about itself; times are the health's clock (``time.monotonic()``)."""

    started_at: float
    last_commit_at: float | None = None
    uncommitted_since: float | None = None
    """When the oldest batch read and not yet committed was read; None when there is none."""
    lag: int = 0
    lag_since: float | None = None
    """When the lag was last seen to rise above 0; None while it is 0."""

    def waiting_since(self) -> float | None:
        """Since when work has waited without a commit; None when nothing waits."""
        since = [t for t in (self.uncommitted_since, self.lag_since) if t is not None]
        if not since:
            return None
        return max(min(since), self.last_commit_or_start)

    @property
    def last_commit_or_start(self) -> float:
        return self.last_commit_at if self.last_commit_at is not None else self.started_at


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reasons: list[str]
    seconds_since_commit: float
    stalled: bool
    lag_growing: bool

    def summary(self) -> dict[str, object]:
        """The part of ``/healthz``'s body that says why."""
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "reasons": self.reasons,
            "seconds_since_commit": round(self.seconds_since_commit, 1),
        }


class ForwarderHealth:
    """Fed by the loop (:meth:`read`, :meth:`committed`, :meth:`lag`), asked by ``/healthz`` and ``/metrics``."""

    def __init__(self, stall_after_s: float, lag_growth_span_s: float, clock: Callable[[], float] = time.monotonic):
        self.stall_after_s = stall_after_s
        self.clock = clock
        self.progress = Progress(started_at=clock())
        self.trend = LagTrend(lag_growth_span_s, clock)
        self._uncommitted = 0

    def read(self) -> None:
        """A batch was read: it waits until its commit."""
        self._uncommitted += 1
        if self.progress.uncommitted_since is None:
            self.progress.uncommitted_since = self.clock()

    def committed(self) -> None:
        """A batch was committed; a batch read after it (the loop is pipelined) waits from now."""
        now = self.clock()
        self._uncommitted = max(0, self._uncommitted - 1)
        self.progress.last_commit_at = now
        self.progress.uncommitted_since = now if self._uncommitted else None

    def dropped(self) -> None:
        """Every batch read was given up uncommitted (the consumer rewound: they are read again)."""
        self._uncommitted = 0
        self.progress.uncommitted_since = None

    def lag(self, lag: int) -> None:
        progress = self.progress
        progress.lag = lag
        if lag == 0:
            progress.lag_since = None
        elif progress.lag_since is None:
            progress.lag_since = self.clock()
        self.trend.add(lag)

    def verdict(self) -> Verdict:
        now = self.clock()
        progress = self.progress
        since_commit = now - progress.last_commit_or_start
        reasons = []
        waiting_since = progress.waiting_since()
        stalled = waiting_since is not None and now - waiting_since > self.stall_after_s
        if stalled and waiting_since is not None:
            held = "a batch read, not yet stored" if progress.uncommitted_since is not None else ""
            work = ", ".join(part for part in (held, f"lag {progress.lag}" if progress.lag else "") if part)
            waited = now - waiting_since
            reasons.append(
                f"no commit for {waited:.1f}s while work waits ({work}); the limit is {self.stall_after_s:g}s"
            )
        lag_growing = self.trend.growing()
        if lag_growing:
            reasons.append(f"the lag kept growing for {self.trend.span_s:g}s (now {progress.lag})")
        return Verdict(not reasons, reasons, since_commit, stalled, lag_growing)

    def export(self) -> None:
        """Compute the health gauges at every scrape (the last forwarder to call this owns them)."""
        metrics.SECONDS_SINCE_COMMIT.set_function(lambda: self.verdict().seconds_since_commit)
        metrics.STALLED.labels(reason="no_commit").set_function(lambda: float(self.verdict().stalled))
        metrics.STALLED.labels(reason="lag_growing").set_function(lambda: float(self.verdict().lag_growing))
