"""The chart's seed Job: register the first model, so that a first install becomes Ready.

Does nothing when the model already has a champion, so it is safe on every upgrade, retry and
reinstall over a kept registry. Otherwise it takes the file (an http(s) URL, fetched into /tmp, or
a path on a mounted volume) and either trains on it with `driftloop train` (SEED_SOURCE=train) or
imports it as a model bundle packed as .tar.gz (SEED_SOURCE=bundle). The first version of a model
becomes its champion; scoring's registry watcher loads it and turns ready. docs/deploy.md, "First
install". Runs in the retrain-controller image (driftloop with its training extra).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from driftloop.contract import DataContract
from driftloop.registry import CHAMPION, CONTRACT_FILE, DOCUMENTS, MODEL_FILE, Registry


def fetch(url: str, path: str, workdir: Path) -> Path:
    if path:
        local = Path(path)
        if not local.is_file():
            sys.exit(f"seed: {local} is not a file on the mounted volume")
        return local
    # Keep the file name: `driftloop train` reads the format from the suffix (.csv, .parquet, ...).
    target = workdir / (Path(urllib.parse.urlparse(url).path).name or "seed-data")
    with urllib.request.urlopen(url, timeout=120) as response, open(target, "wb") as sink:
        shutil.copyfileobj(response, sink)
    print(f"seed: fetched {url} ({target.stat().st_size} bytes)", flush=True)
    return target


def train(data: Path, name: str, registry: Registry) -> None:
    command = ["driftloop", "train", "--data", str(data), "--target", os.environ["SEED_TARGET"], "--name", name]
    command += ["--registry", str(registry.root), "--time-budget", os.environ.get("SEED_TIME_BUDGET", "60"), "--quiet"]
    if int(os.environ.get("SEED_MAX_TRIALS", "0")) > 0:
        command += ["--max-trials", os.environ["SEED_MAX_TRIALS"]]
    subprocess.run(command, check=True)


def import_bundle(archive: Path, name: str, registry: Registry, workdir: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(workdir / "bundle", filter="data")  # no absolute paths, links out or devices
    found = [p.parent for p in (workdir / "bundle").rglob(MODEL_FILE) if (p.parent / CONTRACT_FILE).is_file()]
    if len(found) != 1:
        sys.exit(
            f"seed: {archive.name} must hold one directory with {MODEL_FILE} and {CONTRACT_FILE}; found {len(found)}"
        )
    [bundle] = found
    documents = {kind: json.loads((bundle / f"{kind}.json").read_text()) for kind in DOCUMENTS}
    contract = DataContract.load(bundle / CONTRACT_FILE)
    registry.register(name, (bundle / MODEL_FILE).read_bytes(), contract, documents, reason="seed (helm chart)")


def main() -> None:
    registry = Registry(os.environ["DRIFTLOOP_REGISTRY__PATH"])
    name = os.environ["MODEL_NAME"]
    champion = registry.aliases(name).get(CHAMPION)
    if champion is not None:
        print(f"seed: {name} already has a champion (version {champion}): nothing to do", flush=True)
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        workdir = Path(tmp)
        source = fetch(os.environ.get("SEED_URL", ""), os.environ.get("SEED_PATH", ""), workdir)
        if os.environ["SEED_SOURCE"] == "bundle":
            import_bundle(source, name, registry, workdir)
        else:
            train(source, name, registry)
    print(f"seed: registered {name}@{registry.aliases(name)[CHAMPION]} as champion in {registry.root}", flush=True)


if __name__ == "__main__":
    main()
