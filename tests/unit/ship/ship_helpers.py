"""Shared by the shipping checks: paths, `helm template` and lookups in rendered manifests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "driftloop"
HELM = ROOT / "tools" / "cache" / "bin" / "helm"
KUBERNETES_VERSION = "1.33.0"  # the same as KUBERNETES_VERSION in tools/make/ship.mk
RELEASE = "demo"

Manifests = list[dict[str, Any]]
Render = Callable[..., Manifests]


def helm_template(helm: Path, *args: str, chart: Path = CHART) -> subprocess.CompletedProcess[str]:
    command = [str(helm), "template", RELEASE, str(chart), "--kube-version", KUBERNETES_VERSION, *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def find(manifests: Manifests, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def one(manifests: Manifests, kind: str, name: str) -> dict[str, Any]:
    [found] = find(manifests, kind, name)
    return found
