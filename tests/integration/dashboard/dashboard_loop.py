"""A store filled by a real run of the loop, for the dashboard and report tests.

Real pieces only: ``credit@1`` trained by ``train_model``; the scoring service (uvicorn) answers
traffic and emits events on the embedded bus; the telemetry-forwarder (its own process) stores
them and computes drift windows with the rules in ``RULES``; a challenger trained on shifted data
is compared to the champion by the controller's real gate, its job recorded in ``retrain_jobs``,
and promoted; then shifted traffic is scored by ``credit@2``. A module of its own because test
modules cannot import a conftest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from integration_servers import free_port

from driftloop.datasets import make_credit
from driftloop.policy import GatePolicy
from driftloop.registry import CHAMPION, Registry
from driftloop.store import count_rows, make_engine
from driftloop.store.jobs import RUNNING, SUCCEEDED, JobStore, now
from driftloop.store.settings import StoreSettings
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_model
from driftloop_controller.gate import compare

RECORDS_PER_REQUEST = 5
PHASE1_REQUESTS, PHASE2_REQUESTS, INVALID = 40, 60, 4
LABELLED_PHASE1, LABELLED_PHASE2 = 20, 30

# Small count windows so that a few hundred records give several drift windows; alerts only, so
# the forwarder posts no webhook (the retrain job below is recorded by the test itself).
RULES = """
window: {by: count, size: 100}
detection: {min_samples: 50, min_labelled: 20}
rules:
  - {name: feature-drift, statistic: drift, columns: any, consecutive: 1, cooldown: 1h, action: alert}
