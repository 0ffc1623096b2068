"""The Dockerfiles against what they install: the shared list files, the cached dependency layer,
non-root, health checks, labels; and docker/install.py's resolution of a list into requirements.

hadolint (`make images-lint`) lints the files; `make images-check` proves the install step works.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from ship_helpers import ROOT

# docker/install.py is a standalone script (standard library only), not part of a package.
_spec = importlib.util.spec_from_file_location("driftloop_docker_install", ROOT / "docker" / "install.py")
assert _spec is not None
assert _spec.loader is not None
install = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(install)

DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
PORTS = {"scoring": 8080, "feature-engineering": 8081, "telemetry-forwarder": 8082, "retrain-controller": 8083}
MODULES = {
    "scoring": "driftloop_scoring",
    "feature-engineering": "driftloop_features",
    "telemetry-forwarder": "driftloop_forwarder",
    "retrain-controller": "driftloop_controller",
}


def service_of(dockerfile: Path) -> str:
    return dockerfile.name.removesuffix(".Dockerfile")


def test_one_dockerfile_per_service() -> None:
    assert sorted(service_of(d) for d in DOCKERFILES) == sorted(PORTS)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=service_of)
def test_dependencies_are_a_layer_of_their_own_before_the_code(dockerfile: Path) -> None:
    service = service_of(dockerfile)
    text = dockerfile.read_text()
    listing = f"docker/images/{service}.txt"
    deps_at = text.index(f"install.py deps {listing}")
    code_at = text.index(f"install.py code {listing}")
    packages = install.read_list(ROOT / listing, ROOT)
    for directory, _ in packages:
        relative = directory.relative_to(ROOT).as_posix()
        # Only the pyproject before the dependency step, the sources between it and the code step.
        assert text.index(f"COPY {relative}/pyproject.toml {relative}/") < deps_at
        assert deps_at < text.index(f"COPY {relative}/ {relative}/") < code_at
    assert text.index(f"COPY {listing} docker/images/") < deps_at


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=service_of)
def test_runtime_stage_is_slim_non_root_healthy_and_labelled(dockerfile: Path) -> None:
    service = service_of(dockerfile)
    text = dockerfile.read_text()
    runtime = text[text.index("AS runtime") :]
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert runtime.count("FROM ") == 0  # the runtime is the last stage
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    for label in ("version", "revision", "source"):
        assert f'org.opencontainers.image.{label}="${{{label.upper()}}}"' in runtime
    assert f"EXPOSE {PORTS[service]}" in runtime
    assert f"DRIFTLOOP_PORT={PORTS[service]}" in runtime
    health = "/v2/health/live" if service == "scoring" else "/healthz"
    assert "HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3" in runtime
    assert f'CMD ["python", "/usr/local/lib/driftloop/healthcheck.py", "{health}"]' in runtime
    assert f'ENTRYPOINT ["python", "-m", "{MODULES[service]}"]' in runtime
    assert 'VOLUME ["/var/lib/driftloop", "/tmp"]' in runtime


def test_the_scoring_image_resolves_to_no_scikit_learn() -> None:
    requirements = install.third_party_requirements(install.read_list(ROOT / "docker/images/scoring.txt", ROOT))
    names = {install._split(r)[0] for r in requirements}
    assert {"onnxruntime", "aiokafka", "azure-eventhub"} <= names
    assert not names & {"scikit-learn", "skl2onnx", "scipy", "pandas"}


def write_project(root: Path, directory: str, name: str, dependencies: list[str], extras: dict[str, list[str]]) -> None:
    # TOML arrays of strings are written exactly like JSON arrays.
    optional = "".join(f"{key} = {json.dumps(value)}\n" for key, value in extras.items())
    text = f'[project]\nname = "{name}"\ndependencies = {json.dumps(dependencies)}\n'
    (root / directory).mkdir(parents=True)
    (root / directory / "pyproject.toml").write_text(text + f"[project.optional-dependencies]\n{optional}")


def test_install_follows_extras_that_one_listed_package_asks_of_another(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        "services/common",
        "driftloop",
        ["numpy>=1.26"],
        {"train": ["scikit-learn>=1.5"], "kafka": ["aiokafka>=0.11"]},
    )
    write_project(tmp_path, "services/controller", "driftloop-controller", ["driftloop[train]", "fastapi>=0.115"], {})
    listing = tmp_path / "docker" / "images" / "controller.txt"
    listing.parent.mkdir(parents=True)
    listing.write_text("# comment\nservices/common\nservices/controller\n")
    packages = install.read_list(listing, tmp_path)
    assert [d.relative_to(tmp_path).as_posix() for d, _ in packages] == ["services/common", "services/controller"]
    assert install.third_party_requirements(packages) == ["numpy>=1.26", "fastapi>=0.115", "scikit-learn>=1.5"]

    listing.write_text("services/common[kafka]\n")
    assert install.third_party_requirements(install.read_list(listing, tmp_path)) == ["numpy>=1.26", "aiokafka>=0.11"]


def test_an_empty_list_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "empty.txt"
    listing.write_text("# nothing\n")
    with pytest.raises(SystemExit, match="names no package"):
        install.read_list(listing, tmp_path)


def test_dockerignore_keeps_the_context_to_what_the_images_copy() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    assert {"!docker/install.py", "!docker/healthcheck.py", "!docker/images/", "!services/"} <= set(lines)
