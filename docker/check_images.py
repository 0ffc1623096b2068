"""Prove each image's install step works without a Docker engine (``make images-check``).

For every ``docker/<service>.Dockerfile``: create a fresh virtualenv under tools/cache/images/,
run the very ``docker/install.py`` commands that the Dockerfile's RUN lines run (read from the
Dockerfile, not restated here), check that the scoring environment cannot import scikit-learn,
then start the image's entry point (``python -m <module>`` from its ENTRYPOINT; ``uvicorn --factory
<module>.app:create_app`` while the package has no ``__main__.py`` yet) on a free 127.0.0.1 port with
a throwaway DRIFTLOOP_* environment, and wait until its health URL (the one the Dockerfile's
HEALTHCHECK asks for) answers 200. The images are checked concurrently (the work is mostly waiting
on downloads); each one's output goes to tools/cache/images/<service>.log, printed if it fails.

    python docker/check_images.py                 # all four
    python docker/check_images.py scoring         # one
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "tools" / "cache" / "images"
STARTUP_DEADLINE_S = 90.0
# Modules that must never be importable in an image's environment, and modules it must carry
# (the bus clients and the store driver a cluster deployment configures).
FORBIDDEN = {"scoring": ["sklearn", "skl2onnx", "scipy"]}
REQUIRED = {
    "scoring": ["onnxruntime", "aiokafka", "cramjam", "azure.eventhub"],
    "telemetry-forwarder": ["aiokafka", "cramjam", "azure.eventhub", "sqlalchemy", "psycopg"],
    "retrain-controller": ["sklearn", "skl2onnx", "httpx"],
    "feature-engineering": ["sklearn", "pandas"],
}


@dataclass(frozen=True)
class Image:
    service: str
    dockerfile: Path
    install_steps: list[list[str]]  # argv after the interpreter, e.g. ["docker/install.py", "deps", ...]
    module: str
    health_path: str


def read_image(dockerfile: Path) -> Image:
    """What a Dockerfile installs, runs and probes, read from its own RUN, ENTRYPOINT and HEALTHCHECK."""
    text = dockerfile.read_text()
    steps = [
        ["docker/install.py", step, listing]
        for step, listing in re.findall(r"/opt/venv/bin/python docker/install\.py (deps|code) (\S+)", text)
    ]
    if [s[1] for s in steps] != ["deps", "code"]:
        raise SystemExit(f"{dockerfile}: expected one `install.py deps` then one `install.py code` RUN step")
    entry = re.search(r'^ENTRYPOINT \["python", "-m", "(\w+)"\]', text, re.MULTILINE)
    health = re.search(r'healthcheck\.py", "([^"]+)"\]', text)
    if entry is None or health is None:
        raise SystemExit(f"{dockerfile}: no `python -m` ENTRYPOINT or no healthcheck.py HEALTHCHECK")
    service = dockerfile.name.removesuffix(".Dockerfile")
    return Image(service, dockerfile, steps, entry[1], health[1])


class CheckFailed(Exception):
    """One image's check failed; the message says why, its log says the rest."""


def run(command: list[str], log: IO[str]) -> None:
    log.write("+ " + " ".join(command) + "\n")
    log.flush()
    result = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise CheckFailed(f"`{' '.join(command[1:3])} ...` exited with {result.returncode}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install(image: Image, log: IO[str]) -> Path:
    venv = VENVS / image.service
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)], log)
    python = venv / "bin" / "python"
    for step in image.install_steps:
        run([str(python), *step], log)
    return python


def check_modules(image: Image, python: Path, log: IO[str]) -> None:
    for module in FORBIDDEN.get(image.service, []):
        probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is not None)"
        if subprocess.run([str(python), "-c", probe], check=False).returncode != 0:
            raise CheckFailed(f"{module} is importable in the image environment; it must not be")
        log.write(f"{module} not importable, as required\n")
    for module in REQUIRED.get(image.service, []):
        if subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False).returncode != 0:
            raise CheckFailed(f"{module} cannot be imported in the image environment; the image needs it")