"""

# The dashboard read token of the test services; here rather than in conftest.py, which is not
# importable by name when other test directories with a conftest.py are collected in the same run.
TOKEN = "dashboard-read-token"


@dataclass(frozen=True)
class LoopStore:
    store_url: str
    registry: Path
    phase2_start: datetime
    """After credit@2 became champion, before the shifted traffic."""
    requests: int
    job_id: str


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    features = frame.drop(columns=["default"])
    records: list[dict[str, Any]] = features.astype(object).where(features.notna(), None).to_dict(orient="records")
    return records


def _wait(condition: Callable[[], bool], what: str, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s:.0f}s waiting for {what}")
        time.sleep(0.1)  # polling a condition in another process


@contextmanager
def service(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A service in its own process, ready when ``ready_url`` answers 200; stopped with SIGTERM."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{command} exited: {log.read_text()[-3000:]}")
        try:
            return httpx.get(ready_url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait(ready, f"{ready_url} to answer")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _score(client: httpx.Client, base: str, frame: pd.DataFrame, requests: int, labelled: int) -> int:
    """``requests`` requests of RECORDS_PER_REQUEST records; true labels for the first ``labelled``."""
    version = 0
    for i in range(requests):
        chunk = frame.iloc[i * RECORDS_PER_REQUEST : (i + 1) * RECORDS_PER_REQUEST]
        answer = client.post(f"{base}/predict", json={"records": _records(chunk)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        version = body["version"]
        if i < labelled:
            items = [
                {"request_id": body["request_id"], "record_index": j, "actual": int(label)}
                for j, label in enumerate(chunk["default"])
            ]
            feedback = client.post(f"{base}/feedback", json=items)
            assert feedback.status_code < 300, feedback.text
    return int(version)


def build_loop_store(workdir: Path) -> LoopStore:
    registry = Registry(workdir / "registry")
    config = TrainConfig(target="default", time_budget=5, max_trials=2, families=["linear"], seed=0)
    train_model(pd.DataFrame(make_credit(1500, seed=1)), config=config, name="credit", registry=registry)
    store_url = f"sqlite:///{workdir / 'store.db'}"
    rules = workdir / "rules.yaml"
    rules.write_text(RULES)
    env = {
        "DRIFTLOOP_REGISTRY__PATH": str(registry.root),
        "DRIFTLOOP_BUS__URL": f"sqlite:///{workdir / 'bus.db'}",
        "DRIFTLOOP_STORE__URL": store_url,
        "DRIFTLOOP_POLICY": str(rules),
        "DRIFTLOOP_REGISTRY__POLL_INTERVAL_S": "0.2",
        "DRIFTLOOP_LOG__LEVEL": "WARNING",
    }
    scoring_port, forwarder_port = free_port(), free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1"]
    scoring = [*uvicorn, "--port", str(scoring_port), "driftloop_scoring.app:create_app"]
    forwarder = [*uvicorn, "--port", str(forwarder_port), "driftloop_forwarder.app:create_app"]
    base = f"http://127.0.0.1:{scoring_port}/v1/models/credit"
    engine = make_engine(StoreSettings(url=store_url))
    try:
        with (
            service(scoring, env, f"http://127.0.0.1:{scoring_port}/v2/health/ready", workdir / "scoring.log"),
            service(forwarder, env, f"http://127.0.0.1:{forwarder_port}/healthz", workdir / "forwarder.log"),
            httpx.Client(timeout=30) as client,
        ):
            before = pd.DataFrame(make_credit(PHASE1_REQUESTS * RECORDS_PER_REQUEST, seed=5))
            assert _score(client, base, before, PHASE1_REQUESTS, LABELLED_PHASE1) == 1
            bad = [{**_records(before.iloc[:1])[0], "income": "lots"}]
            for _ in range(INVALID):
                assert client.post(f"{base}/predict", json={"records": bad}).status_code == 422

            job_id = _retrain_and_promote(registry, engine)
            _wait(lambda: _version(client, base, before) == 2, "scoring to serve the new champion credit@2")
            phase2_start = _next_millisecond()
            after = pd.DataFrame(make_credit(PHASE2_REQUESTS * RECORDS_PER_REQUEST, seed=6, drift="covariate"))
            assert _score(client, base, after, PHASE2_REQUESTS, LABELLED_PHASE2) == 2

            # One extra prediction answered while waiting for v2 (the probe) is counted too.
            def stored() -> bool:
                rows = count_rows(engine, ["predictions", "feedback", "rejected"])
                return (
                    rows["feedback"] == (LABELLED_PHASE1 + LABELLED_PHASE2) * RECORDS_PER_REQUEST
                    and rows["rejected"] == INVALID
                    and (rows["predictions"] >= (PHASE1_REQUESTS + PHASE2_REQUESTS) * RECORDS_PER_REQUEST)
                )

            _wait(stored, "the forwarder to store every event")
        requests = count_rows(engine, ["predictions"])["predictions"] // RECORDS_PER_REQUEST
    finally:
        engine.dispose()
    return LoopStore(store_url, registry.root, phase2_start, requests, job_id)


def _next_millisecond() -> datetime:
    """A whole millisecond after every prediction so far, and before every later one.

    The page's time input holds milliseconds: a boundary with finer digits would be cut to the
    millisecond below it, and a prediction answered in that same millisecond (the probe that saw
    credit@2) would then fall inside the range ``[since, until)``. The clock is read until it has
    passed the boundary (well under a millisecond), so the next prediction is stamped after it.
    """
    now = datetime.now(UTC)
    boundary = now.replace(microsecond=now.microsecond // 1000 * 1000) + timedelta(milliseconds=1)
    while datetime.now(UTC) <= boundary:
        pass
    return boundary


def _version(client: httpx.Client, base: str, frame: pd.DataFrame) -> int:
    answer = client.post(f"{base}/predict", json={"records": _records(frame.iloc[:RECORDS_PER_REQUEST])})
    return int(answer.json()["version"])


def _retrain_and_promote(registry: Registry, engine: Any) -> str:
    """What the controller does for a retrain job, with its real gate; recorded in retrain_jobs."""
    jobs = JobStore(engine)
    evidence = {"rule": "feature-drift", "columns": ["income"]}
    job = jobs.create("credit", "drift rule feature-drift", evidence, idempotency_key="dashboard-test-1")
    jobs.transition(job.id, ("queued",), RUNNING, started_at=now())
    config = TrainConfig(target="default", time_budget=5, max_trials=2, families=["linear"], seed=0)
    shifted = pd.DataFrame(make_credit(2500, seed=2, drift="concept"))
    result = train_model(shifted, config=config, name="credit", registry=registry, trigger=f"retrain job {job.id}")
    assert result.bundle is not None
    holdout = pd.DataFrame(make_credit(800, seed=3, drift="concept"))
    decision = compare(registry.resolve("credit", 1), result.bundle, holdout, GatePolicy(bootstrap=200))
    assert decision["promote"], decision["reasons"]  # after the concept shift the challenger must win
    registry.set_alias(
        "credit", CHAMPION, result.bundle.version, reason=f"retrain job {job.id}: {decision['reasons'][0]}"
    )
    jobs.transition(
        job.id, (RUNNING,), SUCCEEDED, finished_at=now(), challenger_version=result.bundle.version, decision=decision
    )
    return job.id
