"""The read APIs (windows, one window's statistics, firings) over a store written by the real drift code.

credit@1 is a real trained model; its ONNX graph scores 800 records (400 as trained, 400 with a
covariate shift), which the real ``DriftMonitor`` cuts into 200-record windows, the real
``RuleEvaluator`` judges, and ``write_window`` / ``record_delivery`` / ``JobStore`` store, as the
forwarder and the controller do. The answers must say what those objects said, on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from controller_harness import running

from driftloop.datasets import TARGET, make_credit
from driftloop.drift.compute import WindowReport
from driftloop.drift.evaluator import Firing, RuleEvaluator
from driftloop.drift.notify import DeliveryOutcome
from driftloop.drift.reference import ReferenceProfile
from driftloop.drift.rules import parse_rules
from driftloop.drift.window import DriftMonitor
from driftloop.registry import Registry
from driftloop.store import make_engine, upgrade
from driftloop.store.drift import record_delivery, write_window
from driftloop.store.jobs import RUNNING, SUCCEEDED, JobStore, now
from driftloop.store.settings import StoreSettings
from driftloop.train.frame import model_frame, onnx_feeds
from driftloop_controller.settings import ControllerSettings

pytestmark = pytest.mark.anyio

TOKEN = "read-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WINDOW, BATCH = 200, 50
START = 1_790_000_000.0  # the records' event time: one second apart
RULES = f"""
window: {{by: count, size: {WINDOW}}}
detection: {{min_samples: 50, min_labelled: 20}}
rules:
  - {{name: feature-drift, statistic: drift, columns: any, consecutive: 1, cooldown: 0, action: retrain}}
  - {{name: prediction-drift, statistic: prediction_drift, consecutive: 1, cooldown: 1h, action: alert}}
