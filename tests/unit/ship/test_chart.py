"""Chart unit tests over real `helm template` output: what must hold for operators to trust an upgrade."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from manifest_schemas import problems
from ship_helpers import CHART, HELM, KUBERNETES_VERSION, RELEASE, Manifests, Render, find, helm_template, one

AKS_VALUES = CHART / "ci" / "aks-values.yaml"
VALUE_SETS = {"default": None, "aks": AKS_VALUES}
EVERY_VALUE_SET = {"default": None, **{path.stem: path for path in sorted((CHART / "ci").glob("*.yaml"))}}
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


@pytest.mark.parametrize("values", EVERY_VALUE_SET.values(), ids=EVERY_VALUE_SET.keys())
def test_every_manifest_validates_against_the_kubernetes_schemas(render: Render, values: Path | None) -> None:
    """Kubernetes kinds strictly against 1.33's schemas; ServiceMonitor and PrometheusRule against their CRDs."""
    manifests = render(values_file=values)
    assert {m["kind"] for m in manifests} >= {"Deployment", "Service", "ConfigMap", "Role", "RoleBinding"}
    found = [problem for manifest in manifests for problem in problems(manifest, KUBERNETES_VERSION)]
    assert found == []


def test_the_value_sets_cover_every_optional_kind(render: Render) -> None:
    kinds = {m["kind"] for values in EVERY_VALUE_SET.values() for m in render(values_file=values)}
    assert kinds >= {"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "Job", "Ingress", "PersistentVolumeClaim"}


def test_a_plain_helm_template_renders_without_a_kube_version(helm: Path) -> None:
    # What a first-time user types: helm's default cluster version (v1.20) must not refuse the chart.
    result = subprocess.run([str(HELM), "template", "rel", str(CHART)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc}
    assert {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert "kubeVersion" not in yaml.safe_load((CHART / "Chart.yaml").read_text())


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
        grpc = ["grpc"] if deployment["metadata"]["name"] == name_of("scoring") else []  # test_chart_grpc.py
        assert [p["name"] for p in c["ports"]] == ["http", *grpc]
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
        expected = {"/tmp", "/var/lib/driftloop", "/var/lib/driftloop/registry"}
        if deployment["metadata"]["name"] in {name_of("feature-engineering"), name_of("retrain-controller")}:
            expected.add("/var/lib/driftloop/datasets")
        assert mounts == expected


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
    assert env["DRIFTLOOP_ROLLOUT__ENABLED"]["value"] == "true"
    # The release namespace, from the downward API (the Role and the Deployment live there too).
    assert env["DRIFTLOOP_ROLLOUT__NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert controller["automountServiceAccountToken"] is True
    # Only the controller holds an API token; the others' account mounts none.
    for component in ("scoring", "feature-engineering", "telemetry-forwarder"):
        pod = one(manifests, "Deployment", name_of(component))["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] != controller["serviceAccountName"]
        assert pod["automountServiceAccountToken"] is False


def test_the_rollout_variables_are_the_ones_the_controller_reads() -> None:
    from driftloop_controller.rollout import PATCH_CONTENT_TYPE, champion_patch
    from driftloop_controller.settings import ControllerSettings, RolloutSettings

    assert {"enabled", "namespace", "deployment"} <= set(RolloutSettings.model_fields)
    assert ControllerSettings.model_fields["rollout"].annotation is RolloutSettings
    # What the Role's "patch" must cover: a strategic merge patch of the pod template's annotations only.
    assert PATCH_CONTENT_TYPE == "application/strategic-merge-patch+json"
    patch = champion_patch("credit", 3)
    assert patch == {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"driftloop.io/champion-version": "3", "driftloop.io/champion-model": "credit"}
                }
            }
        }
    }


def test_no_rbac_when_rollout_is_off(render: Render) -> None:
    manifests = render("retrainController.rollout.enabled=false")
    assert not find(manifests, "Role")
    assert not find(manifests, "RoleBinding")
    env = {e["name"] for e in container(one(manifests, "Deployment", name_of("retrain-controller")))["env"]}
    assert not {n for n in env if n.startswith("DRIFTLOOP_ROLLOUT__")}


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
    [claim] = find(manifests, "PersistentVolumeClaim", "demo-driftloop-registry")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "azurefile-csi-premium"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for deployment in find(manifests, "Deployment"):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["registry"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    existing = render("registry.persistence.existingClaim=models")
    assert not find(existing, "PersistentVolumeClaim", "demo-driftloop-registry")


def test_training_sets_are_on_a_claim_shared_by_feature_engineering_and_the_controller(render: Render) -> None:
    manifests = render(values_file=AKS_VALUES)
    [claim] = find(manifests, "PersistentVolumeClaim", "demo-driftloop-datasets")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    mounted = set()
    for deployment in find(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
        if "datasets" in volumes:
            assert volumes["datasets"]["persistentVolumeClaim"]["claimName"] == "demo-driftloop-datasets"
            assert mounts["datasets"] == "/var/lib/driftloop/datasets"
            mounted.add(deployment["metadata"]["name"])
    assert mounted == {name_of("feature-engineering"), name_of("retrain-controller")}
    features = {
        e["name"]: e.get("value")
        for e in container(one(manifests, "Deployment", name_of("feature-engineering")))["env"]
    }
    # Snapshots are written where the controller reads them (the manifests carry absolute paths).
    assert features["DRIFTLOOP_FEATURES__DATASETS_DIR"] == "/var/lib/driftloop/datasets"
    assert features["DRIFTLOOP_FEATURES__SOURCES"] == "{}"

    sources = render("featureEngineering.sources.credit=/var/lib/driftloop/datasets/sources/credit.csv")
    env = {
        e["name"]: e.get("value") for e in container(one(sources, "Deployment", name_of("feature-engineering")))["env"]
    }
    assert json.loads(env["DRIFTLOOP_FEATURES__SOURCES"]) == {
        "credit": "/var/lib/driftloop/datasets/sources/credit.csv"
    }
    assert not find(
        render("datasets.persistence.existingClaim=sets"), "PersistentVolumeClaim", "demo-driftloop-datasets"
    )


def test_feature_engineering_reads_the_rendered_variables(render: Render, monkeypatch: pytest.MonkeyPatch) -> None:
    from driftloop_features.settings import FeaturesSettings

    manifests = render("featureEngineering.sources.credit=/var/lib/driftloop/datasets/sources/credit.csv")
    for variable in container(one(manifests, "Deployment", name_of("feature-engineering")))["env"]:
        if "value" in variable:
            monkeypatch.setenv(variable["name"], variable["value"])
    settings = FeaturesSettings()
    assert settings.features.datasets_dir == Path("/var/lib/driftloop/datasets")
    assert settings.features.sources == {"credit": Path("/var/lib/driftloop/datasets/sources/credit.csv")}


def test_helm_test_hook_calls_the_scoring_api(render: Render) -> None:
    [pod] = find(render(values_file=AKS_VALUES), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    # Its own component label: scoring's Service, PDB and NetworkPolicy do not select it.
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "test"
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["SCORING_URL"]["value"] == f"http://{name_of('scoring')}:8080"
    assert env["MODEL_NAME"]["value"] == "credit"
    assert env["API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "api-keys"
    assert env["API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "driftloop-secrets"
    assert "RECORDS" not in env  # built from the model's metadata
    # The pod runs files/helm_test.py as it is in the chart (tests/unit/ship/test_first_install.py runs it).
    assert c["args"][0] == (CHART / "files" / "helm_test.py").read_text()
    # Without an existing Secret there are no keys, so nothing to send.
    [open_pod] = find(render(), "Pod")
    assert "API_KEY" not in {e["name"] for e in open_pod["spec"]["containers"][0]["env"]}
    [given] = find(render("tests.records[0].age=41", "tests.records[0].purpose=car"), "Pod")
    given_env = {e["name"]: e.get("value") for e in given["spec"]["containers"][0]["env"]}
    assert json.loads(given_env["RECORDS"]) == [{"age": 41, "purpose": "car"}]


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


def test_training_jobs_add_exactly_create_and_status_reads_of_jobs(render: Render) -> None:
    default_rules = find(render(), "Role")[0]["rules"]
    assert all(rule["apiGroups"] == ["apps"] for rule in default_rules)  # in-process training: no Jobs

    manifests = render("retrainController.training.mode=kubernetes-job")
    [role] = find(manifests, "Role")
    assert role["rules"][1:] == [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
        {"apiGroups": ["batch"], "resources": ["jobs/status"], "verbs": ["get"]},
    ]
    # Jobs alone (no rollout) still get their Role, and the token to use it.
    jobs_only = render("retrainController.training.mode=kubernetes-job", "retrainController.rollout.enabled=false")
    [role] = find(jobs_only, "Role")
    assert [rule["apiGroups"] for rule in role["rules"]] == [["batch"], ["batch"]]
    controller = one(jobs_only, "Deployment", name_of("retrain-controller"))["spec"]["template"]["spec"]
    assert controller["automountServiceAccountToken"] is True


def test_the_training_job_variables_are_the_ones_the_controller_reads(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftloop_controller.settings import ControllerSettings

    manifests = render("retrainController.training.mode=kubernetes-job", values_file=AKS_VALUES)
    deployment = one(manifests, "Deployment", name_of("retrain-controller"))
    env = {e["name"]: e for e in container(deployment)["env"]}
    assert env["DRIFTLOOP_TRAINING_JOB__NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    monkeypatch.setenv("DRIFTLOOP_TRAINING_JOB__NAMESPACE", "driftloop")  # what the downward API gives
    for name, variable in env.items():
        if name.startswith("DRIFTLOOP_TRAINING_JOB__") and "value" in variable:
            monkeypatch.setenv(name, variable["value"])
    settings = ControllerSettings().training_job
    assert settings.enabled
    # Same image as the controller; the claims the chart made; the mount feature-engineering writes to.
    assert settings.image == container(deployment)["image"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v}
    assert settings.registry_claim == claims["registry"]
    assert settings.datasets_claim == claims["datasets"]
    assert str(settings.datasets_mount) == "/var/lib/driftloop/datasets"
    assert settings.resources == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}
    assert settings.name_prefix == "demo-driftloop-train"


def test_training_jobs_need_the_shared_claims(helm: Path) -> None:
    result = helm_template(
        helm, "--set", "retrainController.training.mode=kubernetes-job", "--set", "datasets.persistence.enabled=false"
    )
    assert result.returncode != 0
    assert "needs registry.persistence and datasets.persistence" in result.stderr


def test_the_policy_is_one_configmap_the_forwarder_and_the_controller_read(
    render: Render, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from driftloop.policy import parse_policy
    from driftloop_controller.settings import ControllerSettings

    operator = CHART / "ci" / "operator-values.yaml"
    manifests = render(values_file=operator)
    policy_map = one(manifests, "ConfigMap", f"{RELEASE}-driftloop-policy")
    # What the services will parse is what the values said, validated by the same models.
    policy = parse_policy(policy_map["data"]["policy.yaml"])
    assert policy == parse_policy(yaml.safe_dump(yaml.safe_load(operator.read_text())["policy"]))
    assert policy.retrain.training.time_budget == 120
    assert [rule.name for rule in policy.rules] == ["performance-drop", "feature-drift"]

    readers = {"telemetry-forwarder", "retrain-controller"}
    for component in COMPONENTS:
        deployment = one(manifests, "Deployment", name_of(component))
        pod, env = deployment["spec"]["template"], {e["name"]: e.get("value") for e in container(deployment)["env"]}
        mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
        if component not in readers:
            assert "DRIFTLOOP_POLICY" not in env
            assert "policy" not in mounts
            continue
        assert env["DRIFTLOOP_POLICY"] == "/etc/driftloop/policy/policy.yaml"
        assert mounts["policy"] == {"name": "policy", "mountPath": "/etc/driftloop/policy", "readOnly": True}
        [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "policy"]
        assert volume["configMap"]["name"] == policy_map["metadata"]["name"]
        assert pod["metadata"]["annotations"]["checksum/policy"]  # a new policy rolls the pods that read it

    # The controller's settings read the rendered variable; the file it names parses as above.
    controller = container(one(manifests, "Deployment", name_of("retrain-controller")))
    monkeypatch.setenv(
        "DRIFTLOOP_POLICY", next(e["value"] for e in controller["env"] if e["name"] == "DRIFTLOOP_POLICY")
    )
    assert ControllerSettings().policy == "/etc/driftloop/policy/policy.yaml"


def test_without_a_policy_nothing_is_mounted_and_the_packaged_defaults_apply(render: Render) -> None:
    manifests = render()
    assert not find(manifests, "ConfigMap", f"{RELEASE}-driftloop-policy")
    for deployment in find(manifests, "Deployment"):
        assert "DRIFTLOOP_POLICY" not in {e["name"] for e in container(deployment)["env"]}
        assert "checksum/policy" not in deployment["spec"]["template"]["metadata"]["annotations"]
