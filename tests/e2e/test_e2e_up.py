"""``driftloop up`` as a user runs it: trains the sample model when there is none, or the user's own
model from ``--data``; starts the four services, scores the printed curl's record, retrains the
user's model from its own source data, serves every registered model on a later start, and stops
every service on SIGTERM."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from driftloop.registry import Registry

pytestmark = pytest.mark.slow
FINISHED = ("succeeded", "failed", "cancelled")
LABELLED_REQUESTS = 3  # of 100 records: 300 labels, enough for the quality gate's 50-row holdout (20 %)
POLICY = """
window: {by: count, size: 100}
detection: {min_samples: 50, min_labelled: 20}
rules:
  - {name: prediction-drift, statistic: prediction_drift, consecutive: 1, cooldown: 1h, action: alert}
retrain:
  training: {time_budget: 3, max_trials: 2}
"""


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def four_consecutive_free_ports() -> int:
    """A base port such that base .. base+3 can all be bound on 127.0.0.1 (`up` numbers from a base)."""
    for base in range(20_000, 60_000, 97):
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + 4):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no four consecutive free ports between 20000 and 60000")


@contextmanager
def running_up(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``driftloop up ARGS`` until it prints "Ready." (yields its output so far); SIGTERM on the way out, exit 0."""
    command = [sys.executable, "-m", "driftloop.cli.main", "up", *args]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        while "Ready." not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.2)  # polling the output of another process
        yield log_path.read_text()
        assert process.poll() is None, log_path.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log_path.read_text()


def write_regression_csv(path: Path, rows: int = 800) -> Path:
    """A regression data set unlike the demo's: two numbers and a region, target ``y``."""
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(0, 1, rows), rng.uniform(0, 10, rows)
    region = rng.choice(["north", "south", "east"], rows)
    y = 3 * x1 - 0.5 * x2 + np.where(region == "north", 2.0, 0.0) + rng.normal(0, 0.3, rows)
    pd.DataFrame({"x1": x1.round(3), "x2": x2.round(3), "region": region, "y": y.round(3)}).to_csv(path, index=False)
    return path


def printed_curl(output: str, model: str) -> tuple[str, dict[str, object]]:
    """URL and JSON body of the curl ``up`` printed for ``model``, split as a shell would."""
    lines = output.splitlines()
    words = shlex.split(lines[lines.index(f"Score a record of {model}:") + 1])
    assert words[0] == "curl"
    return words[2], json.loads(words[words.index("-d") + 1])


def test_up_starts_the_four_services_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    base = four_consecutive_free_ports()
    all_ports = [base, base + 1, base + 2, base + 3]
    home = tmp_path / "home"
    args = ["--home", str(home), "--time-budget", "3", "--base-port", str(base)]
    with running_up(args, tmp_path / "up.log") as output, httpx.Client(timeout=2.0) as client:
        assert client.get(f"http://127.0.0.1:{base}/v2/health/ready").status_code == 200
        for port in all_ports[1:]:
            assert client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        models = client.get(f"http://127.0.0.1:{base}/v1/models").json()
        url, body = printed_curl(output, "credit")
        assert client.post(url, json=body).status_code == 200
    assert "credit" in str(models)
    assert Registry(home / "registry").aliases("credit")["champion"] == 1
    for port in all_ports:
        assert f":{port}" in output
    assert not any(_port_open(port) for port in all_ports)


def test_up_with_data_serves_and_retrains_a_model_that_is_not_the_demos(tmp_path: Path) -> None:
    data = write_regression_csv(tmp_path / "houses.csv")
    base = four_consecutive_free_ports()
    scoring, features, controller = (f"http://127.0.0.1:{port}" for port in (base, base + 1, base + 3))
    home = tmp_path / "home"
    args = ["--home", str(home), "--base-port", str(base), "--time-budget", "3"]
    # A short retrain: the policy's retrain.training block reaches the controller through --policy.
    quick: dict[str, str] = {}
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    own = [*args, "--data", str(data), "--target", "y", "--name", "other", "--policy", str(policy)]
    with running_up(own, tmp_path / "up.log", quick) as output, httpx.Client(timeout=30.0) as client:
        url, body = printed_curl(output, "other")
        assert url == f"{scoring}/v1/models/other/predict"
        scored = client.post(url, json=body)
        assert scored.status_code == 200, scored.text
        assert scored.json()["version"] == 1
        assert isinstance(scored.json()["predictions"][0]["prediction"], float)

        # Labelled traffic: each request's labels first, so that they count in its window.
        history = pd.read_csv(data)
        for n in range(LABELLED_REQUESTS):
            part = history.iloc[n * 100 : (n + 1) * 100]
            labels = [{"request_id": f"r{n}", "record_index": i, "actual": y} for i, y in enumerate(part["y"])]
            assert client.post(f"{scoring}/v1/models/other/feedback", json=labels).status_code == 200
            records = part.drop(columns=["y"]).to_dict("records")
            answer = client.post(url, json={"records": records}, headers={"X-Request-ID": f"r{n}"})
            assert answer.status_code == 200, answer.text
        # The policy's 100-record windows (the default is 1,000), read back over HTTP.
        windows_url = f"{controller}/v1/models/other/windows"
        while len(windows := client.get(windows_url).json()["windows"]) < LABELLED_REQUESTS:
            time.sleep(0.2)  # polling the forwarder's store through the controller
        assert [(w["index"], w["rows"]) for w in windows] == [(2, 100), (1, 100), (0, 100)]
        # Window 0 holds the curl's unlabelled record; each later one starts with the last of a request.
        assert [w["performance"]["labelled"] for w in windows] == [100, 100, 99]
        assert all("rmse" in w["performance"]["metrics"] for w in windows)

        asked = client.post(
            f"{controller}/v1/retrain",
            json={"model": "other", "trigger": "e2e"},
            headers={"Idempotency-Key": "e2e-other-1"},
        )
        assert asked.status_code == 202, asked.text
        job_id = asked.json()["job_id"]
        while (job := client.get(f"{controller}/v1/jobs/{job_id}").json())["state"] not in FINISHED:
            time.sleep(0.2)  # polling another process's job
        assert job["state"] == "succeeded", (job["error"], job["log"])
        assert job["dataset_id"] is not None
        assert job["decision"]["outcome"] in ("promoted", "rejected")
        # Built from the whole CSV plus the labelled traffic (its newest labels held out for the gate).
        rows = client.get(f"{features}/v1/datasets/{job['dataset_id']}").json()["quality"]["rows"]
        assert (rows["source"], rows["labelled"]) == (800, LABELLED_REQUESTS * 100)
    store = Registry(home / "registry")
    assert store.models() == ["other"]  # the demo's model was never trained
    assert store.versions("other") == [1, 2]

    # Later, with no --data: every registered model is served with the source data of its lineage.
    with running_up(args, tmp_path / "up-again.log") as output, httpx.Client(timeout=30.0) as client:
        assert "Training" not in output
        url, body = printed_curl(output, "other")
        assert client.post(url, json=body).status_code == 200
        made = client.post(f"{features}/v1/datasets", json={"model": "other", "strategy": {"kind": "source"}})
        assert made.status_code in (200, 201), made.text
        assert made.json()["quality"]["rows"]["source"] == 800
