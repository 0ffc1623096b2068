"""Prometheus metrics of the scoring service, in a registry of its own (one per app, so tests can build many).

Label children are resolved once per model and route, not per request: ``labels()`` takes a
lock and hashes its arguments, which the hot path does not need to pay for each time.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from driftloop import metrics_workers

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
VALUE_BUCKETS = (-1000.0, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0)


class ScoringMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "driftloop_scoring_requests",
            "Requests answered, by model, route and status.",
            ["model", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "driftloop_scoring_request_latency_seconds",
            "Time spent answering a request (body read to response written).",
            ["model", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.records = Counter("driftloop_scoring_records", "Records scored.", ["model"], registry=r)
        self.predicted_classes = Counter(
            "driftloop_scoring_predictions", "Predicted classes (classifiers).", ["model", "class_label"], registry=r
        )
        self.predicted_values = Histogram(
            "driftloop_scoring_prediction_values",
            "Predicted values (regressors).",
            ["model"],
            buckets=VALUE_BUCKETS,
            registry=r,
        )
        self.validation_errors = Counter(
            "driftloop_scoring_validation_errors",
            "Problems found in refused requests, by column (empty: the request as a whole).",
            ["model", "column"],
            registry=r,
        )
        self.unseen_values = Counter(
            "driftloop_scoring_unseen_values",
            "Scored values unseen in training: 'category' (a new category) or 'range' (outside the training range).",
            ["model", "column", "reason"],
            registry=r,
        )
        self.feedback = Counter(
            "driftloop_scoring_feedback",
            "Feedback items recorded, by whether the request id was known.",
            ["model", "known"],
            registry=r,
        )
        self.model_version = Gauge(
            "driftloop_scoring_model_version",
            "Champion version being served (with several workers: one series per live worker, label pid).",
            ["model"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "driftloop_scoring_reloads",
            "Model reloads, by outcome (swapped, unchanged, refused).",
            ["model", "outcome"],
            registry=r,
        )

    @cache  # noqa: B019 - one ScoringMetrics per app, living as long as the app
    def route(self, model: str, route: str) -> tuple[Any, Any]:
        """(the 200 counter, the latency histogram) for one model and route."""
        return self.requests.labels(model, route, "200"), self.latency.labels(model, route)

    @cache  # noqa: B019
    def records_of(self, model: str) -> Any:
        return self.records.labels(model)

    @cache  # noqa: B019
    def class_counter(self, model: str, label: str) -> Any:
        return self.predicted_classes.labels(model, label)

    def exposition(self) -> bytes:
        """This service's metrics followed by the process-wide ones (the telemetry publisher's, the
        process's); with several workers, every worker's merged (driftloop/metrics_workers.py)."""
        if metrics_workers.enabled():
            return metrics_workers.exposition()
        return generate_latest(self.registry) + generate_latest(REGISTRY)
