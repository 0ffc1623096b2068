"""Prometheus metrics of the retrain-controller (process-wide, defined once)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS = Counter(
    "driftloop_controller_jobs_total",
    "Finished retrain jobs by outcome (promoted, rejected, failed, cancelled; a hand-off counts when its run reports).",
    ["model", "outcome"],
)
STEP_SECONDS = Histogram(
    "driftloop_controller_step_seconds",
    "Time of each step of a retrain job.",
    ["step"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
WEBHOOKS = Counter(
    "driftloop_controller_webhooks_total",
    "Retrain requests by answer (queued, coalesced into a running job, existing, or the error code).",
    ["answer"],
)
