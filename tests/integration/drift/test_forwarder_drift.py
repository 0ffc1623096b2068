"""Drift through the forwarder: a real model's stream on the embedded bus, SQLite store, a real receiver.

Windows of 300 records (the rules file in drift_stream.py); the model is credit@1 trained by
driftloop.train. The 100-window false-alarm figure is in the unit tests; here 40 drift-free windows
go through the whole service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from drift_stream import (
    PER_EVENT,
    WINDOW,
    Receiver,
    Scorer,
    credit_frame,
    forwarder,
    publish,
    rows,
    scalar,
    serving,
    wait_until,
)
from integration_servers import free_port
from sqlalchemy import Engine

from driftloop.store import make_engine
from driftloop.store.jobs import RetrainJob
from driftloop_forwarder.drift_watch import DriftWatch
from driftloop_forwarder.settings import ForwarderSettings

COLUMNS = 16  # make_credit's feature columns


def windows_done(engine: Engine, version: int = 1) -> Callable[[], int]:
    query = "SELECT count(DISTINCT window_index) FROM drift_metrics WHERE version = :v"
    return lambda: int(scalar(engine, query, v=version))


def test_a_drift_free_stream_raises_no_retrain_and_writes_every_window(
    scorer: Scorer, make_settings: Callable[..., ForwarderSettings]
) -> None:
    receiver = Receiver()
    events = scorer.events(credit_frame(40, seed=7))
    with serving(receiver.app(), free_port()) as url:
        settings = make_settings(webhook_url=f"{url}/v1/retrain")
        engine = make_engine(settings.store)

        async def scenario() -> str:
            await publish(settings.bus, events)
            async with forwarder(settings) as app:
                await wait_until(lambda: windows_done(engine)() == 40, "40 drift windows", within_s=90)
                # A window's rows are committed just before the watch counts it: wait for both.
                await wait_until(lambda: app.state.drift.stats.windows == 40, "the watch to count 40 windows")
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://forwarder") as client:
                    health = (await client.get("/healthz")).json()
                    assert (health["drift"]["windows"], health["drift"]["errors"]) == (40, 0)
                    return (await client.get("/metrics")).text

        metrics = asyncio.run(scenario())

    assert scalar(engine, "SELECT count(*) FROM predictions") == 40 * WINDOW
    assert scalar(engine, "SELECT count(*) FROM rule_firings WHERE action = 'retrain'") == 0
    assert receiver.accepted == {}
    columns = {r[0] for r in rows(engine, "SELECT DISTINCT column_name FROM drift_metrics")}
    assert len(columns - {"__predictions__", "__performance__", ""}) == COLUMNS
    assert {"__predictions__", "__performance__", ""} <= columns
    # Every feature column has its sample-size-aware verdict in every window, with its threshold and count.
    verdicts = rows(
        engine,
        "SELECT threshold, drifted, n FROM drift_metrics"
        " WHERE statistic = 'drift_score' AND column_name = 'credit_score'",
    )
    assert len(verdicts) == 40
    assert all(t is not None and d is not None and 0 < n <= WINDOW for t, d, n in verdicts)
    # Feedback follows each prediction event; all but the closing event's labels reach their window.
    coverage = {r[0] for r in rows(engine, "SELECT DISTINCT label_coverage FROM drift_metrics")}
    assert coverage == {(WINDOW - PER_EVENT) / WINDOW}
    auc = rows(
        engine, "SELECT value FROM drift_metrics WHERE column_name = '__performance__' AND statistic = 'roc_auc'"
    )
    assert len(auc) == 40
    assert all(0.5 < value < 1.0 for (value,) in auc)
    assert 'driftloop_drift_windows_total{model="credit",version="1"}' in metrics


def test_a_shift_fires_once_delivers_signed_across_a_late_receiver_and_restarts_keep_the_hysteresis(
    scorer: Scorer, make_settings: Callable[..., ForwarderSettings]
) -> None:
    receiver = Receiver()
    port = free_port()  # nothing listens here until the receiver starts
    settings = make_settings(webhook_url=f"http://127.0.0.1:{port}/v1/retrain")
    engine = make_engine(settings.store)
    retrain_firings = "SELECT id, delivery_status, attempts FROM rule_firings WHERE action = 'retrain'"

    async def scenario() -> None:
        # Phase 1: 3 clean windows, then 5 with credit_score a standard deviation higher.
        await publish(settings.bus, scorer.events(credit_frame(3, seed=11)))
        await publish(settings.bus, scorer.events(credit_frame(5, seed=12, shift=1.0)))
        async with forwarder(settings) as app:
            watch: DriftWatch = app.state.drift
            await wait_until(lambda: windows_done(engine)() == 8, "8 windows")
            await wait_until(lambda: watch.stats.failed_attempts >= 2, "failed webhook attempts")
        fired = rows(engine, retrain_firings)
        assert len(fired) == 1, fired  # one drift, one retrain: hysteresis across the shifted windows
        assert fired[0][1] is None  # undelivered when the process stopped

        # Phase 2: a restarted forwarder sends the pending firing again; the receiver starts late.
        await publish(settings.bus, scorer.events(credit_frame(4, seed=13, shift=1.0)))
        async with forwarder(settings) as app:
            watch = app.state.drift
            await wait_until(lambda: watch.stats.failed_attempts >= 1, "a failed attempt after the restart")
            with serving(receiver.app(), port):
                await wait_until(lambda: rows(engine, retrain_firings)[0][1] == "delivered", "the delivery")
            await wait_until(lambda: windows_done(engine)() == 12, "12 windows")
        assert len(rows(engine, retrain_firings)) == 1  # the restarted rule kept its hysteresis
        assert scalar(engine, "SELECT max(window_index) FROM drift_metrics") == 11  # numbering continued

        # Phase 3: two hours later on the windows' clock the cooldown is over, but the retrain it
        # asked for has not finished: still quiet. Then the controller records the job finished.
        later = time.time() + 7200
        await publish(settings.bus, scorer.events(credit_frame(3, seed=14, shift=1.0), at=later))
        async with forwarder(settings):
            await wait_until(lambda: windows_done(engine)() == 15, "15 windows")
            assert len(rows(engine, retrain_firings)) == 1
            finish_a_retrain(engine)
            await wait_until(
                lambda: scalar(engine, "SELECT count(*) FROM rule_state WHERE awaiting_retrain") == 0,
                "the rule released by the finished retrain",
            )
            with serving(receiver.app(), port):
                await publish(settings.bus, scorer.events(credit_frame(3, seed=15, shift=1.0), at=later + 60))
                await wait_until(lambda: windows_done(engine)() == 18, "18 windows")
                await wait_until(
                    lambda: [r[1] for r in rows(engine, retrain_firings)] == ["delivered", "delivered"],
                    "the second firing delivered",
                )

    asyncio.run(scenario())

    fired = rows(engine, "SELECT id, rule, body FROM rule_firings WHERE action = 'retrain' ORDER BY window_index")
    assert [r[1] for r in fired] == ["feature-drift", "feature-drift"]
    # Exactly once per firing, each signature verified, no duplicate delivery.
    assert sorted(receiver.accepted) == sorted(r[0] for r in fired)
    assert (receiver.refused, receiver.duplicates) == (0, 0)
    first = receiver.accepted[fired[0][0]]
    assert first["model"] == "credit"
    assert first["version"] == 1
    assert "credit_score" in [item["column"] for item in first["evidence"]]
    assert rows(engine, "SELECT attempts FROM rule_firings WHERE id = :i", i=fired[0][0])[0][0] >= 2


def finish_a_retrain(engine: Engine) -> None:
    """What the retrain-controller writes when a job ends (driftloop.store.jobs' table)."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        session.add(
            RetrainJob(
                id="job-1", model="credit", state="succeeded", trigger="drift:feature-drift", idempotency_key=None,
                evidence={}, created_at=now, started_at=now, finished_at=now, log="",
            )
        )  # fmt: skip


