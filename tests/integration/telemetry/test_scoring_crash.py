"""SIGKILL of the scoring service under load: no answered prediction is lost, none is stored twice.

Real parts throughout: the scoring service under uvicorn with its relay process, the embedded bus
(SQLite) or a Kafka broker, the forwarder into SQLite or PostgreSQL. Sixteen clients post
predictions; once some hundreds are answered, scoring is killed with SIGKILL (alone, or together
with its relay process, as when a pod is killed outright) while requests are in flight. It is
started again on the same spill directory, serves more, and is stopped. Every request answered
200 must then have exactly one prediction event in the store (by request id), one row per record.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from crash_scoring import RECORDS_PER_REQUEST, exited, relay_of, start_scoring, telemetry_gauge
from integration_servers import KafkaServer, free_port, new_topic
from pipeline_helpers import kafka_settings, wait_until
from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Engine

from driftloop.store import StoreSettings, make_engine, upgrade
from driftloop.store.models import Prediction
from driftloop.telemetry.bus import open_consumer
from driftloop.telemetry.settings import BusSettings
from driftloop_forwarder.core import Forwarder
from driftloop_forwarder.settings import ForwardSettings

CLIENTS = 16
ANSWERED_BEFORE_KILL = 400
ANSWERED_AFTER_RESTART = 100


async def serve(
    port: int, records: list[dict[str, Any]], answered: list[str], until: int, at: Callable[[], None]
) -> None:
    """Sixteen clients post predictions until ``until`` more are answered; then ``at()`` runs once,
    with requests in flight. A request the kill cuts off is not answered (and not counted)."""
    target = len(answered) + until
    done = False

    async def client_loop() -> None:
        nonlocal done
        async with httpx.AsyncClient(timeout=30) as client:
            while not done:
                try:
                    answer = await client.post(
                        f"http://127.0.0.1:{port}/v1/models/credit/predict", json={"records": records}
                    )
                except httpx.TransportError:
                    return  # the server is gone: this request was never answered
                assert answer.status_code == 200, answer.text
                answered.append(answer.json()["request_id"])
                if len(answered) >= target and not done:
                    done = True
                    at()

    await asyncio.gather(*(client_loop() for _ in range(CLIENTS)))


def stored(engine: Engine) -> dict[str, tuple[int, int]]:
    """Per request id: (distinct prediction events, rows)."""
    query = select(Prediction.request_id, func.count(distinct(Prediction.event_id)), func.count()).group_by(
        Prediction.request_id
    )
    with engine.connect() as connection:
        return {request_id: (events, rows) for request_id, events, rows in connection.execute(query)}


def forward_everything(bus: BusSettings, engine: Engine) -> dict[str, tuple[int, int]]:
    """Run the forwarder over the whole bus (every publisher has stopped), then read the store."""

    async def forward() -> None:
        consumer = open_consumer(bus, "forwarder-crash")
        await consumer.start()
        forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=2000), poll_timeout_ms=100)
        try:
            async with asyncio.timeout(120):  # fails a stuck forwarder; the end is found by reading
                while await forwarder.step() or not forwarder.stats.events or await consumer.lag():
                    pass
        finally:
            await consumer.stop()

    asyncio.run(forward())
    return stored(engine)


def assert_each_answered_stored_once(rows: dict[str, tuple[int, int]], answered: list[str], what: str) -> None:
    assert len(set(answered)) == len(answered)
    lost = [request_id for request_id in answered if request_id not in rows]
    doubled = {request_id: found for request_id, found in rows.items() if found[0] != 1}
    wrong_rows = {r: rows[r] for r in answered if r in rows and rows[r][1] != RECORDS_PER_REQUEST}
    print(f"\n{what}: {len(answered)} requests answered, 1 kill, {len(lost)} lost, {len(doubled)} duplicates")
    assert lost == []
    assert doubled == {}
    assert wrong_rows == {}


class Kill:
    """SIGKILL of the scoring process, and of its relay process too if asked (``relay_too``)."""

    def __init__(self, scoring: subprocess.Popen[bytes], relay_too: bool, relayed: bool = True) -> None:
        self.scoring = scoring
        self.relay = relay_of(scoring.pid) if relayed else None
        self.relay_too = relay_too

    def __call__(self) -> None:
        if self.relay_too and self.relay is not None:
            os.kill(self.relay, signal.SIGKILL)
        self.scoring.kill()


def crash_and_restart(
    registry: Path,
    records: list[dict[str, Any]],
    bus_url: str,
    spill: Path,
    relay_too: bool,
    env: dict[str, str] | None = None,
) -> list[str]:
    """Serve, SIGKILL mid-stream, start again, serve more, stop: the ids of the answered requests."""
    answered: list[str] = []
    port = free_port()
    scoring = start_scoring(registry, bus_url, spill, port, env)
    killer = Kill(scoring, relay_too, relayed=not env)
    try:
        asyncio.run(serve(port, records, answered, ANSWERED_BEFORE_KILL, killer))
    finally:
        scoring.kill()
        scoring.wait(timeout=30)
    assert scoring.returncode == -signal.SIGKILL
    port = free_port()
    restarted = start_scoring(registry, bus_url, spill, port, env)
    try:
        asyncio.run(serve(port, records, answered, ANSWERED_AFTER_RESTART, lambda: None))
    finally:
        restarted.send_signal(signal.SIGTERM)  # the publisher flushes on shutdown
        restarted.wait(timeout=60)
    if (old_relay := killer.relay) is not None:
        asyncio.run(wait_until(lambda: exited(old_relay), "the killed server's relay to finish"))
    return answered


@pytest.mark.parametrize(
    ("relay_too", "env"),
    [(False, None), (True, None), (False, {"DRIFTLOOP_BUS__RELAY": "false"})],
    ids=["scoring-killed", "scoring-and-relay-killed", "in-process-publisher"],
)
def test_sigkill_of_scoring_on_the_embedded_bus_loses_no_answered_prediction(
    credit_registry: tuple[Path, list[dict[str, Any]]], tmp_path: Path, relay_too: bool, env: dict[str, str] | None
) -> None:
    registry, records = credit_registry
    bus = BusSettings(
        url=f"sqlite:///{tmp_path / 'bus.db'}", spill_path=tmp_path / "forwarder-spill", poll_timeout_ms=100
    )
    answered = crash_and_restart(registry, records, bus.url, tmp_path / "scoring-spill", relay_too, env)
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    rows = forward_everything(bus, engine)
    killed = "scoring (in-process publisher)" if env else "scoring and relay" if relay_too else "scoring"
    assert_each_answered_stored_once(rows, answered, f"embedded bus, {killed} killed")
    assert list((tmp_path / "scoring-spill").glob("*.outbox")) == []  # all delivered, nothing left


def test_sigkill_of_scoring_and_its_relay_on_kafka_loses_no_answered_prediction(
    credit_registry: tuple[Path, list[dict[str, Any]]], kafka_broker: str, fresh_database: str, tmp_path: Path
) -> None:
    registry, records = credit_registry
    topic = asyncio.run(new_topic(kafka_broker))
    bus = kafka_settings(kafka_broker, topic, tmp_path / "forwarder-spill")
    answered = crash_and_restart(registry, records, bus.url, tmp_path / "scoring-spill", relay_too=True)
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)
    rows = forward_everything(bus, engine)
    assert_each_answered_stored_once(rows, answered, "Kafka, scoring and relay killed")


def test_a_bus_outage_and_a_kill_during_it_are_made_up_once_the_bus_is_back(
    credit_registry: tuple[Path, list[dict[str, Any]]], kafka_server: KafkaServer, tmp_path: Path
) -> None:
    """The broker goes away; scoring answers (its relay spills), is killed with its relay, comes
    back while the broker is still away, answers more; the broker returns: everything is stored once."""
    registry, records = credit_registry
    topic = asyncio.run(new_topic(kafka_server.bootstrap))
    bus = kafka_settings(kafka_server.bootstrap, topic, tmp_path / "forwarder-spill")
    spill = tmp_path / "scoring-spill"
    answered: list[str] = []
    port = free_port()
    scoring = start_scoring(registry, bus.url, spill, port)
    killer = Kill(scoring, relay_too=True)
    try:
        asyncio.run(serve(port, records, answered, 100, lambda: None))
        kafka_server.kill()
        asyncio.run(serve(port, records, answered, ANSWERED_BEFORE_KILL, killer))
    finally:
        scoring.kill()
        scoring.wait(timeout=30)
    port = free_port()
    restarted = start_scoring(registry, bus.url, spill, port)
    try:
        asyncio.run(serve(port, records, answered, ANSWERED_AFTER_RESTART, lambda: None))
        kafka_server.start()
        asyncio.run(serve(port, records, answered, ANSWERED_AFTER_RESTART, lambda: None))
        asyncio.run(
            wait_until(
                lambda: (
                    telemetry_gauge(port, "driftloop_telemetry_bus_up") == 1
                    and telemetry_gauge(port, "driftloop_telemetry_spill_bytes") == 0
                ),
                "the spill file replayed once the broker is back",
            )
        )
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=60)
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    rows = forward_everything(bus, engine)
    assert_each_answered_stored_once(rows, answered, "Kafka away, scoring and relay killed during the outage")
    assert Counter(events for events, _ in rows.values()) == Counter({1: len(rows)})
