"""A stand-in of ``kubectl`` (not kubectl) for running the retrain pipeline's scripts here, over a rendered
chart whose pods are processes on 127.0.0.1 (chart_processes.py).

It does what each command the pipeline uses does, with real effects, and refuses anything else:

- ``get deploy NAME -o json``: the rendered Deployment;
- ``exec -i deploy/NAME -- CMD...``: CMD with that pod's rendered environment (plus the process's
  overrides), stdin passed through, in the pod's place (``python`` is this interpreter);
- ``apply -f -``: a batch/v1 Job from stdin, checked against the Kubernetes schema, its container's
  command run here to completion (the kubelet's part), its output kept for ``logs``;
- ``get job NAME -o jsonpath={.status.succeeded}`` / ``{.status.failed}``, ``logs job/NAME``;
- ``port-forward svc/NAME LOCAL:REMOTE``: TCP from 127.0.0.1:LOCAL to the Service's process, until killed;
- ``rollout status deploy/NAME``: done when every replica would serve the new pod template, i.e. when
  the scoring process serves the registry's champion (its registry watcher has swapped it in).

State: the JSON file named by ``KUBECTL_STANDIN`` (see ``write_state``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROLLOUT_LIMIT_S = 60.0


def write_state(
    path: Path,
    *,
    deployments: dict[str, dict[str, Any]],
    pod_env: dict[str, dict[str, str]],
    services: dict[str, str],
    jobs_dir: Path,
    scoring: dict[str, str] | None = None,
) -> None:
    """``deployments`` and ``pod_env`` by Deployment name, ``services`` (base URLs) by Service name;
    ``scoring``: {"url", "api_key", "model", "registry"} for ``rollout status``."""
    jobs_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "deployments": deployments,
        "pod_env": pod_env,
        "services": services,
        "jobs_dir": str(jobs_dir),
        "scoring": scoring,
    }
    path.write_text(json.dumps(state))


def install(bin_dir: Path, state: Path) -> dict[str, str]:
    """``kubectl`` (this stand-in), ``az`` and ``kubelogin`` (logins that have nothing to do here) in
    ``bin_dir``; the environment that puts them first on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "kubectl").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    for login in ("az", "kubelogin"):
        (bin_dir / login).write_text(f'#!/bin/sh\necho "{login} $*: (stand-in: nothing to log in to)"\n')
    for tool in ("kubectl", "az", "kubelogin"):
        (bin_dir / tool).chmod(0o755)
    python_dir = Path(sys.executable).parent  # `python3` and `driftloop` of this environment
    return {"PATH": f"{bin_dir}{os.pathsep}{python_dir}{os.pathsep}{os.environ['PATH']}", "KUBECTL_STANDIN": str(state)}


def fail(message: str) -> None:
    sys.stderr.write(f"kubectl (stand-in): {message}\n")
    raise SystemExit(1)


def options(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and ``-n``/``-o``/``-f`` values (the only flags the pipeline passes)."""
    positional, flags = [], {}
    items = iter(args)
    for arg in items:
        if arg in ("-n", "--namespace", "-o", "-f", "--timeout"):
            flags[arg.lstrip("-")[0]] = next(items)
        elif arg.startswith("--timeout="):
            flags["t"] = arg.split("=", 1)[1]
        elif arg == "-i":
            flags["i"] = "true"
        else:
            positional.append(arg)
    return positional, flags


def job_file(state: dict[str, Any], name: str) -> Path:
    return Path(state["jobs_dir"]) / f"{name}.json"


def apply(state: dict[str, Any]) -> None:
    sys.path.insert(0, str(HERE))
    from manifest_schemas import problems  # the chart tests' own check
    from ship_helpers import KUBERNETES_VERSION

    manifest = json.load(sys.stdin)
    found = problems(manifest, KUBERNETES_VERSION)
    if manifest.get("kind") != "Job" or found:
        fail(f"the API server would refuse this {manifest.get('kind')}: {found}")
    name = manifest["metadata"]["name"]
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    run = subprocess.run(
        container["command"], env={"PATH": os.environ["PATH"], "HOME": state["jobs_dir"], **env},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    status = {"succeeded": 1} if run.returncode == 0 else {"failed": 1}
    job_file(state, name).write_text(
        json.dumps({"manifest": manifest, "status": status, "log": run.stdout + run.stderr})
    )
    print(f"job.batch/{name} created")


def get(state: dict[str, Any], positional: list[str], flags: dict[str, str]) -> None:
    kind, name = positional[1], positional[2]
    if kind in ("deploy", "deployment") and flags.get("o") == "json":
        if name not in state["deployments"]:
            fail(f'Error from server (NotFound): deployments.apps "{name}" not found')
        print(json.dumps(state["deployments"][name]))
    elif kind == "job" and flags.get("o", "").startswith("jsonpath="):
        field = flags["o"].removeprefix("jsonpath=").strip("'")
        status = json.loads(job_file(state, name).read_text())["status"]
        key = {"{.status.succeeded}": "succeeded", "{.status.failed}": "failed"}.get(field)
        if key is None:
            fail(f"jsonpath {field} is not one this stand-in answers")
        print(status.get(key, ""), end="")
    else:
        fail(f"get {' '.join(positional[1:])} {flags} is not one this stand-in answers")


def forward(local: int, target: str) -> None:
    url = urlsplit(target)
    listener = socket.create_server(("127.0.0.1", local))

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    print(f"Forwarding from 127.0.0.1:{local} -> {target}", flush=True)
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection((url.hostname, url.port))
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


def rollout_status(state: dict[str, Any]) -> None:
    import httpx

    from driftloop.registry import Registry

    scoring = state["scoring"]
    champion = str(Registry(scoring["registry"]).resolve(scoring["model"]).version)  # V2 metadata: a string
    give_up = time.monotonic() + ROLLOUT_LIMIT_S
    url = f"{scoring['url']}/v2/models/{scoring['model']}"
    while httpx.get(url, headers={"X-API-Key": scoring["api_key"]}).json()["parameters"]["version"] != champion:
        if time.monotonic() > give_up:
            fail("the rollout did not finish: scoring still serves the old champion")
        time.sleep(0.2)  # scoring's registry watcher polls the registry
    print("deployment successfully rolled out")


def main(args: list[str]) -> None:
    state = json.loads(Path(os.environ["KUBECTL_STANDIN"]).read_text())
    if "--" in args:
        args, command = args[: args.index("--")], args[args.index("--") + 1 :]
    else:
        command = []
    positional, flags = options(args)
    verb = positional[0] if positional else ""
    if verb == "get":
        get(state, positional, flags)
    elif verb == "apply" and flags.get("f") == "-":
        apply(state)
    elif verb == "logs" and positional[1].startswith("job/"):
        print(json.loads(job_file(state, positional[1].removeprefix("job/")).read_text())["log"], end="")
    elif verb == "exec" and positional[1].startswith("deploy/") and command:
        name = positional[1].removeprefix("deploy/")
        program = [sys.executable] if command[0] == "python" else [command[0]]
        env = {**os.environ, **state["pod_env"][name]}
        raise SystemExit(subprocess.run([*program, *command[1:]], env=env, check=False).returncode)
    elif verb == "port-forward" and positional[1].startswith("svc/"):
        local = int(positional[2].split(":")[0])
        forward(local, state["services"][positional[1].removeprefix("svc/")])
    elif verb == "rollout" and positional[1] == "status":
        rollout_status(state)
    else:
        fail(f"{' '.join(args)} is not a command this stand-in runs")


if __name__ == "__main__":
    main(sys.argv[1:])