def test_a_version_missing_from_the_registry_does_not_stop_storage(
    scorer: Scorer, make_settings: Callable[..., ForwarderSettings]
) -> None:
    settings = make_settings()
    engine = make_engine(settings.store)
    orphan = scorer.events(credit_frame(2, seed=21), version=99)  # credit@99 was never registered
    known = scorer.events(credit_frame(2, seed=22))

    async def scenario() -> DriftWatch:
        await publish(settings.bus, orphan + known)
        async with forwarder(settings) as app:
            await wait_until(lambda: windows_done(engine)() == 2, "the known version's windows")
            await wait_until(lambda: app.state.forwarder.stats.lag == 0, "every offset committed")
            watch: DriftWatch = app.state.drift
            return watch

    watch = asyncio.run(scenario())
    assert scalar(engine, "SELECT count(*) FROM predictions WHERE version = 99") == 2 * WINDOW
    assert scalar(engine, "SELECT count(*) FROM predictions WHERE version = 1") == 2 * WINDOW
    assert scalar(engine, "SELECT count(*) FROM drift_metrics WHERE version = 99") == 0
    assert watch.stats.errors == 2 * WINDOW // PER_EVENT  # each orphan event counted, none stored twice


def test_feedback_that_arrives_before_its_prediction_counts_in_the_window(
    scorer: Scorer, make_settings: Callable[..., ForwarderSettings]
) -> None:
    settings = make_settings()
    engine = make_engine(settings.store)

    async def scenario() -> None:
        await publish(settings.bus, scorer.events(credit_frame(2, seed=41), feedback_first=True))
        async with forwarder(settings):
            await wait_until(lambda: windows_done(engine)() == 2, "2 windows")

    asyncio.run(scenario())
    performance = "SELECT value FROM drift_metrics WHERE column_name = '__performance__' AND statistic = :s"
    assert [v for (v,) in rows(engine, performance, s="label_coverage")] == [1.0, 1.0]
    assert [v for (v,) in rows(engine, performance, s="labelled")] == [WINDOW, WINDOW]
