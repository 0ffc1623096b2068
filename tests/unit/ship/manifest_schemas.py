"""Rendered manifests against their schemas: Kubernetes kinds through kubernetes-validate (strict),
the prometheus-operator kinds (ServiceMonitor, PrometheusRule) through their CRDs' openAPIV3Schema.

The CRDs are generated from the operator's API types by controller-gen (`make crd-schemas`, into
tools/cache/crds). An openAPIV3Schema is turned into a JSON Schema the way kubeconform's strict mode
does: an object with declared properties refuses any other property (what the API server's strict
field validation refuses, rather than pruning silently), ``x-kubernetes-int-or-string`` is an integer
or a string, ``nullable`` admits null. CEL rules (``x-kubernetes-validations``) are not evaluated.

Also a command line for `make chart-check`: ``python manifest_schemas.py --kubernetes-version V
--crds DIR FILE...``; exits 1 with every problem listed.
"""

from __future__ import annotations

import argparse
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_OPERATOR_VERSION = "v0.95.2"  # the same as PROMETHEUS_OPERATOR_VERSION in tools/make/ship.mk
CRDS = ROOT / "tools" / "cache" / "crds" / f"prometheus-operator-{PROMETHEUS_OPERATOR_VERSION}"
CRD_FILES = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}


def strict_json_schema(schema: Any) -> Any:
    """An openAPIV3Schema (one node and everything under it) as a strict JSON Schema."""
    if isinstance(schema, list):
        return [strict_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("x-kubernetes-int-or-string"):
        rest = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "type"}
        return {**rest, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            converted[key] = {name: strict_json_schema(sub) for name, sub in value.items()}
        elif key in {"items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"}:
            converted[key] = strict_json_schema(value)
        else:
            converted[key] = value
    if schema.get("nullable") and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and "additionalProperties" not in schema and not preserve:
        converted["additionalProperties"] = False
    return converted


@cache
def crd_validator(crds: Path, api_version: str, kind: str) -> jsonschema.Draft7Validator:
    path = crds / CRD_FILES[(api_version, kind)]
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make crd-schemas` (controller-gen over the operator's types)")
    crd = yaml.safe_load(path.read_text())
    version = api_version.split("/")[1]
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(strict_json_schema(served["schema"]["openAPIV3Schema"]))


def problems(manifest: dict[str, Any], kubernetes_version: str, crds: Path = CRDS) -> list[str]:
    """Every schema problem of one manifest (empty: valid)."""
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    name = f"{key[1]}/{manifest.get('metadata', {}).get('name')}"
    if key in CRD_FILES:
        validator = crd_validator(crds, *key)
        return [
            f"{name}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(manifest)
        ]
    try:
        kubernetes_validate.validate(manifest, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{name}: {error.message}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--crds", type=Path, default=CRDS)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    found = []
    count = 0
    for path in args.files:
        for manifest in yaml.safe_load_all(path.read_text()):
            if manifest:
                count += 1
                found += [f"{path}: {problem}" for problem in problems(manifest, args.kubernetes_version, args.crds)]
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"{count} manifests in {len(args.files)} files: {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
