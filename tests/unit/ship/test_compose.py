"""docker-compose.yml beyond its schema (`make compose-check`): the wiring that makes the stack start
in order and share the names and settings everything else uses."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from ship_helpers import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DRIFTLOOP = ["scoring", "feature-engineering", "telemetry-forwarder", "retrain-controller"]
PORTS = {"scoring": 8080, "feature-engineering": 8081, "telemetry-forwarder": 8082, "retrain-controller": 8083}
# The settings table every service, the chart and the docs share, plus the ones the images set.
KNOWN_SETTINGS = {
    "DRIFTLOOP_HOST", "DRIFTLOOP_PORT", "DRIFTLOOP_REGISTRY__PATH", "DRIFTLOOP_REGISTRY__MODELS",
    "DRIFTLOOP_BUS__URL", "DRIFTLOOP_BUS__SPILL_PATH", "DRIFTLOOP_STORE__URL", "DRIFTLOOP_AUTH__API_KEYS",
    "DRIFTLOOP_AUTH__ADMIN_TOKEN", "DRIFTLOOP_AUTH__PROTECT_METRICS", "DRIFTLOOP_WEBHOOK__URL",
    "DRIFTLOOP_WEBHOOK__SECRET", "DRIFTLOOP_FEATURES__URL", "DRIFTLOOP_LOG__LEVEL", "DRIFTLOOP_LOG__JSON_LOGS",
    "DRIFTLOOP_FEATURES__SOURCES", "DRIFTLOOP_FEATURES__DATASETS_DIR", "DRIFTLOOP_FEATURES__API_KEY",
}  # fmt: skip


@pytest.mark.parametrize("name", DRIFTLOOP)
def test_each_service_is_built_from_its_dockerfile_and_listens_on_its_port(name: str) -> None:
    service = SERVICES[name]
    assert service["build"]["dockerfile"] == f"docker/{name}.Dockerfile"
    assert service["image"].startswith(f"driftloop-{name}:")
    assert service["environment"]["DRIFTLOOP_PORT"] == str(PORTS[name])
    grpc = ["127.0.0.1:8001:8001"] if name == "scoring" else []  # the image's DRIFTLOOP_GRPC_PORT
    assert service["ports"] == [f"127.0.0.1:{PORTS[name]}:{PORTS[name]}", *grpc]
    assert service["read_only"] is True
    assert "registry:/var/lib/driftloop/registry" in service["volumes"]
    assert set(service["environment"]) <= KNOWN_SETTINGS


@pytest.mark.parametrize("name", [*DRIFTLOOP, "kafka", "postgres"])
def test_every_long_running_service_has_a_health_check(name: str) -> None:
    assert SERVICES[name]["healthcheck"]["test"][0] == "CMD"


def test_start_order_waits_for_health_not_just_for_start() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency == "train" else "service_healthy"
            assert condition == {"condition": expected}, f"{name} -> {dependency}"
            if expected == "service_healthy":
                assert "healthcheck" in SERVICES[dependency]
    assert set(SERVICES["scoring"]["depends_on"]) == {"train", "kafka"}
    assert set(SERVICES["telemetry-forwarder"]["depends_on"]) >= {"kafka", "postgres"}


def test_kafka_runs_in_kraft_mode_from_the_official_image() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in " ".join(kafka["environment"])
    bus = COMPOSE["x-driftloop-env"]["DRIFTLOOP_BUS__URL"]
    assert bus.startswith(f"kafka://kafka:{kafka['environment']['KAFKA_ADVERTISED_LISTENERS'].rsplit(':', 1)[1]}/")


def test_the_store_is_the_compose_postgres() -> None:
    store = COMPOSE["x-driftloop-env"]["DRIFTLOOP_STORE__URL"]
    assert re.fullmatch(
        r"postgresql\+psycopg://driftloop:\$\{POSTGRES_PASSWORD:-[^}]+\}@postgres:5432/driftloop", store
    )


def test_the_train_job_registers_the_first_credit_model_once() -> None:
    train = SERVICES["train"]
    assert train["build"]["dockerfile"] == "docker/retrain-controller.Dockerfile"
    assert train["restart"] == "no"
    script = train["command"][0]
    source = "/var/lib/driftloop/datasets/sources/credit.csv"
    assert f"driftloop train --data {source} --target default --name credit" in script
    assert f"to_csv('{source}'" in script  # the source feature-engineering builds training sets from
    assert "credit/aliases.json" in script  # skips when the registry already has the model
    assert "registry:/var/lib/driftloop/registry" in train["volumes"]


def test_secrets_are_taken_from_the_environment_never_written_here() -> None:
    env = COMPOSE["x-driftloop-env"]
    for name in ("DRIFTLOOP_AUTH__API_KEYS", "DRIFTLOOP_AUTH__ADMIN_TOKEN", "DRIFTLOOP_WEBHOOK__SECRET"):
        assert env[name] == f"${{{name}:-}}"


def test_training_sets_are_on_a_volume_shared_by_feature_engineering_and_the_controller() -> None:
    features = SERVICES["feature-engineering"]
    datasets_dir = features["environment"]["DRIFTLOOP_FEATURES__DATASETS_DIR"]
    sources = json.loads(features["environment"]["DRIFTLOOP_FEATURES__SOURCES"])
    assert sources == {"credit": f"{datasets_dir}/sources/credit.csv"}
    shared = f"datasets:{datasets_dir}"
    for name in ("feature-engineering", "retrain-controller", "train"):
        assert shared in SERVICES[name]["volumes"], name
        assert "registry:/var/lib/driftloop/registry" in SERVICES[name]["volumes"], name
    assert "datasets" in COMPOSE["volumes"]
    # The source exists before feature-engineering starts.
    assert features["depends_on"]["train"] == {"condition": "service_completed_successfully"}
    for name in ("scoring", "telemetry-forwarder"):
        assert shared not in SERVICES[name].get("volumes", []), name


@pytest.mark.parametrize("name", ["feature-engineering", "retrain-controller"])
def test_the_image_prepares_the_datasets_mount_for_the_non_root_user(name: str) -> None:
    # A fresh named volume takes the owner of the image's directory; without it, uid 10001 cannot write.
    dockerfile = (ROOT / "docker" / f"{name}.Dockerfile").read_text()
    assert re.search(r"install -d -o 10001 -g 10001 [^\n]*/var/lib/driftloop/datasets", dockerfile)
