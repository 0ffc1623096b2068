"""The Azure DevOps pipelines beyond their schema (`make pipelines-check`): templates that exist,
immutable image tags, an approval between dev and prod, rollback, and the retrain parameters that
the retrain-controller passes when it starts retrain.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ship_helpers import ROOT

PIPELINES = ROOT / "azure-pipelines"
FILES = sorted(PIPELINES.glob("*.yml")) + sorted((PIPELINES / "templates").glob("*.yml"))


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PIPELINES / name).read_text())
    return loaded


def walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PIPELINES).as_posix())
def test_every_template_reference_exists(path: Path) -> None:
    for node in walk(yaml.safe_load(path.read_text())):
        if "template" in node:
            assert (path.parent / node["template"]).is_file(), f"{path.name}: {node['template']}"


def test_ci_runs_the_same_make_targets_as_developers_and_pushes_immutable_tags() -> None:
    ci = (PIPELINES / "ci.yml").read_text()
    for target in (
        "make lint",
        "make typecheck",
        "make test",
        "make images-lint chart-check compose-check pipelines-check",
    ):
        assert target in ci
    push = (PIPELINES / "templates" / "docker-build-push.yml").read_text()
    assert "tags: $(Build.SourceVersion)" in push
    assert "--write-enabled false" in push  # the pushed tag is locked
    matrix = load("ci.yml")["stages"][1]["jobs"][0]["strategy"]["matrix"]
    assert sorted(m["service"] for m in matrix.values()) == sorted(
        p.name.removesuffix(".Dockerfile") for p in (ROOT / "docker").glob("*.Dockerfile")
    )


def test_cd_deploys_dev_then_prod_through_environments_with_atomic_upgrades() -> None:
    cd = load("cd.yml")
    dev, prod = cd["stages"]
    assert prod["dependsOn"] == dev["stage"] == "Dev"
    assert dev["jobs"][0]["environment"] == "driftloop-dev"
    assert prod["jobs"][0]["environment"] == "driftloop-prod"  # approvals are set on this environment
    deploy = (PIPELINES / "templates" / "helm-deploy.yml").read_text()
    assert "helm upgrade --install" in deploy
    assert "--atomic --wait" in deploy
    assert "helm test" in deploy
    assert "helm rollback" in deploy
    [rollback] = [s for s in load("templates/helm-deploy.yml")["steps"] if "rollback" in str(s.get("parameters", {}))]
    assert rollback["parameters"]["condition"] == "failed()"


def test_retrain_is_scheduled_and_takes_the_parameters_the_controller_sends() -> None:
    retrain = load("retrain.yml")
    assert retrain["schedules"][0]["cron"]
    parameters = {p["name"]: p for p in retrain["parameters"]}
    # driftloop_controller.azure_devops passes these as templateParameters (strings).
    assert {"modelName", "reason"} <= set(parameters)
    assert parameters["modelName"]["default"] == "credit"
    assert [s["stage"] for s in retrain["stages"]] == ["Train", "Gate", "Promote"]
    text = (PIPELINES / "retrain.yml").read_text()
    assert "/v1/models/${{ parameters.modelName }}/promote" in text
    assert "/v1/models/${{ parameters.modelName }}/rollback" in text
