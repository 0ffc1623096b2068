"""The conventions operators reach for, over real `helm template` output: image registry and digests,
extra environment and volumes, per-service security contexts, topology spreading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ship_helpers import CHART, Render, find, helm_template, one

OPERATOR_VALUES = CHART / "ci" / "operator-values.yaml"
DIGEST = "sha256:" + "ab" * 32
COMPONENTS = ["scoring", "feature-engineering", "telemetry-forwarder", "retrain-controller"]


def deployment(manifests: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return one(manifests, "Deployment", f"demo-driftloop-{component}")


def container(manifests: list[dict[str, Any]], component: str) -> dict[str, Any]:
    [only] = deployment(manifests, component)["spec"]["template"]["spec"]["containers"]
    return only


def test_global_image_registry_wins_over_image_registry(render: Render) -> None:
    manifests = render("global.imageRegistry=mirror.example.com/team/", "image.registry=acr.example.com")
    for component in COMPONENTS:
        assert container(manifests, component)["image"] == f"mirror.example.com/team/driftloop-{component}:0.1.0"
    [test_pod] = find(manifests, "Pod")
    assert test_pod["spec"]["containers"][0]["image"] == "mirror.example.com/team/driftloop-scoring:0.1.0"
    seeded = render(
        "global.imageRegistry=mirror.example.com/team/",
        f"retrainController.image.digest={DIGEST}",
        "seed.enabled=true",
        "seed.url=https://data.example.com/credit.csv",
        "seed.target=default",
    )
    [seed] = find(seeded, "Job")
    # The seed Job runs the controller's image: the mirror, and the digest when one is given.
    assert seed["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"mirror.example.com/team/driftloop-retrain-controller@{DIGEST}"
    )
    only_local = render("image.registry=acr.example.com")
    assert container(only_local, "scoring")["image"] == "acr.example.com/driftloop-scoring:0.1.0"


def test_a_digest_wins_over_the_tag_and_reaches_the_training_jobs(render: Render) -> None:
    manifests = render(
        f"retrainController.image.digest={DIGEST}",
        "image.tag=abc",
        "image.registry=acr.example.com",
        "retrainController.training.mode=kubernetes-job",
    )
    controller = container(manifests, "retrain-controller")
    assert controller["image"] == f"acr.example.com/driftloop-retrain-controller@{DIGEST}"
    env = {e["name"]: e.get("value") for e in controller["env"]}
    assert env["DRIFTLOOP_TRAINING_JOB__IMAGE"] == controller["image"]
    assert container(manifests, "scoring")["image"] == "acr.example.com/driftloop-scoring:abc"  # no digest: the tag


def test_a_malformed_digest_is_refused_by_the_schema(helm: Path) -> None:
    result = helm_template(helm, "--set", "scoring.image.digest=abc123")
    assert result.returncode != 0
    assert "digest" in result.stderr


def test_extra_env_goes_after_the_charts_own_to_every_service_or_one(render: Render) -> None:
    manifests = render(values_file=OPERATOR_VALUES)
    for component in COMPONENTS:
        names = [e["name"] for e in container(manifests, component)["env"]]
        first = names.index("HTTPS_PROXY")
        assert names[first : first + 3] == ["HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE"]
        assert "DRIFTLOOP_PORT" in names[:first]  # the chart's own come first
    forwarder = [e["name"] for e in container(manifests, "telemetry-forwarder")["env"]]
    assert forwarder[-1] == "DRIFTLOOP_LOG__LEVEL"  # its own, after the shared ones
    assert "DRIFTLOOP_LOG__LEVEL" not in [e["name"] for e in container(manifests, "scoring")["env"]]


def test_extra_env_takes_a_secret_setting_only_through_value_from(render: Render, helm: Path) -> None:
    plain = helm_template(helm, "--set", "extraEnv[0].name=DRIFTLOOP_AUTH__ADMIN_TOKEN", "--set", "extraEnv[0].value=x")
    assert plain.returncode != 0
    assert "extraEnv" in plain.stderr
    manifests = render(
        "scoring.extraEnv[0].name=DRIFTLOOP_AUTH__API_KEYS",
        "scoring.extraEnv[0].valueFrom.secretKeyRef.name=vault-synced",
        "scoring.extraEnv[0].valueFrom.secretKeyRef.key=keys",
    )
    [variable] = [e for e in container(manifests, "scoring")["env"] if e["name"] == "DRIFTLOOP_AUTH__API_KEYS"]
    assert variable == {
        "name": "DRIFTLOOP_AUTH__API_KEYS",
        "valueFrom": {"secretKeyRef": {"name": "vault-synced", "key": "keys"}},
    }


def test_extra_volumes_are_mounted_only_where_asked(render: Render) -> None:
    manifests = render(values_file=OPERATOR_VALUES)
    for component in COMPONENTS:
        volumes = {v["name"] for v in deployment(manifests, component)["spec"]["template"]["spec"]["volumes"]}
        mounts = {m["name"]: m for m in container(manifests, component)["volumeMounts"]}
        asked = component in {"scoring", "retrain-controller"}
        assert ("corporate-ca" in volumes) is asked
        assert ("corporate-ca" in mounts) is asked
        if asked:
            assert mounts["corporate-ca"] == {
                "name": "corporate-ca",
                "mountPath": "/etc/ssl/corporate",
                "readOnly": True,
            }
        assert {"data", "tmp", "registry"} <= volumes  # the chart's own are kept


def test_a_services_security_context_is_merged_over_the_shared_one(render: Render) -> None:
    manifests = render(values_file=OPERATOR_VALUES)
    scoring = deployment(manifests, "scoring")["spec"]["template"]["spec"]["securityContext"]
    assert scoring == {
        "runAsNonRoot": True,
        "runAsUser": 20001,
        "runAsGroup": 20001,
        "fsGroup": 20001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for component in ("feature-engineering", "telemetry-forwarder", "retrain-controller"):
        assert deployment(manifests, component)["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
    forwarder = container(manifests, "telemetry-forwarder")["securityContext"]
    assert forwarder["privileged"] is False
    assert forwarder["readOnlyRootFilesystem"] is True  # the shared keys stay
    assert "privileged" not in container(manifests, "scoring")["securityContext"]


def test_topology_spread_selects_the_services_own_pods_unless_told_otherwise(render: Render) -> None:
    manifests = render(values_file=OPERATOR_VALUES)
    scoring = deployment(manifests, "scoring")
    zone, host = scoring["spec"]["template"]["spec"]["topologySpreadConstraints"]
    own = {"matchLabels": scoring["spec"]["selector"]["matchLabels"]}
    assert zone == {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": own,
    }
    assert host["labelSelector"] == own
    assert host["matchLabelKeys"] == ["pod-template-hash"]
    for component in ("feature-engineering", "telemetry-forwarder", "retrain-controller"):
        assert "topologySpreadConstraints" not in deployment(manifests, component)["spec"]["template"]["spec"]

    explicit = render(
        "scoring.topologySpreadConstraints[0].maxSkew=2",
        "scoring.topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
        "scoring.topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
        "scoring.topologySpreadConstraints[0].labelSelector.matchLabels.tier=serving",
    )
    [constraint] = deployment(explicit, "scoring")["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert constraint["labelSelector"] == {"matchLabels": {"tier": "serving"}}


def test_the_defaults_add_none_of_it(render: Render) -> None:
    manifests = render()
    for component in COMPONENTS:
        pod = deployment(manifests, component)["spec"]["template"]["spec"]
        assert "topologySpreadConstraints" not in pod
        assert {v["name"] for v in pod["volumes"]} <= {"data", "tmp", "registry", "datasets"}
        assert all(e["name"].startswith("DRIFTLOOP_") for e in container(manifests, component)["env"])
    kinds = {m["kind"] for m in manifests}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "Job"}
