"""Prometheus metrics of the feature-engineering service (process-wide, defined once)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

TRANSFORMED_RECORDS = Counter(
    "driftloop_features_transformed_records_total", "Records transformed by /v1/transform.", ["model"]
)
DATASETS = Counter(
    "driftloop_features_datasets_total", "Dataset requests by outcome (ready or the error code).", ["model", "outcome"]
)
LATENCY = Histogram(
    "driftloop_features_request_seconds",
    "Time to serve a transform or to materialise a dataset.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


@contextmanager
def timed(operation: str) -> Iterator[None]:
    began = time.perf_counter()
    yield
    LATENCY.labels(operation).observe(time.perf_counter() - began)
