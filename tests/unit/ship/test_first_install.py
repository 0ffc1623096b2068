"""A first install that becomes Ready: the seed Job, and the `helm test` pod that asks for a prediction.

There is no cluster here, so the chain a first `helm install --wait` depends on is run piece by piece
with what the chart renders: the seed Job's own script and environment (on a registry directory
standing for the claim, fetching a CSV from a real HTTP server on 127.0.0.1), a real scoring process
started with the rendered ConfigMap and container environment, and the test pod's script against it.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from chart_processes import START_LIMIT_S, run_script, service_from_chart, serving_files, values_of
from ship_helpers import CHART, ROOT, Manifests, Render, find, helm_template

from driftloop.datasets import write_credit_csv
from driftloop.registry import Registry

SEED_SCRIPT = (CHART / "files" / "seed_model.py").read_text()
TEST_SCRIPT = (CHART / "files" / "helm_test.py").read_text()
SEED = ("seed.enabled=true", "seed.target=default", "seed.timeBudget=20", "seed.maxTrials=2")
KEYS = "first-key, second-key"  # DRIFTLOOP_AUTH__API_KEYS as the Secret holds it


def seed_job(manifests: Manifests) -> dict[str, Any]:
    [job] = find(manifests, "Job")
    return job


def seed_container(manifests: Manifests) -> dict[str, Any]:
    [only] = seed_job(manifests)["spec"]["template"]["spec"]["containers"]
    return only


def run(script: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_script(script, env, timeout=timeout)


@contextmanager
def scoring_from_chart(manifests: Manifests, tmp: Path, **overrides: str) -> Iterator[str]:
    """`driftloop serve scoring` with the rendered ConfigMap and container env; its base URL."""
    with service_from_chart(manifests, "scoring", tmp, **overrides) as base:
        yield base


def wait_until_ready(base: str) -> None:
    give_up = time.monotonic() + START_LIMIT_S
    while httpx.get(base + "/v2/health/ready", timeout=5).status_code != 200:
        assert time.monotonic() < give_up, "scoring never became ready after the seed"
        time.sleep(0.2)  # the registry watcher polls every 2 s


def helm_test_env(manifests: Manifests, base: str, key: str) -> dict[str, str]:
    [pod] = find(manifests, "Pod")
    env = values_of(pod["spec"]["containers"][0]["env"])
    return {**env, "SCORING_URL": base, "API_KEY": key, "READY_TIMEOUT_S": "0"}


# -- what the chart renders --------------------------------------------------------------------


def test_the_seed_job_is_an_object_of_the_release_not_a_hook(render: Render) -> None:
    manifests = render(*SEED, "seed.url=https://data.example.com/credit.csv")
    job = seed_job(manifests)
    # A hook would run too late (post-install: after --wait) or too early (pre-install: before the claim).
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "seed"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v
    }
    [scoring] = [d for d in find(manifests, "Deployment") if d["metadata"]["name"].endswith("-scoring")]
    scoring_claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in scoring["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"registry": scoring_claims["registry"]}  # where scoring reads models
    c = seed_container(manifests)
    assert c["args"][0] == SEED_SCRIPT
    env = values_of(c["env"])
    [config] = find(manifests, "ConfigMap")
    assert env["DRIFTLOOP_REGISTRY__PATH"] == config["data"]["DRIFTLOOP_REGISTRY__PATH"]
    assert env["MODEL_NAME"] == "credit"
    assert env["SEED_URL"] == "https://data.example.com/credit.csv"
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/var/lib/driftloop/registry", "/tmp"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["image"] == "driftloop-retrain-controller:0.1.0"  # the image with `driftloop train`
    assert not find(render(), "Job")  # off by default


def test_the_seed_job_is_renamed_exactly_when_its_pod_changes(render: Render) -> None:
    def name(*sets: str) -> str:
        return str(seed_job(render(*SEED, "seed.url=https://d.example.com/c.csv", *sets))["metadata"]["name"])

    first = name()
    assert first.startswith("demo-driftloop-seed-")
    assert name() == first
    assert name("scoring.replicaCount=5", "ingress.enabled=true") == first  # nothing of the Job's
    assert name("image.tag=next") != first  # a new image: a new Job, not a patch of an immutable one
    assert name("seed.timeBudget=30") != first


def test_a_bundle_on_the_datasets_volume_is_mounted_read_only(render: Render) -> None:
    path = "/var/lib/driftloop/datasets/sources/credit-bundle.tar.gz"
    manifests = render("seed.enabled=true", "seed.source=bundle", f"seed.path={path}")
    c = seed_container(manifests)
    assert values_of(c["env"])["SEED_PATH"] == path
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["datasets"] == {"name": "datasets", "mountPath": "/var/lib/driftloop/datasets", "readOnly": True}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["seed.enabled=true", "seed.target=y"], "exactly one of seed.url"),
        (
            [
                "seed.enabled=true",
                "seed.target=y",
                "seed.url=https://a/b.csv",
                "seed.path=/var/lib/driftloop/datasets/b.csv",
            ],
            "exactly one of seed.url",
        ),
        (["seed.enabled=true", "seed.url=https://a/b.csv"], "needs seed.target"),
        (["seed.enabled=true", "seed.source=bundle", "seed.path=/etc/passwd"], "under datasets.mountPath"),
        (
            ["seed.enabled=true", "seed.target=y", "seed.url=https://a/b.csv", "registry.persistence.enabled=false"],
            "registry.persistence",
        ),
        (["seed.enabled=true", "seed.target=y", "seed.url=ftp://a/b.csv"], "seed/url"),
    ],
)
def test_seed_values_that_cannot_work_are_refused_with_the_reason(helm: Path, sets: list[str], message: str) -> None:
    args = [arg for assignment in sets for arg in ("--set", assignment)]
    result = helm_template(helm, *args)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_notes_point_at_the_seed_when_there_is_one(render: Render, chart_copy: Path) -> None:
    (chart_copy / "notes.txt").write_text((chart_copy / "templates" / "NOTES.txt").read_text())
    (chart_copy / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n"
        '{{ tpl (.Files.Get "notes.txt") . | indent 4 }}\n'
    )

    def notes(*sets: str) -> str:
        [config] = [m for m in render(*sets, chart=chart_copy) if m["metadata"]["name"] == "notes"]
        return str(config["data"]["notes"])

    assert "app.kubernetes.io/component=seed" in notes(*SEED, "seed.url=https://d.example.com/c.csv")
    assert "seed.enabled" in notes()  # how to get a first model
    assert "driftloop train --data" in notes()


# -- the chain, run ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_first_install_turns_ready_once_seeded_and_answers_the_helm_test(render: Render, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_credit_csv(data / "credit.csv", 600, seed=3)
    registry_dir = tmp_path / "registry"
    with serving_files(data) as files:
        manifests = render(
            *SEED,
            f"seed.url={files}/credit.csv",
            f"registry.mountPath={registry_dir}",
            f"config.busUrl=sqlite:///{tmp_path / 'bus.db'}",
            "secrets.existingSecret=driftloop-secrets",
        )
        with scoring_from_chart(manifests, tmp_path, DRIFTLOOP_AUTH__API_KEYS=KEYS.replace(" ", "")) as base:
            # Empty registry: live, not ready, saying why in the body and the log; the helm test
            # says so rather than passing.
            not_ready = httpx.get(base + "/v2/health/ready")
            assert not_ready.status_code == 503
            assert not_ready.json()["reason"] == "no_model"
            assert f"no model in the registry at {registry_dir} yet" in not_ready.json()["message"]
            assert "seed.enabled" in not_ready.json()["message"]
            assert "scoring is not ready (no_model): no model in the registry" in (tmp_path / "scoring.log").read_text()
            early = run(TEST_SCRIPT, helm_test_env(manifests, base, KEYS))
            assert early.returncode != 0
            assert "not ready" in early.stderr

            seed_env = {**values_of(seed_container(manifests)["env"]), "TMPDIR": str(tmp_path), "HOME": str(tmp_path)}
            seeded = run(SEED_SCRIPT, seed_env)
            assert seeded.returncode == 0, seeded.stderr
            assert "registered credit@1 as champion" in seeded.stdout
            wait_until_ready(base)  # the registry watcher loads the seed: what --wait waits for

            passed = run(TEST_SCRIPT, helm_test_env(manifests, base, KEYS))
            assert passed.returncode == 0, passed.stderr
            assert "credit@1 answered 1 prediction(s)" in passed.stdout
            assert "/v1/models/credit/predict 200" in passed.stdout
            refused = run(TEST_SCRIPT, helm_test_env(manifests, base, "not-a-key"))
            assert refused.returncode != 0
            assert "401" in refused.stderr

    # Again (an upgrade, a retry, a reinstall over the kept claim): nothing is trained twice.
    again = run(SEED_SCRIPT, seed_env)
    assert again.returncode == 0, again.stderr
    assert "already has a champion (version 1): nothing to do" in again.stdout
    assert Registry(registry_dir).versions("credit") == [1]


def bundle_archive(version_dir: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        tar.add(version_dir, arcname="credit-v1")
    return target


@pytest.mark.slow
def test_a_bundle_is_imported_as_the_first_version_and_serves(render: Render, tmp_path: Path) -> None:
    source = tmp_path / "source-registry"
    csv = write_credit_csv(tmp_path / "credit.csv", 600, seed=4)
    train = ["train", "--data", str(csv), "--target", "default", "--name", "credit", "--registry", str(source)]
    trained = subprocess.run(
        [sys.executable, "-m", "driftloop.cli.main", *train, "--max-trials", "1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr
    datasets = tmp_path / "datasets"
    (datasets / "sources").mkdir(parents=True)
    archive = bundle_archive(Registry(source).resolve("credit").path, datasets / "sources" / "credit.tar.gz")
    registry_dir = tmp_path / "registry"
    manifests = render(
        "seed.enabled=true",
        "seed.source=bundle",
        f"seed.path={archive}",
        f"datasets.mountPath={datasets}",
        f"registry.mountPath={registry_dir}",
        f"config.busUrl=sqlite:///{tmp_path / 'bus.db'}",
    )
    seeded = run(SEED_SCRIPT, {**values_of(seed_container(manifests)["env"]), "TMPDIR": str(tmp_path)})
    assert seeded.returncode == 0, seeded.stderr
    imported = Registry(registry_dir).resolve("credit")
    assert imported.version == 1
    assert imported.model_path.read_bytes() == Registry(source).resolve("credit").model_path.read_bytes()
    assert imported.contract == Registry(source).resolve("credit").contract
    assert imported.document("lineage")["parent_version"] is None
    with scoring_from_chart(manifests, tmp_path) as base:
        wait_until_ready(base)
        passed = run(TEST_SCRIPT, helm_test_env(manifests, base, ""))
        assert passed.returncode == 0, passed.stderr


@pytest.mark.parametrize("kind", ["escape", "no-bundle"])
def test_an_archive_that_is_not_one_safe_bundle_is_refused(render: Render, tmp_path: Path, kind: str) -> None:
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    archive = datasets / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"not a model"
        member = tarfile.TarInfo("../../outside.onnx" if kind == "escape" else "notes/readme.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    registry_dir = tmp_path / "registry"
    manifests = render(
        "seed.enabled=true",
        "seed.source=bundle",
        f"seed.path={archive}",
        f"datasets.mountPath={datasets}",
        f"registry.mountPath={registry_dir}",
    )
    work = tmp_path / "work"
    work.mkdir()
    result = run(SEED_SCRIPT, {**values_of(seed_container(manifests)["env"]), "TMPDIR": str(work)})
    assert result.returncode != 0
    assert (
        ("outside the destination" in result.stderr)
        if kind == "escape"
        else ("must hold one directory" in result.stderr)
    )
    assert not list(tmp_path.rglob("outside.onnx"))
    assert Registry(registry_dir).models() == []


def test_cd_seeds_the_first_install_with_values_the_chart_takes(render: Render) -> None:
    deploy = yaml.safe_load((ROOT / "azure-pipelines" / "templates" / "helm-deploy.yml").read_text())
    [step] = [s for s in deploy["steps"] if "helm upgrade --install" in str(s.get("parameters", {}).get("script", ""))]
    script = step["parameters"]["script"]
    # --wait-for-jobs: a failed seed fails the release at once, naming the Job, instead of a timeout.
    assert "--atomic --wait --wait-for-jobs" in script
    assert step["parameters"]["env"] == {"SEED_URL": "${{ parameters.seedUrl }}"}
    keys = re.findall(r"--set(?:-string)? (seed\.\w+)=", script)
    assert sorted(keys) == ["seed.enabled", "seed.source", "seed.target", "seed.url"]
    sample = {"seed.enabled": "true", "seed.url": "https://d.example.com/c.csv", "seed.source": "train"}
    job = seed_job(render(*(f"{key}={sample.get(key, 'default')}" for key in keys)))
    assert values_of(job["spec"]["template"]["spec"]["containers"][0]["env"])["SEED_TARGET"] == "default"
    cd = yaml.safe_load((ROOT / "azure-pipelines" / "cd.yml").read_text())
    for stage in cd["stages"]:
        [template] = stage["jobs"][0]["strategy"]["runOnce"]["deploy"]["steps"]
        assert template["parameters"]["seedUrl"] == "$(DRIFTLOOP_SEED_URL)"
    defaults = {v["name"]: v.get("value") for v in cd["variables"] if "name" in v}
    assert defaults["DRIFTLOOP_SEED_URL"] == ""  # no group value: no seed, and no literal "$(...)" passed on
