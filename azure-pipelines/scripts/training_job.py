"""The retrain pipeline's training Job, built from the retrain-controller's Deployment (standard library only).

    kubectl get deploy <controller> -o json | python3 training_job.py --name retrain-<id> --model credit \
        --data <datasets>/<sha256>/train.parquet [--config <datasets>/jobs/<job>.yaml | --target default]

The Job runs ``driftloop train`` from the controller's image (the same code) with the controller's
pod and container security contexts and image pull secrets, and mounts the controller's two claims
where the controller mounts them: the registry (it registers the challenger there) and the training
sets (read-only: the snapshot and the configuration the controller wrote). Prints the Job as JSON
for ``kubectl apply -f -``; a training file outside the datasets mount is refused, naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def claim_of(pod: dict[str, Any], container: dict[str, Any], volume: str) -> tuple[str, str]:
    """The claim behind one of the controller's volumes, and where the controller mounts it."""
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod.get("volumes", [])}
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    if not claims.get(volume) or volume not in mounts:
        raise SystemExit(
            f"the retrain-controller has no {volume!r} claim mounted: "
            f"install the chart with {volume}.persistence enabled"
        )
    return str(claims[volume]), mounts[volume]


def job_manifest(deployment: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    registry_claim, registry_path = claim_of(pod, container, "registry")
    datasets_claim, datasets_path = claim_of(pod, container, "datasets")
    for option, path in (("--data", args.data), ("--config", args.config)):
        if path and not path.startswith(datasets_path.rstrip("/") + "/"):
            raise SystemExit(
                f"{option} {path} is not on the datasets volume ({datasets_path}): the Job could not read it"
            )
    command = ["driftloop", "train", "--data", args.data, "--name", args.model, "--registry", registry_path, "--quiet"]
    command += ["--config", args.config] if args.config else ["--target", args.target]
    labels = {
        "app.kubernetes.io/part-of": "driftloop",
        "app.kubernetes.io/component": "retrain-job",
        **({"driftloop.io/retrain-job": args.job_id[:63]} if args.job_id else {}),
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": pod.get("securityContext", {}),
        "containers": [
            {
                "name": "train",
                "image": container["image"],
                "command": command,
                "securityContext": container.get("securityContext", {}),
                "resources": json.loads(args.resources),
                "volumeMounts": [
                    {"name": "registry", "mountPath": registry_path},
                    {"name": "datasets", "mountPath": datasets_path, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [
            {"name": "registry", "persistentVolumeClaim": {"claimName": registry_claim}},
            {"name": "datasets", "persistentVolumeClaim": {"claimName": datasets_claim, "readOnly": True}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if pod.get("imagePullSecrets"):
        spec["imagePullSecrets"] = pod["imagePullSecrets"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": args.name, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="the Job's name")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="the training set, a path on the datasets volume")
    parser.add_argument("--config", default="", help="the training configuration (has the target)")
    parser.add_argument("--target", default="", help="the target column, without --config")
    parser.add_argument("--job-id", default="", help="the retrain job this run works for (a label)")
    parser.add_argument(
        "--resources",
        default='{"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}',
    )
    args = parser.parse_args(argv)
    if not (args.config or args.target):
        parser.error("give --config or --target")
    json.dump(job_manifest(json.load(sys.stdin), args), sys.stdout)


if __name__ == "__main__":
    main()
