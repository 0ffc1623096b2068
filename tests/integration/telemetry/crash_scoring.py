"""The scoring service as a real server for the telemetry tests: a registry with one real model,
uvicorn started and killed by process id, and the relay process it starts found in /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.telemetry.relay import RELAY_MODULE
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.pipeline import build_pipeline

RECORDS_PER_REQUEST = 5


def credit_model_registry(root: Path, records_per_request: int) -> list[dict[str, Any]]:
    """Register one real ``credit`` model (HistGradientBoosting -> ONNX) in ``root``; records to score."""
    frame = pd.DataFrame(make_credit(1500, seed=0))
    contract = infer_contract(frame, "default", task="binary")
    pipeline = build_pipeline(contract, HistGradientBoostingClassifier(max_iter=15, random_state=0), scale=False)
    pipeline.fit(model_frame(frame, contract), encode_target(frame["default"], contract))
    Registry(root).register(
        "credit",
        export_onnx(pipeline, contract),
        contract,
        {"profile": {}, "metrics": {}, "lineage": {"trigger": "test"}},
    )
    sample = pd.DataFrame(make_credit(records_per_request, seed=1)).drop(columns=["default"])
    return sample.astype(object).where(sample.notna(), None).to_dict(orient="records")


def start_scoring(
    registry: Path, bus_url: str, spill: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """uvicorn serving the scoring service on 127.0.0.1:``port``, once it answers ready."""
    environment = {
        **os.environ,
        "DRIFTLOOP_REGISTRY__PATH": str(registry),
        "DRIFTLOOP_BUS__URL": bus_url,
        "DRIFTLOOP_BUS__SPILL_PATH": str(spill),
        "DRIFTLOOP_BUS__SEND_TIMEOUT_S": "2",
        "DRIFTLOOP_BUS__RETRY_BACKOFF_MAX_S": "1",
        "DRIFTLOOP_LOG__LEVEL": "WARNING",
        **(env or {}),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "driftloop_scoring.app:create_app"]
    process = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port)], env=environment)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the scoring service did not become ready")
        time.sleep(0.1)  # polling readiness of a starting server


def relay_of(pid: int) -> int:
    """The process id of the telemetry relay process that the process ``pid`` started."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and RELAY_MODULE.encode() in command:
            return int(entry.name)
    raise AssertionError(f"process {pid} has no telemetry relay process")


def exited(pid: int) -> bool:
    """Whether a process (not a child of this one) is gone; an exited orphan may stay a zombie a while."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) in ("Z", "X")
    except FileNotFoundError:
        return True


def telemetry_gauge(port: int, name: str) -> float:
    """A telemetry gauge from the scoring service's /metrics, summed over sources."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text):
        total += sum(sample.value for sample in family.samples if sample.name == name)
    return total