def entry_command(image: Image, python: Path, port: int) -> tuple[list[str], str]:
    package_dir = next(ROOT.glob(f"services/*/src/{image.module}"))
    if (package_dir / "__main__.py").exists():
        return [str(python), "-m", image.module], f"python -m {image.module}"
    factory = f"{image.module}.app:create_app"
    command = [str(python), "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
    return command, f"uvicorn --factory {factory} (no __main__.py yet)"


def wait_healthy(process: subprocess.Popen[bytes], url: str) -> int:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CheckFailed(f"the service exited with code {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            time.sleep(0.2)  # not listening yet: poll again until the deadline
    raise CheckFailed(f"{url} did not answer within {STARTUP_DEADLINE_S:.0f}s")


def serve_and_probe(image: Image, python: Path, log: IO[str]) -> str:
    port = free_port()
    command, how = entry_command(image, python, port)
    with tempfile.TemporaryDirectory(prefix=f"driftloop-{image.service}-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLOOP_")}
        env.update(
            {
                "DRIFTLOOP_HOST": "127.0.0.1",
                "DRIFTLOOP_PORT": str(port),
                "DRIFTLOOP_REGISTRY__PATH": f"{home}/registry",
                "DRIFTLOOP_BUS__URL": f"sqlite:///{home}/bus.db",
                "DRIFTLOOP_BUS__SPILL_PATH": f"{home}/spill",
                "DRIFTLOOP_STORE__URL": f"sqlite:///{home}/store.db",
            }
        )
        log.write("+ " + " ".join(command) + f" (port {port}, cwd {home})\n")
        log.flush()
        process = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            status = wait_healthy(process, f"http://127.0.0.1:{port}{image.health_path}")
            if status != 200:
                raise CheckFailed(f"{image.health_path} answered {status}, expected 200")
            # The image's own HEALTHCHECK script must agree.
            probe = [str(python), str(ROOT / "docker" / "healthcheck.py"), image.health_path]
            if subprocess.run(probe, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode != 0:
                raise CheckFailed(f"docker/healthcheck.py {image.health_path} disagrees: it reported unhealthy")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return how


def check(image: Image) -> str:
    """Install, probe and report one image; raises CheckFailed with the log's tail on failure."""
    started = time.monotonic()
    VENVS.mkdir(parents=True, exist_ok=True)
    log_path = VENVS / f"{image.service}.log"
    with log_path.open("w") as log:
        try:
            python = install(image, log)
            check_modules(image, python, log)
            how = serve_and_probe(image, python, log)
        except CheckFailed as exc:
            log.flush()
            tail = "\n".join(log_path.read_text().splitlines()[-40:])
            raise CheckFailed(f"{image.service}: {exc}\n--- last lines of {log_path} ---\n{tail}") from exc
    return f"{image.service}: installed, {image.health_path} 200 via {how} ({time.monotonic() - started:.0f}s)"


def main(services: list[str]) -> None:
    images = [read_image(d) for d in sorted((ROOT / "docker").glob("*.Dockerfile"))]
    if services:
        unknown = set(services) - {i.service for i in images}
        if unknown:
            raise SystemExit(f"unknown services {sorted(unknown)}; known: {[i.service for i in images]}")
        images = [i for i in images if i.service in services]
    print(f"images-check: {', '.join(i.service for i in images)} (logs in {VENVS})", flush=True)
    lock = threading.Lock()
    failures = []

    def one(image: Image) -> None:
        try:
            line = check(image)
        except CheckFailed as exc:
            failures.append(str(exc))
            line = f"{image.service}: FAILED"
        with lock:
            print(" ", line, flush=True)

    with ThreadPoolExecutor(max_workers=len(images) or 1) as pool:
        list(pool.map(one, images))
    if failures:
        raise SystemExit("\n\n".join(failures))


if __name__ == "__main__":
    main(sys.argv[1:])
