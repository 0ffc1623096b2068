"""Scoring in the chart and the image: gRPC on by default at 8001, named ``grpc``, off with 0; its workers."""

from __future__ import annotations

from typing import Any

from ship_helpers import ROOT, Render, one

SCORING = "demo-driftloop-scoring"


def _scoring(manifests: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    [container] = one(manifests, "Deployment", SCORING)["spec"]["template"]["spec"]["containers"]
    return container, one(manifests, "Service", SCORING)


def test_scoring_serves_grpc_on_a_named_port_of_its_pod_and_service(render: Render) -> None:
    container, service = _scoring(render())
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DRIFTLOOP_GRPC_PORT"] == "8001"
    assert container["ports"][1] == {"name": "grpc", "containerPort": 8001, "protocol": "TCP"}
    assert service["spec"]["ports"][1] == {"name": "grpc", "port": 8001, "targetPort": "grpc", "protocol": "TCP"}
    assert container["readinessProbe"]["httpGet"]["port"] == "http"  # the probes stay on HTTP


def test_grpc_port_zero_turns_it_off_everywhere(render: Render) -> None:
    manifests = render("scoring.grpcPort=0", "networkPolicy.enabled=true")
    container, service = _scoring(manifests)
    assert {e["name"]: e.get("value") for e in container["env"]}["DRIFTLOOP_GRPC_PORT"] == "0"
    assert [port["name"] for port in container["ports"]] == ["http"]
    assert [port["name"] for port in service["spec"]["ports"]] == ["http"]
    policy = one(manifests, "NetworkPolicy", SCORING)
    assert all(port["port"] == "http" for rule in policy["spec"]["ingress"] for port in rule["ports"])


def test_the_network_policy_lets_api_callers_reach_grpc(render: Render) -> None:
    policy = one(render("networkPolicy.enabled=true"), "NetworkPolicy", SCORING)
    assert any({port["port"] for port in rule["ports"]} == {"http", "grpc"} for rule in policy["spec"]["ingress"])


def test_the_image_turns_grpc_on_and_exposes_it() -> None:
    runtime = (ROOT / "docker" / "scoring.Dockerfile").read_text().split("AS runtime")[1]
    assert "DRIFTLOOP_GRPC_PORT=8001" in runtime
    assert "EXPOSE 8080 8001" in runtime


def test_scoring_runs_the_workers_the_values_ask_for(render: Render) -> None:
    container, _ = _scoring(render())
    assert {e["name"]: e.get("value") for e in container["env"]}["DRIFTLOOP_WORKERS"] == "1"
    container, _ = _scoring(render("scoring.workers=4"))
    assert {e["name"]: e.get("value") for e in container["env"]}["DRIFTLOOP_WORKERS"] == "4"