"""


@dataclass(frozen=True)
class Written:
    reports: list[WindowReport]
    firings: list[Firing]
    job_id: str
    """The job of the first retrain firing (by its idempotency key); later ones were coalesced into it."""


def write_drift_history(engine: Any, registry: Registry) -> Written:
    upgrade(engine)
    bundle = registry.resolve("credit", 1)
    contract = bundle.contract
    reference = ReferenceProfile.from_bundle(bundle)
    rules = parse_rules(RULES)
    monitor = DriftMonitor(rules.window, rules.detection, lambda model, version: reference)
    evaluator = RuleEvaluator(rules)
    session = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    labels = [str(label) for label in contract.class_labels or []]
    frame = pd.concat(
        [pd.DataFrame(make_credit(400, seed=11)), pd.DataFrame(make_credit(400, seed=12, drift="covariate"))],
        ignore_index=True,
    )
    predicted, probabilities = session.run(
        ["label", "probabilities"], onnx_feeds(model_frame(frame, contract), contract)
    )
    columns = contract.column_names
    reports: list[WindowReport] = []
    firings: list[Firing] = []
    for first in range(0, len(frame), BATCH):
        part = frame.iloc[first : first + BATCH]
        closed = monitor.add(
            "credit",
            1,
            part[columns].astype(object).where(part[columns].notna(), None).to_dict("records"),
            [labels[i] for i in np.ravel(predicted[first : first + BATCH])],
            probabilities=probabilities[first : first + BATCH],
            labels=[str(value) for value in part[TARGET]],
            time=START + first,
        )
        for report in closed:
            fired = evaluator.evaluate(report)
            write_window(engine, report, fired, evaluator.snapshot())
            reports.append(report)
            firings += fired
            if any(f.action == "retrain" for f in fired):
                evaluator.retrain_finished("credit", promoted=True)  # so that the next window may fire again
    retrains = [f for f in firings if f.action == "retrain"]
    assert len(retrains) >= 2, "the covariate shift should fire the retrain rule on each shifted window"
    jobs = JobStore(engine)
    job = jobs.create("credit", f"drift:{retrains[0].rule}", retrains[0].body(), idempotency_key=retrains[0].id)
    jobs.transition(job.id, ("queued",), RUNNING, started_at=now())
    decision = {"promote": True, "reasons": ["test"], "gain": 0.1, "ci": [0.05, 0.15]}
    jobs.transition(job.id, (RUNNING,), SUCCEEDED, finished_at=now(), challenger_version=2, decision=decision)
    for firing in retrains:
        answer = {"job_id": job.id, "state": "queued", "created": firing is retrains[0]}
        record_delivery(engine, DeliveryOutcome(firing.id, "delivered", 1, 202, None, START, START, json.dumps(answer)))
    return Written(reports, firings, job.id)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("fresh_database")
    return url


@pytest.fixture
async def served(registry: Registry, store_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Written]]:
    engine = make_engine(StoreSettings(url=store_url))
    try:
        written = write_drift_history(engine, registry)
    finally:
        engine.dispose()
    settings = ControllerSettings(
        registry={"path": registry.root},
        store=StoreSettings(url=store_url),
        dashboard={"token": TOKEN},
        features={"url": "http://127.0.0.1:9"},
    )
    async with running(settings) as client:
        yield client, written


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None or np.isnan(b):
        return a is None and (b is None or np.isnan(b))
    return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))


def _iso(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


async def test_windows_say_what_the_drift_code_computed(served: tuple[httpx.AsyncClient, Written]) -> None:
    client, written = served
    answer = await client.get("/v1/models/credit/windows", headers=AUTH)
    assert answer.status_code == 200, answer.text
    windows = answer.json()["windows"]
    assert [w["index"] for w in windows] == [r.index for r in reversed(written.reports)] == [3, 2, 1, 0]
    for got, report in zip(windows, reversed(written.reports), strict=True):
        assert (got["version"], got["rows"]) == (1, WINDOW)
        assert datetime.fromisoformat(got["start"]) == _iso(report.start)
        assert datetime.fromisoformat(got["end"]) == _iso(report.end)
        assert _close(got["drift_share"], report.drift_share)
        assert set(got["columns"]) == set(report.columns)
        for name, column in report.columns.items():
            verdict = got["columns"][name]
            assert verdict["drifted"] == column.verdict.drifted, name
            assert _close(verdict["score"], column.verdict.score), name
            assert verdict["n"] == column.n
        assert report.predictions is not None
        assert report.performance is not None
        assert got["predictions"]["drifted"] == report.predictions.verdict.drifted
        performance = got["performance"]
        assert performance["labelled"] == report.performance.labelled == WINDOW
        assert set(performance["metrics"]) == set(report.performance.metrics)
        for metric, value in report.performance.metrics.items():
            assert _close(performance["metrics"][metric], value), metric
        assert report.estimated is not None  # a classifier's window: accuracy estimated without labels too
        assert _close(performance["estimated"]["accuracy"], report.estimated.accuracy)
        assert _close(performance["estimated"]["drop"], report.estimated.drop)
    # The shift moved income: drifted in the shifted windows, not before.
    assert [w["columns"]["income"]["drifted"] for w in windows] == [True, True, False, False]


async def test_windows_filter_by_version_time_and_limit(served: tuple[httpx.AsyncClient, Written]) -> None:
    client, written = served
    base = "/v1/models/credit/windows"
    newest = (await client.get(base, params={"limit": 2}, headers=AUTH)).json()["windows"]
    assert [w["index"] for w in newest] == [3, 2]
    assert (await client.get(base, params={"version": 2}, headers=AUTH)).json()["windows"] == []
    second_end = _iso(written.reports[1].end).isoformat()
    third_end = _iso(written.reports[2].end).isoformat()
    spanned = (await client.get(base, params={"since": second_end, "until": third_end}, headers=AUTH)).json()
    assert [w["index"] for w in spanned["windows"]] == [2, 1]
    # The same span written in another time zone selects the same windows.
    elsewhere = timezone(timedelta(hours=2))
    zoned = {"since": _iso(written.reports[1].end).astimezone(elsewhere).isoformat(), "until": third_end}
    assert [w["index"] for w in (await client.get(base, params=zoned, headers=AUTH)).json()["windows"]] == [2, 1]


async def test_one_window_has_every_statistic(served: tuple[httpx.AsyncClient, Written]) -> None:
    client, written = served
    report = written.reports[2]
    answer = await client.get("/v1/models/credit/windows/1/2", headers=AUTH)
    assert answer.status_code == 200, answer.text
    window = answer.json()
    assert window["index"] == 2
    assert window["columns"]["income"]["drifted"] is True
    for name, column in report.columns.items():
        for statistic, value in column.statistics.items():
            assert _close(window["statistics"][name][statistic], value), (name, statistic)
    missing = await client.get("/v1/models/credit/windows/1/9", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["details"]["field"] == "index"


async def test_firings_carry_evidence_delivery_and_their_job(served: tuple[httpx.AsyncClient, Written]) -> None:
    client, written = served
    answer = await client.get("/v1/models/credit/firings", headers=AUTH)
    assert answer.status_code == 200, answer.text
    firings = answer.json()["firings"]
    assert sorted(f["id"] for f in firings) == sorted(f.id for f in written.firings)
    by_id = {f["id"]: f for f in firings}
    for firing in written.firings:
        got = by_id[firing.id]
        assert (got["rule"], got["action"], got["version"]) == (firing.rule, firing.action, firing.version)
        assert got["window"]["index"] == firing.window["index"]
        assert got["evidence"] == firing.body()["evidence"]
        if firing.action == "alert":
            assert got["delivery"] is None
            assert got["job"] is None
            continue
        assert got["delivery"]["status"] == "delivered"
        assert got["delivery"]["http_status"] == 202
        # The first retrain firing made the job; the later one was coalesced into it (named in the answer).
        assert got["job"]["id"] == written.job_id
        assert (got["job"]["state"], got["job"]["challenger_version"], got["job"]["decision"]) == (
            "succeeded",
            2,
            "promoted",
        )
    fired_times = [datetime.fromisoformat(f["fired_at"]) for f in firings]
    assert fired_times == sorted(fired_times, reverse=True)
    last = max(f.fired_at for f in written.firings)
    recent = await client.get("/v1/models/credit/firings", params={"since": _iso(last).isoformat()}, headers=AUTH)
    assert {f["id"] for f in recent.json()["firings"]} == {f.id for f in written.firings if f.fired_at == last}


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/models/churn/windows", {}, 404, "name"),
        ("/v1/models/churn/firings", {}, 404, "name"),
        ("/v1/models/churn/windows/1/0", {}, 404, "name"),
        ("/v1/models/credit/windows", {"limit": 0}, 422, "limit"),
        ("/v1/models/credit/windows", {"limit": 5000}, 422, "limit"),
        ("/v1/models/credit/windows", {"version": "latest"}, 422, "version"),
        ("/v1/models/credit/windows", {"since": "yesterday-ish"}, 422, "since"),
        ("/v1/models/credit/windows", {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, 422, "until"),
        ("/v1/models/credit/firings", {"since": "soon"}, 422, "since"),
        ("/v1/models/credit/windows/0/1", {}, 422, "version"),
    ],
)
async def test_bad_requests_get_a_4xx_naming_the_parameter(
    served: tuple[httpx.AsyncClient, Written], path: str, params: dict[str, Any], status: int, field: str
) -> None:
    client, _ = served
    answer = await client.get(path, params=params, headers=AUTH)
    assert answer.status_code == status, answer.text
    details = answer.json()["error"]["details"]
    named = details["field"] if isinstance(details, dict) else [d["field"] for d in details]
    assert field in named if isinstance(named, list) else named == field


async def test_the_read_apis_need_the_dashboard_token(served: tuple[httpx.AsyncClient, Written]) -> None:
    client, _ = served
    for path in ("/v1/models/credit/windows", "/v1/models/credit/windows/1/0", "/v1/models/credit/firings"):
        assert (await client.get(path)).status_code == 401, path
        assert (await client.get(path, headers={"Authorization": "Bearer wrong"})).status_code == 401, path
        assert (await client.get(path, params={"token": TOKEN})).status_code == 200, path
