"""Prometheus metrics of drift monitoring (``driftloop_drift_*``), labelled by model and version.

Defined once per process (prometheus_client refuses duplicate names), like the telemetry
metrics; the forwarder calls ``observe_window`` for every closed window, ``observe_firing`` for
every firing and ``observe_delivery`` for every webhook outcome. Values are the last window's:
the SQL store keeps the history.
"""

from __future__ import annotations

import math

from prometheus_client import Counter, Gauge

from driftloop.drift.compute import WindowReport
from driftloop.drift.evaluator import Firing
from driftloop.drift.notify import DeliveryOutcome

# The statistics worth a time series; the rest is in the store.
EXPOSED = ("psi", "ks_pvalue", "wasserstein", "jensen_shannon", "chi2_pvalue", "unseen_share", "out_of_range_share")

STATISTIC = Gauge(
    "driftloop_drift_statistic",
    "A drift statistic of one column in the last closed window.",
    ["model", "version", "column", "statistic"],
)
DRIFTED = Gauge(
    "driftloop_drift_column_drifted",
    "1 if the column drifted in the last window, 0 if not (absent: not enough data).",
    ["model", "version", "column"],
)
DRIFT_SHARE = Gauge(
    "driftloop_drift_share", "Share of the columns that drifted in the last window.", ["model", "version"]
)
WINDOWS = Counter("driftloop_drift_windows", "Windows closed and evaluated.", ["model", "version"])
PERFORMANCE = Gauge(
    "driftloop_drift_performance",
    "Task metric over the labelled part of the last window.",
    ["model", "version", "metric"],
)
DEGRADATION = Gauge(
    "driftloop_drift_performance_degradation",
    "Relative degradation of the metric against the holdout (positive: worse).",
    ["model", "version", "metric"],
)
LABEL_COVERAGE = Gauge(
    "driftloop_drift_label_coverage", "Share of the last window's records with feedback.", ["model", "version"]
)
FIRINGS = Counter("driftloop_drift_rule_firings", "Rule firings.", ["model", "rule", "action"])
DELIVERIES = Counter("driftloop_drift_webhook_deliveries", "Retrain webhook deliveries by outcome.", ["status"])


def observe_window(report: WindowReport) -> None:
    model, version = report.model, str(report.version)
    WINDOWS.labels(model, version).inc()
    columns = [*report.columns.values(), *([report.predictions] if report.predictions else [])]
    for column in columns:
        for name in EXPOSED:
            value = column.statistics.get(name)
            if value is not None and not math.isnan(value):
                STATISTIC.labels(model, version, column.column, name).set(value)
        if column.verdict.drifted is not None:
            DRIFTED.labels(model, version, column.column).set(float(column.verdict.drifted))
    if not math.isnan(report.drift_share):
        DRIFT_SHARE.labels(model, version).set(report.drift_share)
    if report.performance is not None:
        LABEL_COVERAGE.labels(model, version).set(report.performance.coverage)
        for metric, value in report.performance.metrics.items():
            if not math.isnan(value):
                PERFORMANCE.labels(model, version, metric).set(value)
        for metric, value in report.performance.degradation.items():
            if not math.isnan(value):
                DEGRADATION.labels(model, version, metric).set(value)


def observe_firing(firing: Firing) -> None:
    FIRINGS.labels(firing.model, firing.rule, firing.action).inc()


def observe_delivery(outcome: DeliveryOutcome) -> None:
    DELIVERIES.labels(outcome.status).inc()
