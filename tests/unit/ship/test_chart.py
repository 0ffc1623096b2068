"""Chart unit tests over real `helm template` output: what must hold for operators to trust an upgrade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from ship_helpers import CHART, KUBERNETES_VERSION, RELEASE, Manifests, Render, find, helm_template, one

AKS_VALUES = CHART / "ci" / "aks-values.yaml"
VALUE_SETS = {"default": None, "aks": AKS_VALUES}
COMPONENTS = ["scoring", "feature-engineering", "telemetry-forwarder", "retrain-controller"]
SECRET_VARIABLES = {
    "DRIFTLOOP_AUTH__API_KEYS",
    "DRIFTLOOP_AUTH__ADMIN_TOKEN",
    "DRIFTLOOP_WEBHOOK__SECRET",
    "DRIFTLOOP_BUS__CONNECTION_STRING",
    "DRIFTLOOP_STORE__URL",
    "DRIFTLOOP_AZURE_DEVOPS__TOKEN",
}


def name_of(component: str) -> str:
    return f"{RELEASE}-driftloop-{component}"


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def selectors(manifests: Manifests) -> dict[str, dict[str, str]]:
    found = {}
    for m in manifests:
        if m["kind"] in {"Deployment", "PodDisruptionBudget"}:
            found[f"{m['kind']}/{m['metadata']['name']}"] = m["spec"]["selector"]["matchLabels"]
        elif m["kind"] == "Service":
            found[f"Service/{m['metadata']['name']}"] = m["spec"]["selector"]
    return found


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_manifest_validates_against_the_kubernetes_schemas(render: Render, values: Path | None) -> None:
    manifests = render(values_file=values)
    assert {m["kind"] for m in manifests} >= {"Deployment", "Service", "ConfigMap", "Role", "RoleBinding"}
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_selectors_do_not_change_when_the_chart_or_app_version_does(render: Render, chart_copy: Path) -> None:
    before = selectors(render(values_file=AKS_VALUES))
    chart_file = chart_copy / "Chart.yaml"
    chart = yaml.safe_load(chart_file.read_text())
    chart.update(version="9.8.7", appVersion="9.8.7")
    chart_file.write_text(yaml.safe_dump(chart))
    after = selectors(render("image.tag=newer", values_file=AKS_VALUES, chart=chart_copy))
    assert after == before
    assert len(before) == 4 + 4 + 1  # four Deployments, four Services, the scoring PDB
    for labels in before.values():
        assert "helm.sh/chart" not in labels
        assert "app.kubernetes.io/version" not in labels
        assert set(labels) == {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}


def test_each_service_and_pdb_selects_exactly_its_own_pods(render: Render) -> None:
    manifests = render(values_file=AKS_VALUES)
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in find(manifests, "Deployment")}
    for kind in ("Service", "PodDisruptionBudget"):
        for obj in find(manifests, kind):
            selector = obj["spec"]["selector"] if kind == "Service" else obj["spec"]["selector"]["matchLabels"]
            matched = [name for name, labels in pods.items() if selector.items() <= labels.items()]
            assert matched == [obj["metadata"]["name"]], f"{kind} {obj['metadata']['name']} selects {matched}"


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_container_has_probes_on_the_named_http_port(render: Render, values: Path | None) -> None:
    deployments = find(render(values_file=values), "Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(name_of(c) for c in COMPONENTS)
    for deployment in deployments:
        c = container(deployment)
        assert [p["name"] for p in c["ports"]] == ["http"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert c[probe]["httpGet"]["port"] == "http", (deployment["metadata"]["name"], probe)
        assert c["resources"]["requests"]
        assert c["resources"]["limits"]
    scoring = container(one(deployments, "Deployment", name_of("scoring")))
    # Ready means the model is loaded; alive means the process answers.
    assert scoring["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert scoring["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


def test_pods_run_as_non_root_on_a_read_only_root(render: Render) -> None:
    for deployment in find(render(values_file=AKS_VALUES), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        c = container(deployment)
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert mounts == {"/tmp", "/var/lib/driftloop", "/var/lib/driftloop/registry"}


def test_rbac_allows_the_controller_exactly_get_and_patch_of_the_scoring_deployment(render: Render) -> None:
    manifests = render(values_file=AKS_VALUES)
    assert not find(manifests, "ClusterRole")
    assert not find(manifests, "ClusterRoleBinding")
    [role] = find(manifests, "Role")
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": [name_of("scoring")],
            "verbs": ["get", "patch"],
        }
    ]
    one(manifests, "Deployment", name_of("scoring"))  # the name in the Role is a real Deployment
    [binding] = find(manifests, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    controller = one(manifests, "Deployment", name_of("retrain-controller"))["spec"]["template"]["spec"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": controller["serviceAccountName"], "namespace": "default"}
    ]
    env = {e["name"]: e for e in container(one(manifests, "Deployment", name_of("retrain-controller")))["env"]}
    assert env["DRIFTLOOP_ROLLOUT__DEPLOYMENT"]["value"] == name_of("scoring")
    # Only the controller holds an API token; the others' account mounts none.
    for component in ("scoring", "feature-engineering", "telemetry-forwarder"):
        pod = one(manifests, "Deployment", name_of(component))["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] != controller["serviceAccountName"]
        assert pod["automountServiceAccountToken"] is False


def test_no_rbac_when_rollout_is_off(render: Render) -> None:
    manifests = render("retrainController.rollout.enabled=false")
    assert not find(manifests, "Role")
    assert not find(manifests, "RoleBinding")


def test_values_hold_no_secret_only_the_names_of_keys_in_an_existing_secret() -> None:
    for path in (CHART / "values.yaml", AKS_VALUES):
        values = yaml.safe_load(path.read_text())
        secrets = values.get("secrets", {})
        assert set(secrets) <= {"existingSecret", "keys"}, path
        for key_name in secrets.get("keys", {}).values():
            assert isinstance(key_name, str)
            assert len(key_name) < 40, f"{path}: {key_name!r} looks like a value, not a key name"
        text = path.read_text().lower()
        for marker in ("password=", "sharedaccesskey=", "accountkey=", "-----begin"):
            assert marker not in text, f"{path} holds something like a credential ({marker})"


def test_secret_settings_come_only_from_the_existing_secret(render: Render) -> None:
    manifests = render(values_file=AKS_VALUES)
    assert not find(manifests, "Secret")
    [config] = find(manifests, "ConfigMap")
    assert not SECRET_VARIABLES & set(config["data"])
    seen = set()
    for deployment in find(manifests, "Deployment"):
        for variable in container(deployment)["env"]:
            if variable["name"] in SECRET_VARIABLES:
                seen.add(variable["name"])
                assert "value" not in variable
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "driftloop-secrets"
    assert seen == SECRET_VARIABLES


def test_a_secret_setting_in_plain_values_is_refused_by_the_schema(helm: Path) -> None:
    result = helm_template(helm, "--set", "config.env.DRIFTLOOP_AUTH__ADMIN_TOKEN=hunter2")
    assert result.returncode != 0
    assert "DRIFTLOOP_AUTH__ADMIN_TOKEN" in result.stderr
    unknown = helm_template(helm, "--set", "scoring.replicas=3")  # a typo of replicaCount
    assert unknown.returncode != 0
    assert "replicas" in unknown.stderr


def test_configuration_reaches_the_services_as_driftloop_variables(render: Render) -> None:
    manifests = render(values_file=AKS_VALUES)
    [config] = find(manifests, "ConfigMap")
    assert all(name.startswith("DRIFTLOOP_") for name in config["data"])
    assert config["data"]["DRIFTLOOP_WEBHOOK__URL"] == f"http://{name_of('retrain-controller')}:8083/v1/retrain"
    assert config["data"]["DRIFTLOOP_FEATURES__URL"] == f"http://{name_of('feature-engineering')}:8081"
    assert config["data"]["DRIFTLOOP_REGISTRY__PATH"] == "/var/lib/driftloop/registry"
    assert config["data"]["DRIFTLOOP_BUS__COMPRESSION"] == "gzip"  # config.env
    for deployment in find(manifests, "Deployment"):
        c = container(deployment)
        assert c["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["DRIFTLOOP_HOST"] == "0.0.0.0"
        assert env["DRIFTLOOP_PORT"] == str(c["ports"][0]["containerPort"])
        assert all(name.startswith("DRIFTLOOP_") for name in env)
        # A change of the shared settings rolls the pods.
        assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    controller = {
        e["name"]: e.get("value") for e in container(one(manifests, "Deployment", name_of("retrain-controller")))["env"]
    }
    assert controller["DRIFTLOOP_AZURE_DEVOPS__ORGANIZATION"] == "contoso"
    assert controller["DRIFTLOOP_AZURE_DEVOPS__PIPELINE_ID"] == "42"


def test_images_come_from_the_registry_with_the_one_tag(render: Render) -> None:
    for deployment in find(render(values_file=AKS_VALUES), "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        assert container(deployment)["image"] == (
            f"driftloopacr.azurecr.io/driftloop-{component}:0123456789abcdef0123456789abcdef01234567"
        )


def test_scoring_autoscales_on_cpu_and_optionally_requests_per_second(render: Render) -> None:
    default = render()
    [hpa] = find(default, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name_of("scoring")}
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in one(default, "Deployment", name_of("scoring"))["spec"]  # the HPA owns it

    [aks_hpa] = find(render(values_file=AKS_VALUES), "HorizontalPodAutoscaler")
    assert [m["type"] for m in aks_hpa["spec"]["metrics"]] == ["Resource", "Pods"]
    assert aks_hpa["spec"]["metrics"][1]["pods"]["metric"]["name"] == "driftloop_requests_per_second"

    fixed = render("scoring.autoscaling.enabled=false", "scoring.replicaCount=3")
    assert not find(fixed, "HorizontalPodAutoscaler")
    assert one(fixed, "Deployment", name_of("scoring"))["spec"]["replicas"] == 3


def test_scoring_has_a_disruption_budget(render: Render) -> None:
    [pdb] = find(render(values_file=AKS_VALUES), "PodDisruptionBudget")
    assert pdb["metadata"]["name"] == name_of("scoring")
    assert pdb["spec"]["minAvailable"] == 2
    assert not find(render("scoring.podDisruptionBudget.enabled=false"), "PodDisruptionBudget")


def test_the_registry_is_one_shared_claim(render: Render) -> None:
    manifests = render(values_file=AKS_VALUES)
    [claim] = find(manifests, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "azurefile-csi-premium"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for deployment in find(manifests, "Deployment"):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["registry"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    existing = render("registry.persistence.existingClaim=models")
    assert not find(existing, "PersistentVolumeClaim")


def test_helm_test_hook_calls_the_scoring_api(render: Render) -> None:
    [pod] = find(render(values_file=AKS_VALUES), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["SCORING_URL"]["value"] == f"http://{name_of('scoring')}:8080"
    assert env["MODEL_NAME"]["value"] == "credit"
    assert env["API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "api-keys"
    script = c["args"][0]
    compile(script, "helm-test", "exec")  # the script the pod runs is valid Python
    assert "/v2/health/ready" in script


def test_ingress_routes_to_rendered_services(render: Render) -> None:
    manifests = render(values_file=AKS_VALUES)
    [ingress] = find(manifests, "Ingress")
    services = {s["metadata"]["name"] for s in find(manifests, "Service")}
    backends = [p["backend"]["service"]["name"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert backends == [name_of("scoring"), name_of("retrain-controller")]
    assert set(backends) <= services
    assert not find(render(), "Ingress")  # off by default


def test_notes_render_with_the_commands_for_this_release(render: Render, chart_copy: Path) -> None:
    # `helm template` skips NOTES.txt; render it through a throwaway template in a copy of the chart.
    (chart_copy / "notes.txt").write_text((chart_copy / "templates" / "NOTES.txt").read_text())
    (chart_copy / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n"
        '{{ tpl (.Files.Get "notes.txt") . | indent 4 }}\n'
    )
    notes = one(render(chart=chart_copy), "ConfigMap", "notes")["data"]["notes"]
    assert f"port-forward svc/{name_of('scoring')} 8080:8080" in notes
    assert f"helm test {RELEASE}" in notes
    assert "WARNING: secrets.existingSecret is empty" in notes
    aks_notes = one(render(values_file=AKS_VALUES, chart=chart_copy), "ConfigMap", "notes")["data"]["notes"]
    assert "https://driftloop.contoso.com/v1/models/credit/predict" in aks_notes
    assert "WARNING" not in aks_notes
