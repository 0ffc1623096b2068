"""The drift gauges and counters after a real window, a firing and a delivery outcome."""

from __future__ import annotations

from drift_helpers import CreditModel, mean_shift, run_stream
from prometheus_client import REGISTRY

from driftloop.drift import prometheus
from driftloop.drift.notify import DeliveryOutcome
from driftloop.drift.rules import RulesFile


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_window_a_firing_and_a_delivery_are_exposed(credit_model: CreditModel, default_rules: RulesFile) -> None:
    result = run_stream(
        credit_model, default_rules, windows=3, seed=9, drift_at=1, shift=mean_shift("credit_score", 1.0)
    )
    before = _value("driftloop_drift_windows_total", model="credit", version="1") or 0.0
    for report in result.reports:
        prometheus.observe_window(report)
    last = result.reports[-1]
    assert _value("driftloop_drift_windows_total", model="credit", version="1") == before + 3
    psi = last.columns["credit_score"].statistics["psi"]
    assert (
        _value("driftloop_drift_statistic", model="credit", version="1", column="credit_score", statistic="psi") == psi
    )
    assert _value("driftloop_drift_column_drifted", model="credit", version="1", column="credit_score") == 1.0
    assert last.performance is not None
    coverage = _value("driftloop_drift_label_coverage", model="credit", version="1")
    assert coverage == last.performance.coverage
    auc = _value("driftloop_drift_performance", model="credit", version="1", metric="roc_auc")
    assert auc == last.performance.metrics["roc_auc"]

    (firing,) = [f for f in result.firings if f.rule == "feature-drift"]
    fired = _value("driftloop_drift_rule_firings_total", model="credit", rule="feature-drift", action="alert") or 0.0
    prometheus.observe_firing(firing)
    assert (
        _value("driftloop_drift_rule_firings_total", model="credit", rule="feature-drift", action="alert") == fired + 1
    )
    delivered = _value("driftloop_drift_webhook_deliveries_total", status="delivered") or 0.0
    prometheus.observe_delivery(DeliveryOutcome(firing.id, "delivered", 1, 202, None, 0.0, 0.1, "{}"))
    assert _value("driftloop_drift_webhook_deliveries_total", status="delivered") == delivered + 1
