"""The whole telemetry path with real servers: scoring (uvicorn) -> Kafka -> forwarder -> PostgreSQL.

Every answered prediction, every feedback and every refused request is counted in PostgreSQL,
and a label posted for a request joins its prediction rows. With the broker killed under
sustained load, scoring answers every request, spills, replays, and PostgreSQL has every row.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
from crash_scoring import RECORDS_PER_REQUEST, start_scoring
from integration_servers import KafkaServer, free_port, new_topic
from pipeline_helpers import kafka_settings, wait_until
from prometheus_client.parser import text_string_to_metric_families

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.store.queries import labelled_predictions
from driftloop.telemetry.bus import open_consumer
from driftloop_forwarder.core import Forwarder
from driftloop_forwarder.settings import ForwardSettings

REQUESTS, LABELLED, INVALID = 120, 30, 10


def test_scored_labelled_and_refused_requests_all_reach_postgres(
    credit_registry: tuple[Path, list[dict[str, Any]]], kafka_broker: str, fresh_database: str, tmp_path: Path
) -> None:
    registry, records = credit_registry
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)
    topic = asyncio.run(new_topic(kafka_broker))
    settings = kafka_settings(kafka_broker, topic, tmp_path / "forwarder-spill")
    port = free_port()
    scoring = start_scoring(registry, settings.url, tmp_path / "scoring-spill", port)

    async def traffic() -> tuple[list[str], int]:
        base = f"http://127.0.0.1:{port}/v1/models/credit"
        async with httpx.AsyncClient(timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post(f"{base}/predict", json={"records": records}) for _ in range(REQUESTS))
            )
            assert [a.status_code for a in answers] == [200] * REQUESTS
            request_ids = [a.json()["request_id"] for a in answers]
            for request_id in request_ids[:LABELLED]:
                answer = await client.post(f"{base}/feedback", json={"request_id": request_id, "actual": 1})
                assert answer.status_code < 300, answer.text
            bad = [{**records[0], "income": "lots"}]
            refused = await asyncio.gather(
                *(client.post(f"{base}/predict", json={"records": bad}) for _ in range(INVALID))
            )
            assert {a.status_code for a in refused} == {422}
        return request_ids, len(refused)

    try:
        request_ids, _ = asyncio.run(traffic())
    finally:
        scoring.send_signal(signal.SIGTERM)  # the publisher flushes on shutdown
        scoring.wait(timeout=30)

    expected = {"predictions": REQUESTS * RECORDS_PER_REQUEST, "feedback": LABELLED, "rejected": INVALID}

    async def forward() -> None:
        consumer = open_consumer(settings, "forwarder-e2e")
        await consumer.start()
        forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=500), poll_timeout_ms=100)
        task = asyncio.create_task(forwarder.run())
        try:
            await wait_until(
                lambda: count_rows(engine, list(expected)) == expected, f"{expected} rows from the scoring service"
            )
        finally:
            forwarder.stop()
            await task
            await consumer.stop()

    asyncio.run(forward())
    assert count_rows(engine) == {**expected, "dead_letters": 0}
    labelled = labelled_predictions(engine, "credit")
    assert len(labelled) == LABELLED * RECORDS_PER_REQUEST
    assert {row["request_id"] for row in labelled} == set(request_ids[:LABELLED])


def telemetry_counts(port: int) -> dict[str, float]:
    """The scoring service's telemetry counters from its /metrics, summed over sources."""
    counts = {"sent": 0.0, "spilled": 0.0, "replayed": 0.0, "dropped": 0.0}
    text_format = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text_format):
        for sample in family.samples:
            for name in counts:
                if sample.name == f"driftloop_telemetry_events_{name}_total":
                    counts[name] += sample.value
    return counts


def test_scoring_keeps_answering_while_the_broker_is_killed_and_nothing_is_lost(
    credit_registry: tuple[Path, list[dict[str, Any]]], kafka_server: KafkaServer, fresh_database: str, tmp_path: Path
) -> None:
    registry, records = credit_registry
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)
    topic = asyncio.run(new_topic(kafka_server.bootstrap))
    settings = kafka_settings(kafka_server.bootstrap, topic, tmp_path / "forwarder-spill")
    port = free_port()
    scoring = start_scoring(registry, settings.url, tmp_path / "scoring-spill", port)
    statuses: list[int] = []

    async def load_during_outage() -> None:
        running = True

        async def client_loop() -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                while running:
                    answer = await client.post(
                        f"http://127.0.0.1:{port}/v1/models/credit/predict", json={"records": records}
                    )
                    statuses.append(answer.status_code)

        clients = [asyncio.create_task(client_loop()) for _ in range(4)]
        await wait_until(lambda: len(statuses) > 200, "answers before the crash")
        await asyncio.to_thread(kafka_server.kill)
        await wait_until(lambda: telemetry_counts(port)["spilled"] > 0, "the service to spill while the broker is down")
        await wait_until(lambda: len(statuses) > 600, "answers while the broker is down")
        await asyncio.to_thread(kafka_server.start)
        await wait_until(
            lambda: (c := telemetry_counts(port))["replayed"] >= c["spilled"] > 0, "replay once the broker is back"
        )
        running = False
        await asyncio.gather(*clients)

    try:
        asyncio.run(load_during_outage())
        final = telemetry_counts(port)
    finally:
        scoring.send_signal(signal.SIGTERM)  # the publisher flushes on shutdown
        scoring.wait(timeout=30)
    assert set(statuses) == {200}, "scoring must keep answering while the bus is away"
    assert final["dropped"] == 0
    expected = {"predictions": len(statuses) * RECORDS_PER_REQUEST}

    async def forward() -> None:
        consumer = open_consumer(settings, "forwarder-outage")
        await consumer.start()
        forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=2000), poll_timeout_ms=100)
        task = asyncio.create_task(forwarder.run())
        try:
            await wait_until(lambda: count_rows(engine, ["predictions"]) == expected, f"{expected} rows")
        finally:
            forwarder.stop()
            await task
            await consumer.stop()

    asyncio.run(forward())
    assert count_rows(engine) == {**expected, "feedback": 0, "rejected": 0, "dead_letters": 0}
