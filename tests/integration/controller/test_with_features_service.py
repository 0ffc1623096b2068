"""A retrain job against the real feature-engineering service (uvicorn on 127.0.0.1), not a stand-in.

The champion is trained on the source data from before a concept shift; production traffic
after the shift, with its labels, is written to the SQL store the way the forwarder writes it;
the feature-engineering service builds the training set and the holdout from those labelled
records (strategy "recent"), and the controller's challenger wins on that holdout.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from controller_harness import SECRET, running, wait_for
from sqlalchemy import Engine
from standins import serve

from driftloop import webhook
from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.store import StoreSettings, make_engine, upgrade, write_batch
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, ParsedEvent, PredictionData
from driftloop_controller.settings import ControllerSettings
from driftloop_features.app import create_app as create_features_app
from driftloop_features.settings import FeaturesSettings

pytestmark = pytest.mark.anyio
START = datetime(2026, 1, 1, tzinfo=UTC)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and np.isnan(value) else value


def write_traffic(engine: Engine, frame: pd.DataFrame, batch: int = 50) -> None:
    """Each chunk of ``batch`` rows is one scored request a minute apart, each record with its label."""
    events = []
    for number, first in enumerate(range(0, len(frame), batch)):
        chunk, request_id = frame.iloc[first : first + batch], f"req-{number}"
        at = START + timedelta(minutes=number)
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
    write_traffic(engine, pd.DataFrame(make_credit(2000, seed=5, drift="concept")))
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
    settings.features.dataset_request = {"strategy": {"kind": "recent", "holdout": 600}}
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
