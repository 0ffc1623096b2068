"""The chart's ServiceMonitors, PrometheusRule and NetworkPolicies over real `helm template` output.

The monitoring objects are validated against the prometheus-operator CRDs (manifest_schemas.py);
each alert's expression is parsed as PromQL and every metric it reads must be one the services
really register (their prometheus_client collectors, imported here), with the labels it filters on.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from manifest_schemas import problems
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from ship_helpers import CHART, KUBERNETES_VERSION, RELEASE, Render, find, helm_template, one

OPERATOR_VALUES = CHART / "ci" / "operator-values.yaml"
MONITORING = ("metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true")
COMPONENTS = ["scoring", "feature-engineering", "telemetry-forwarder", "retrain-controller"]
# Being added to the forwarder on another branch (issue 15); the rules read them already. Once that
# branch has landed they are registered like the others and this set should be emptied.
# Labels Prometheus adds to every scraped series (target labels), not the services.
TARGET_LABELS = {"job", "namespace", "instance", "pod", "service"}
REQUIRED_ALERTS = {
    "DriftloopScoringDown",
    "DriftloopScoringErrors",
    "DriftloopForwarderDown",
    "DriftloopForwarderLagging",
    "DriftloopForwarderStalled",
    "DriftloopWebhookDeliveriesFailing",
    "DriftloopRetrainJobsFailing",
}


def name_of(component: str) -> str:
    return f"{RELEASE}-driftloop-{component}"


@pytest.fixture(scope="module")
def exposed() -> dict[str, set[str]]:
    """Series name -> label names, for every metric the four services register."""
    import driftloop.drift.prometheus
    import driftloop.telemetry.metrics
    import driftloop_controller.metrics
    import driftloop_features.metrics
    import driftloop_forwarder.metrics
    from driftloop_scoring.metrics import ScoringMetrics

    modules = [
        driftloop.drift.prometheus,
        driftloop.telemetry.metrics,
        driftloop_controller.metrics,
        driftloop_features.metrics,
        driftloop_forwarder.metrics,
    ]
    metrics: list[MetricWrapperBase] = [
        value for module in modules for value in vars(module).values() if isinstance(value, MetricWrapperBase)
    ]
    scoring = ScoringMetrics()
    metrics += [value for value in vars(scoring).values() if isinstance(value, MetricWrapperBase)]
    series: dict[str, set[str]] = {}
    for metric in metrics:
        labels = set(metric._labelnames)
        for family in metric.describe():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
            for suffix in suffixes:
                series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    # Sanity: the collectors found are the ones the registries expose.
    registered = {f.name for registry in (REGISTRY, scoring.registry) for f in registry.collect()}
    assert {family.name for m in metrics for family in m.describe()} <= registered
    assert isinstance(scoring.registry, CollectorRegistry)
    return series


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def alerts(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_none_of_it_by_default(render: Render) -> None:
    kinds = {m["kind"] for m in render()}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"}


def test_a_service_monitor_scrapes_each_service_through_its_own_service(render: Render) -> None:
    manifests = render(*MONITORING)
    services = find(manifests, "Service")
    monitors = find(manifests, "ServiceMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == sorted(name_of(c) for c in COMPONENTS)
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [s["metadata"]["name"] for s in services if selector.items() <= s["metadata"]["labels"].items()]
        assert matched == [monitor["metadata"]["name"]]
        [service] = [s for s in services if s["metadata"]["name"] == matched[0]]
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert endpoint["path"] == "/metrics"
        assert "authorization" not in endpoint  # /metrics is open unless config.protectMetrics
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["default"]}
        assert problems(monitor, KUBERNETES_VERSION) == []


def test_protected_metrics_are_scraped_with_a_bearer_key_from_a_secret(render: Render, helm: Path) -> None:
    manifests = render(values_file=OPERATOR_VALUES)
    monitors = {m["metadata"]["name"]: m for m in find(manifests, "ServiceMonitor")}
    [scoring] = monitors.pop(name_of("scoring"))["spec"]["endpoints"]
    assert scoring["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "driftloop-metrics-key", "key": "api-key"},
    }
    for monitor in monitors.values():  # only scoring guards /metrics
        assert "authorization" not in monitor["spec"]["endpoints"][0]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    defaulted = render(*MONITORING, "config.protectMetrics=true", "secrets.existingSecret=driftloop-secrets")
    [endpoint] = one(defaulted, "ServiceMonitor", name_of("scoring"))["spec"]["endpoints"]
    assert endpoint["authorization"]["credentials"] == {"name": "driftloop-secrets", "key": "api-keys"}
    nowhere = helm_template(helm, "--set", MONITORING[0], "--set", "config.protectMetrics=true")
    assert nowhere.returncode != 0
    assert "apiKeySecret" in nowhere.stderr


def test_the_crd_check_refuses_what_the_operator_would(render: Render) -> None:
    [rule] = find(render(*MONITORING), "PrometheusRule")
    broken = copy.deepcopy(rule)
    broken["spec"]["groups"][0]["rules"][0]["for"] = "ten minutes"
    broken["spec"]["groups"][0]["rules"][0]["severity"] = "critical"  # belongs under labels
    found = problems(broken, KUBERNETES_VERSION)
    assert any("for" in p and "does not match" in p for p in found), found
    assert any("'severity' was unexpected" in p for p in found), found


def test_every_alert_reads_metrics_the_services_expose(render: Render, exposed: dict[str, set[str]]) -> None:
    [rule] = find(render(*MONITORING), "PrometheusRule")
    assert problems(rule, KUBERNETES_VERSION) == []
    rules = alerts(rule)
    assert set(rules) == REQUIRED_ALERTS
    jobs = {s["metadata"]["name"] for s in find(render(*MONITORING), "Service")}
    for name, alert in rules.items():
        for selector in selectors(alert["expr"]):
            matchers = {m.name: m.value for m in selector.matchers.matchers}
            assert matchers["job"] in jobs, (name, matchers)  # the Service name: the ServiceMonitor's job label
            assert matchers["namespace"] == "default"
            if selector.name == "up":  # Prometheus' own, per target
                continue
            assert selector.name in exposed, f"{name} reads {selector.name}, which no service registers"
            assert set(matchers) - TARGET_LABELS <= exposed[selector.name], (name, selector.name, matchers)
        assert alert["labels"]["severity"] in {"critical", "warning"}
        assert alert["annotations"]["summary"]
        assert alert["for"] == "10m"


def test_alert_thresholds_and_labels_come_from_values(render: Render) -> None:
    [rule] = find(
        render(
            *MONITORING,
            "metrics.prometheusRule.scoringErrorRatio=0.2",
            "metrics.prometheusRule.forwarderLag=500",
            "metrics.prometheusRule.for=3m",
            "metrics.prometheusRule.alertLabels.team=ml",
        ),
        "PrometheusRule",
    )
    rules = alerts(rule)
    assert rules["DriftloopScoringErrors"]["expr"].endswith("> 0.2")
    assert rules["DriftloopForwarderLagging"]["expr"].endswith("> 500")
    assert {r["for"] for r in rules.values()} == {"3m"}
    assert all(r["labels"]["team"] == "ml" for r in rules.values())
    without_forwarder = alerts(find(render(*MONITORING, "telemetryForwarder.enabled=false"), "PrometheusRule")[0])
    assert not {a for a in without_forwarder if "Forwarder" in a or "Webhook" in a}


# -- NetworkPolicies ---------------------------------------------------------------------------


def egress_ports(policy: dict[str, Any]) -> set[int]:
    return {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}


def test_each_service_has_one_policy_for_its_own_pods(render: Render) -> None:
    manifests = render(values_file=OPERATOR_VALUES)
    policies = find(manifests, "NetworkPolicy")
    assert sorted(p["metadata"]["name"] for p in policies) == sorted(name_of(c) for c in COMPONENTS)
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in find(manifests, "Deployment")}
    for policy in policies:
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert [n for n, labels in pods.items() if selector.items() <= labels.items()] == [policy["metadata"]["name"]]
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        # In: only the http port (and scoring's grpc). Out: every rule names its ports (nothing is open to all ports).
        grpc = {"grpc"} if policy["metadata"]["name"] == name_of("scoring") else set()
        assert {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]} == {"http", *grpc}
        assert all(rule["ports"] for rule in policy["spec"]["egress"])
        assert problems(policy, KUBERNETES_VERSION) == []


def test_each_service_reaches_only_what_its_settings_point_at(render: Render) -> None:
    manifests = render(values_file=OPERATOR_VALUES)
    policies = {p["metadata"]["name"]: p for p in find(manifests, "NetworkPolicy")}
    dns, bus, store, api, features, controller = {53}, {9092, 9093, 5671}, {5432}, {443, 6443}, {8081}, {8083}
    assert egress_ports(policies[name_of("scoring")]) == dns | bus
    assert egress_ports(policies[name_of("feature-engineering")]) == dns | store
    assert egress_ports(policies[name_of("telemetry-forwarder")]) == dns | bus | store | controller
    assert egress_ports(policies[name_of("retrain-controller")]) == dns | store | api | features
    [store_rule] = [
        r for r in policies[name_of("feature-engineering")]["spec"]["egress"] if r["ports"][0]["port"] == 5432
    ]
    assert store_rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/24"}}]
    # An embedded bus needs no bus egress; the API server only when the controller rolls out or starts Jobs.
    embedded = {
        p["metadata"]["name"]: p
        for p in find(render("networkPolicy.enabled=true", "config.busUrl=sqlite:///b.db"), "NetworkPolicy")
    }
    assert egress_ports(embedded[name_of("scoring")]) == dns
    no_api = render("networkPolicy.enabled=true", "retrainController.rollout.enabled=false")
    assert egress_ports(one(no_api, "NetworkPolicy", name_of("retrain-controller"))) == dns | store | features

    def https_only(manifests: list[dict[str, Any]]) -> list[Any]:
        rules = one(manifests, "NetworkPolicy", name_of("retrain-controller"))["spec"]["egress"]
        return [r for r in rules if [p["port"] for p in r["ports"]] == [443]]

    assert https_only(render("networkPolicy.enabled=true")) == []
    assert len(https_only(render("networkPolicy.enabled=true", values_file=CHART / "ci" / "aks-values.yaml"))) == 1


def test_in_release_traffic_is_allowed_exactly_where_the_services_call_each_other(render: Render) -> None:
    manifests = render(values_file=OPERATOR_VALUES)
    policies = {p["metadata"]["name"]: p for p in find(manifests, "NetworkPolicy")}
    deployments = find(manifests, "Deployment")
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in deployments}
    ports = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        for d in deployments
    }

    def peers(rules: list[dict[str, Any]], key: str) -> set[str]:
        selected = set()
        for rule in rules:
            for peer in rule.get(key, []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    labels = peer["podSelector"]["matchLabels"]
                    selected |= {n for n, pod in pods.items() if labels.items() <= pod.items()}
                    selected |= {"test"} if labels.get("app.kubernetes.io/component") == "test" else set()
        return selected

    # The forwarder posts the retrain webhook; the controller asks feature-engineering for training sets.
    config = find(manifests, "ConfigMap")[0]["data"]
    assert name_of("retrain-controller") in config["DRIFTLOOP_WEBHOOK__URL"]
    assert name_of("feature-engineering") in config["DRIFTLOOP_FEATURES__URL"]
    forwarder_out = policies[name_of("telemetry-forwarder")]["spec"]["egress"]
    assert peers(forwarder_out, "to") == {name_of("retrain-controller")}
    [to_controller] = [r for r in forwarder_out if "to" in r and r["to"][0].keys() == {"podSelector"}]
    assert to_controller["ports"][0]["port"] == ports[name_of("retrain-controller")]
    assert peers(policies[name_of("retrain-controller")]["spec"]["egress"], "to") == {name_of("feature-engineering")}
    assert peers(policies[name_of("retrain-controller")]["spec"]["ingress"], "from") == {name_of("telemetry-forwarder")}
    assert peers(policies[name_of("feature-engineering")]["spec"]["ingress"], "from") == {name_of("retrain-controller")}
    # The helm test pod calls scoring even when clients are narrowed.
    assert peers(policies[name_of("scoring")]["spec"]["ingress"], "from") == {"test"}
    [test_pod] = find(manifests, "Pod")
    assert test_pod["metadata"]["labels"]["app.kubernetes.io/component"] == "test"
    # Clients (the ingress controller's namespace) reach scoring and the controller, nothing else.
    clients = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "app-routing-system"}}}
    for name, policy in policies.items():
        reached = any(clients in rule.get("from", []) for rule in policy["spec"]["ingress"])
        assert reached is (name in {name_of("scoring"), name_of("retrain-controller")}), name
