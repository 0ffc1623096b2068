"""Retrain jobs against the real feature-engineering service (uvicorn on 127.0.0.1), not a stand-in.

The champion is trained on the source data from before a concept shift; production traffic,
a day of it before the shift and then after it, with its labels, is written to the SQL store the
way the forwarder writes it. The feature-engineering service builds the training set and the
holdout from those labelled records, and the controller's challenger wins on that holdout: with
the policy's "recent" strategy, and with a webhook body that carries the change point (the set
then follows the change). A source file sorted by its target retrains too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from controller_harness import SECRET, running, wait_for, write_policy
from sqlalchemy import Engine
from standins import serve

from driftloop import webhook
from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.store import StoreSettings, make_engine, upgrade, write_batch
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, ParsedEvent, PredictionData
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_model
from driftloop_controller.settings import ControllerSettings
from driftloop_features.app import create_app as create_features_app
from driftloop_features.settings import FeaturesSettings

pytestmark = pytest.mark.anyio
START = datetime(2026, 1, 1, tzinfo=UTC)
CHANGE = START + timedelta(days=1)
BEFORE, AFTER = 1000, 2000


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and np.isnan(value) else value


def write_traffic(
    engine: Engine, frame: pd.DataFrame, batch: int = 50, *, start: datetime = START, prefix: str = "req"
) -> None:
    """Each chunk of ``batch`` rows is one scored request a minute apart, each record with its label."""
    events = []
    for number, first in enumerate(range(0, len(frame), batch)):
        chunk, request_id = frame.iloc[first : first + batch], f"{prefix}-{number}"
        at = start + timedelta(minutes=number)
        records = [{k: _plain(v) for k, v in row.items() if k != "default"} for row in chunk.to_dict("records")]
        prediction = PredictionData.model_validate(
            {"schema": 1, "model": "credit", "request_id": request_id, "version": 1, "records": records,
             "predictions": [0] * len(records), "latency_ms": 1.0}
        )  # fmt: skip
        events.append(ParsedEvent(f"{request_id}-p", "test", "driftloop.prediction", at, prediction))
        for index, label in enumerate(chunk["default"]):
            feedback = FeedbackData.model_validate(
                {"schema": 1, "model": "credit", "request_id": request_id, "record_index": index,
                 "actual": _plain(label)}
            )  # fmt: skip
            events.append(ParsedEvent(f"{request_id}-f{index}", "test", "driftloop.feedback", at, feedback))
    write_batch(engine, ParsedBatch(events=events))


@pytest.fixture
def features_service(registry: Registry, tmp_path: Path) -> Iterator[str]:
    store = StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}")
    engine = make_engine(store)
    upgrade(engine)
    write_traffic(engine, pd.DataFrame(make_credit(BEFORE, seed=4)), prefix="before")
    write_traffic(engine, pd.DataFrame(make_credit(AFTER, seed=5, drift="concept")), start=CHANGE)
    engine.dispose()
    source = tmp_path / "credit.csv"
    pd.DataFrame(make_credit(1000, seed=1)).to_csv(source, index=False)
    settings = FeaturesSettings(
        registry={"path": registry.root},
        store=store,
        features={"sources": {"credit": str(source)}, "datasets_dir": str(tmp_path / "datasets")},
        log={"json_logs": False},
    )
    with serve(create_features_app(settings), lifespan="on") as url:
        yield url


async def test_a_job_with_the_real_feature_engineering_service(
    settings: ControllerSettings, registry: Registry, features_service: str
) -> None:
    settings.features.url = features_service
    settings.policy = write_policy(Path(settings.policy), dataset={"kind": "recent", "recent": 1400, "holdout": 600})
    async with running(settings) as client:
        body = b'{"model": "credit", "trigger": "drift:performance"}'
        headers = webhook.sign(SECRET, body, idempotency_key="real-1")
        response = await client.post("/v1/retrain", content=body, headers=headers)
        assert response.status_code == 202
        job = await wait_for(client, response.json()["job_id"])
    assert job["state"] == "succeeded", job
    decision = job["decision"]
    assert decision["holdout_rows"] == 600
    assert decision["dataset"]["id"] == job["dataset_id"]
    assert decision["dataset"]["quality"]["gate"]["passed"]
    assert decision["outcome"] == "promoted", decision["reasons"]
    assert registry.aliases("credit") == {"champion": 2}


def signed(firing: dict[str, Any], key: str) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(firing)
    return body, {**webhook.sign(SECRET, body, idempotency_key=key), "Content-Type": "application/json"}


async def test_a_change_point_builds_the_set_since_it_and_promotes_the_challenger(
    settings: ControllerSettings, registry: Registry, features_service: str
) -> None:
    settings.features.url = features_service
    change_point = {"time": CHANGE.isoformat(), "labelled": AFTER}
    firing = {
        "firing_id": "perf-1",
        "model": "credit",
        "trigger": "drift:performance-drop",
        "change_point": change_point,
    }
    async with running(settings) as client:
        body, headers = signed(firing, "perf-1")
        response = await client.post("/v1/retrain", content=body, headers=headers)
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        # A second firing while the job runs joins it: 202 with the running job, never a 429.
        await wait_for(client, job_id, lambda job: any("training in worker process" in line for line in job["log"]))
        body, headers = signed({**firing, "firing_id": "perf-2"}, "perf-2")
        second = await client.post("/v1/retrain", content=body, headers=headers)
        assert second.status_code == 202
        assert (second.json()["job_id"], second.json()["coalesced"]) == (job_id, True)
        job = await wait_for(client, job_id)
        assert len((await client.get("/v1/jobs")).json()["jobs"]) == 1

    assert job["state"] == "succeeded", job
    decision = job["decision"]
    strategy, quality = decision["dataset"]["strategy"], decision["dataset"]["quality"]
    assert strategy["kind"] == "since_change"
    assert datetime.fromisoformat(strategy["since"]) == CHANGE
    assert quality["holdout_origin"] == "since_change"
    # Only post-change records are trained on: 2,000 after the change, a fifth held out, no floor fill.
    assert quality["rows"]["since_change"] == AFTER
    assert (quality["rows"]["fill_labelled"], quality["rows"]["fill_source"]) == (0, 0)
    assert (quality["rows"]["train"], quality["rows"]["holdout"]) == (AFTER - AFTER // 5, AFTER // 5)
    assert any("since the change point" in line for line in job["log"])
    assert decision["holdout_rows"] == AFTER // 5
    assert decision["outcome"] == "promoted", decision["reasons"]
    assert decision["challenger_score"] > decision["champion_score"]
    assert registry.aliases("credit") == {"champion": 2}


PENGUINS = ["Adelie", "Chinstrap", "Gentoo"]


def penguins_sorted_by_species() -> pd.DataFrame:
    """Penguin-like measurements, the file sorted by the target (as the issue's failing CSV was)."""
    rng = np.random.default_rng(3)
    frames = []
    for index, (species, count) in enumerate(zip(PENGUINS, (150, 70, 120), strict=True)):
        frames.append(
            pd.DataFrame(
                {
                    "bill_length_mm": rng.normal(39 + 7 * index, 2.5, count),
                    "bill_depth_mm": rng.normal(18.5 - 2 * (index == 2), 1.0, count),
                    "flipper_length_mm": rng.normal(190 + 12 * index, 6, count),
                    "island": rng.choice(["Biscoe", "Dream", "Torgersen"], count),
                    "species": species,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


async def test_a_source_sorted_by_class_passes_the_quality_gate_and_retrains(
    settings: ControllerSettings, tmp_path: Path
) -> None:
    frame = penguins_sorted_by_species()
    source = tmp_path / "penguins.csv"
    frame.to_csv(source, index=False)
    registry = Registry(tmp_path / "penguin-registry")
    config = TrainConfig(target="species", time_budget=5, max_trials=1, families=["linear"])
    train_model(frame.sample(frac=1.0, random_state=0), config=config, name="penguins", registry=registry)
    store = StoreSettings(url=f"sqlite:///{tmp_path / 'penguin-store.db'}")
    features = FeaturesSettings(
        registry={"path": registry.root},
        store=store,
        features={"sources": {"penguins": str(source)}, "datasets_dir": str(tmp_path / "datasets")},
        log={"json_logs": False},
    )
    settings.registry.path = registry.root
    settings.policy = write_policy(Path(settings.policy), dataset={"kind": "source", "holdout": 60})
    with serve(create_features_app(features), lifespan="on") as url:
        settings.features.url = url
        async with running(settings) as client:
            body, headers = signed({"firing_id": "p-1", "model": "penguins", "trigger": "manual"}, "p-1")
            response = await client.post("/v1/retrain", content=body, headers=headers)
            assert response.status_code == 202
            job = await wait_for(client, response.json()["job_id"])

    assert job["state"] == "succeeded", job  # before: "class 'Gentoo' is 0.00% of the training set"
    quality = job["decision"]["dataset"]["quality"]
    assert quality["gate"]["passed"]
    assert quality["holdout_origin"] == "source"
    assert set(quality["label_balance"]["holdout"]) == set(quality["label_balance"]["train"]) == set(PENGUINS)
    assert job["decision"]["holdout_rows"] == 60
    assert registry.versions("penguins") == [1, 2]  # the challenger was trained and judged
