"""Prometheus metrics of the forwarder (``driftloop_forwarder_*``), on the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS_READ = Counter("driftloop_forwarder_records_read", "Bus messages read (each one event or a batch).")
EVENTS_READ = Counter("driftloop_forwarder_events_read", "Events read from the bus (stored or dead-lettered).")
ROWS_WRITTEN = Counter("driftloop_forwarder_rows_written", "Rows offered to the store (duplicates ignored).", ["table"])
DEAD_LETTERS = Counter(
    "driftloop_forwarder_dead_letters",
    "Records the parser refused and events the store refused, parked in dead_letters.",
)
STORE_ERRORS = Counter(
    "driftloop_forwarder_store_errors",
    "Failed writes: kind=data counts events the store refused (dead-lettered), kind=database failed "
    "attempts of a batch (retried with backoff).",
    ["kind"],
)
LAG = Gauge("driftloop_forwarder_lag", "Bus messages not yet committed by this forwarder's group.")
SECONDS_SINCE_COMMIT = Gauge(
    "driftloop_forwarder_seconds_since_commit", "Seconds since this forwarder last committed a batch (or started)."
)
STALLED = Gauge(
    "driftloop_forwarder_stalled",
    "1 when /healthz reports the forwarder unhealthy for this reason: no_commit (work waits without a "
    "commit for longer than stall_after_s) or lag_growing (the lag grew through lag_growth_span_s).",
    ["reason"],
)
BATCH_SECONDS = Histogram(
    "driftloop_forwarder_batch_seconds",
    "Time to parse, store and commit one batch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DRIFT_ERRORS = Counter(
    "driftloop_forwarder_drift_errors",
    "Failures in drift computation, rules or their recording (storage goes on regardless).",
    ["stage"],
)
WEBHOOK_FAILED_ATTEMPTS = Counter(
    "driftloop_forwarder_webhook_failed_attempts", "Retrain webhook attempts that failed (retried unless final)."
)
