"""The forwarder's health: stalled (work waits without a commit), falling behind (lag grew through a span).

The rules are tested on a clock the test moves; the service test forces a real stall: another
writer holds the SQLite store's lock while events wait on the bus, and /healthz, /metrics and the
stats say so until the lock is released and the forwarder catches up.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import orjson

from driftloop.store import StoreSettings, count_rows, make_engine
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.bus.embedded import EmbeddedProducer, path_from_url
from driftloop.telemetry.events import prediction_event
from driftloop.telemetry.settings import BusSettings
from driftloop_forwarder.app import create_app
from driftloop_forwarder.health import ForwarderHealth, LagTrend
from driftloop_forwarder.settings import ForwarderSettings, ForwardSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sampled(lags: list[int], span: float = 100.0) -> LagTrend:
    """A trend fed one lag every tenth of the span, the last one now."""
    clock = Clock()
    trend = LagTrend(span, clock)
    for lag in lags:
        trend.add(lag)
        clock.now += span / 10
    clock.now -= span / 10
    return trend


def test_a_lag_that_grew_through_the_whole_span_is_falling_behind() -> None:
    assert sampled([5, 8, 8, 12, 20, 21, 30, 31, 40, 41, 50]).growing()


def test_a_lag_that_fell_once_a_span_that_is_not_over_or_a_zero_lag_is_not() -> None:
    assert not sampled([5, 8, 8, 12, 20, 19, 30, 31, 40, 41, 50]).growing()  # it fell once: draining
    assert not sampled([5, 8, 12, 20, 30]).growing()  # half a span of samples
    assert not sampled([0, 8, 8, 12, 20, 21, 30, 31, 40, 41, 50]).growing()  # caught up at the start
    assert not sampled([7] * 11).growing()  # steady


def test_old_samples_leave_the_span() -> None:
    trend = sampled([50, 40, 30, 20, 10, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
    assert trend.growing()  # only the last span counts: it grew from 5 to 16


def test_a_batch_waiting_past_the_limit_is_a_stall_and_a_commit_ends_it() -> None:
    clock = Clock()
    health = ForwarderHealth(stall_after_s=30, lag_growth_span_s=600, clock=clock)
    clock.now += 3600  # idle for an hour, nothing waiting: healthy
    assert health.verdict().healthy
    health.read()
    clock.now += 29  # a slow batch, within the limit
    assert health.verdict().healthy
    clock.now += 2
    verdict = health.verdict()
    assert not verdict.healthy
    assert verdict.stalled
    assert verdict.reasons == ["no commit for 31.0s while work waits (a batch read, not yet stored); the limit is 30s"]
    assert verdict.seconds_since_commit == 3631
    health.committed()
    verdict = health.verdict()
    assert verdict.healthy
    assert verdict.seconds_since_commit == 0


def test_lag_without_a_commit_is_a_stall_too() -> None:
    clock = Clock()
    health = ForwarderHealth(stall_after_s=30, lag_growth_span_s=600, clock=clock)
    health.lag(500)  # records wait, but the loop reads nothing (e.g. the consumer is stuck)
    clock.now += 31
    assert health.verdict().reasons == ["no commit for 31.0s while work waits (lag 500); the limit is 30s"]
    health.lag(0)
    assert health.verdict().healthy


def test_a_forced_stall_is_reported_by_the_service_until_it_clears(tmp_path: Path) -> None:
    store_path = tmp_path / "stall-store.db"
    bus_settings = BusSettings(
        url=f"sqlite:///{tmp_path / 'bus.db'}", spill_path=tmp_path / "spill", poll_timeout_ms=20
    )
    settings = ForwarderSettings(
        bus=bus_settings,
        store={"url": f"sqlite:///{store_path}"},
        forward=ForwardSettings(stall_after_s=0.3, lag_growth_span_s=600),
        drift={"enabled": False},
    )
    events = [
        prediction_event(
            "t", model="credit", version=1, request_id=f"r-{i}", records=[{"x": 1.0}], predictions=[1],
            probabilities=None, class_labels=None, latency_ms=1.0,
        )
        for i in range(20)
    ]  # fmt: skip

    async def healthz(client: httpx.AsyncClient, status: int) -> dict[str, object]:
        async with asyncio.timeout(30):  # guards against a hang only
            while (response := await client.get("/healthz")).status_code != status:  # noqa: ASYNC110 - polled over HTTP
                await asyncio.sleep(0.02)
        body: dict[str, object] = response.json()
        return body

    async def scenario() -> tuple[dict[str, object], str, dict[str, object], int]:
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forwarder") as client,
        ):
            await healthz(client, 200)
            blocker = sqlite3.connect(store_path, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the store: every write waits
            producer = EmbeddedProducer(path_from_url(bus_settings.url))
            await producer.start()
            await producer.send_batch([Message(b"credit", orjson.dumps(e)) for e in events])
            await producer.stop()
            stalled = await healthz(client, 503)
            metrics = (await client.get("/metrics")).text
            blocker.rollback()
            blocker.close()
            engine = make_engine(StoreSettings(url=f"sqlite:///{store_path}"))
            async with asyncio.timeout(30):  # guards against a hang only
                while (rows := count_rows(engine, ["predictions"])["predictions"]) < len(events):  # noqa: ASYNC110 - a count in the database
                    await asyncio.sleep(0.02)
            engine.dispose()
            recovered = await healthz(client, 200)
        return stalled, metrics, recovered, rows

    stalled, metrics, recovered, rows = asyncio.run(scenario())
    assert stalled["status"] == "unhealthy"
    reasons = stalled["reasons"]
    assert isinstance(reasons, list)
    assert "while work waits (a batch read, not yet stored" in reasons[0]
    assert 'driftloop_forwarder_stalled{reason="no_commit"} 1.0' in metrics
    assert 'driftloop_forwarder_stalled{reason="lag_growing"} 0.0' in metrics
    seconds = next(
        line for line in metrics.splitlines() if line.startswith("driftloop_forwarder_seconds_since_commit ")
    )
    assert float(seconds.split()[1]) > 0.3
    assert recovered["status"] == "ok"
    assert recovered["reasons"] == []
    assert recovered["store_errors"] == {"data": 0, "database": 0}  # it waited on the lock; nothing failed
    assert rows == 20
