"""The feature-engineering service as its container runs it (``python -m driftloop_features``), over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

# The unit tests' builders of a registered champion and a filled store are shared, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "features"))
from features_store import TARGET, credit_frame, fill_store, register_credit, store_engine
from integration_servers import free_port

STARTUP_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("features-server")
    source = credit_frame(800, seed=1)
    source.to_csv(root / "credit.csv", index=False)
    register_credit(root / "registry", source)
    engine = store_engine(root / "store.db")
    fill_store(engine, credit_frame(600, seed=2, drift="concept"))
    engine.dispose()

    port = free_port()
    env = {
        **os.environ,
        "DRIFTLOOP_PORT": str(port),
        "DRIFTLOOP_REGISTRY__PATH": str(root / "registry"),
        "DRIFTLOOP_STORE__URL": f"sqlite:///{root / 'store.db'}",
        "DRIFTLOOP_FEATURES__SOURCES": f'{{"credit": "{root / "credit.csv"}"}}',
        "DRIFTLOOP_FEATURES__DATASETS_DIR": str(root / "datasets"),
    }
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "driftloop_features"], cwd=root, env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling a process we do not control: nothing to wait on but the port
        else:
            raise RuntimeError(f"the features server did not start; its log:\n{log_path.read_text()[-4000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_dataset_over_the_network(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        created = client.post(
            "/v1/datasets",
            json={"model": "credit", "strategy": {"kind": "source+recent", "recent": 200, "holdout": 100}},
        )
        assert created.status_code == 201, created.text
        manifest = created.json()
        assert client.get(f"/v1/datasets/{manifest['id']}").json() == manifest

    train = pd.read_parquet(manifest["train_path"])
    holdout = pd.read_parquet(manifest["holdout_path"])
    assert (len(train), len(holdout)) == (1000, 100)
    assert TARGET in train.columns


def test_transform_and_errors_over_the_network(server: str) -> None:
    frame = credit_frame(3, seed=5).drop(columns=[TARGET]).astype(object)
    records = frame.where(frame.notna(), None).to_dict(orient="records")
    with httpx.Client(base_url=server, timeout=30) as client:
        ok = client.post("/v1/transform", json={"model": "credit", "records": records})
        records[2]["purpose"] = {"nested": True}
        bad = client.post("/v1/transform", json={"model": "credit", "records": records})
        metrics = client.get("/metrics")

    assert ok.status_code == 200
    assert "loan_to_income" in ok.json()["columns"]
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["record"] == 2
    assert bad.json()["error"]["details"]["column"] == "purpose"
    assert "driftloop_features_transformed_records_total" in metrics.text
