"""Fault tests, each ending with a count proving that nothing was lost or stored twice.

- the broker killed (SIGKILL) and restarted during sustained publishing: events spill and replay;
- the forwarder process killed mid-batch and restarted: no loss, no duplicate rows;
- PostgreSQL restarted under the forwarder: it retries, then catches up.
(The poisoned message is in test_kafka_pipeline.py.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from integration_servers import KafkaServer, PostgresServer, free_port, new_topic
from pipeline_helpers import feedback, kafka_settings, prediction, wait_until

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.telemetry.bus import open_consumer
from driftloop.telemetry.publisher import EventPublisher
from driftloop.telemetry.settings import BusSettings
from driftloop_forwarder.core import Forwarder
from driftloop_forwarder.settings import ForwardSettings


async def forward_until(settings: BusSettings, store_url: str, predictions: int) -> Forwarder:
    """Run an in-process forwarder until ``predictions`` events (2 rows each) are stored."""
    engine = make_engine(StoreSettings(url=store_url))
    consumer = open_consumer(settings, "forwarder-faults")
    await consumer.start()
    forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=2000), poll_timeout_ms=100)
    task = asyncio.create_task(forwarder.run())
    try:
        await wait_until(lambda: count_rows(engine, ["predictions"])["predictions"] >= predictions * 2, "all rows")
    finally:
        forwarder.stop()
        await task
        await consumer.stop()
    return forwarder


def test_broker_killed_and_restarted_during_publishing_loses_nothing(
    kafka_server: KafkaServer, fresh_database: str, tmp_path: Path
) -> None:
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)

    async def scenario() -> int:
        topic = await new_topic(kafka_server.bootstrap)
        settings = kafka_settings(kafka_server.bootstrap, topic, tmp_path / "spill")
        publisher = EventPublisher(settings, "scoring-faults")
        await publisher.start()
        published = 0
        running = True

        async def traffic() -> None:  # steady load: 20 events every 10 ms, about 2,000 events/s
            nonlocal published
            while running:
                for _ in range(20):
                    publisher.publish(prediction(published))
                    published += 1
                await asyncio.sleep(0.01)

        load = asyncio.create_task(traffic())
        await wait_until(lambda: publisher.stats.sent > 500, "events sent before the crash")
        await asyncio.to_thread(kafka_server.kill)
        await wait_until(lambda: publisher.stats.spilled > 500, "events spilled while the broker is down")
        await asyncio.to_thread(kafka_server.start)
        await wait_until(lambda: publisher.stats.replayed > 0, "replay once the broker is back")
        await wait_until(lambda: publisher.stats.sent > 0 and publisher.stats.depth < 100, "live sending again")
        running = False
        await load
        await publisher.stop()
        stats = publisher.stats
        assert stats.dropped == 0
        assert stats.replayed == stats.spilled > 500
        assert stats.sent + stats.replayed == published
        await forward_until(settings, fresh_database, published)
        return published

    published = asyncio.run(scenario())
    assert count_rows(engine, ["predictions"]) == {"predictions": published * 2}


def test_forwarder_killed_mid_batch_and_restarted_stores_everything_once(
    kafka_broker: str, fresh_database: str, tmp_path: Path
) -> None:
    engine = make_engine(StoreSettings(url=fresh_database))
    total = 30_000

    async def publish_backlog() -> str:
        topic = await new_topic(kafka_broker)
        # This test is about the forwarder, not the spill: a generous send timeout keeps a busy
        # machine's slow first produce from diverting the whole backlog to the spill file.
        # Small messages (50 events) so that the forwarder's transactions are small and many.
        settings = kafka_settings(kafka_broker, topic, tmp_path / "spill", send_timeout_s=60.0, events_per_message=50)
        publisher = EventPublisher(settings, "scoring-faults")
        await publisher.start()
        for i in range(total):
            publisher.publish(prediction(i) if i % 10 else feedback(i))
            if i % 500 == 0:
                await asyncio.sleep(0)
        await publisher.stop()
        assert publisher.stats.dropped == 0
        assert publisher.stats.sent + publisher.stats.replayed == total  # a tight loop overflows into the spill
        return topic

    topic = asyncio.run(publish_backlog())
    port = free_port()
    env = {
        **os.environ,
        "DRIFTLOOP_BUS__URL": f"kafka://{kafka_broker}/{topic}",
        "DRIFTLOOP_BUS__CONSUMER_GROUP": "forwarder-killed",
        "DRIFTLOOP_STORE__URL": fresh_database,
        "DRIFTLOOP_FORWARD__BATCH_SIZE": "300",
        "DRIFTLOOP_PORT": str(port),
        "DRIFTLOOP_LOG__LEVEL": "WARNING",
    }

    def start_forwarder() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "driftloop_forwarder"], env=env, cwd=tmp_path)

    def stored() -> int:
        try:
            counts = count_rows(engine, ["predictions", "feedback"])
        except Exception:  # the service creates the tables at start
            return 0
        return counts["predictions"] // 2 + counts["feedback"]

    first = start_forwarder()
    try:
        asyncio.run(wait_until(lambda: stored() > 3000, "the first forwarder to store some batches"))
        os.kill(first.pid, signal.SIGKILL)  # mid-stream: a batch is being read, written or committed
        first.wait(timeout=30)
        stopped_at = stored()
        assert stopped_at < total, "the backlog must outlast the first forwarder for this test to mean anything"
        second = start_forwarder()
        try:
            asyncio.run(wait_until(lambda: stored() >= total, "the restarted forwarder to catch up", within_s=120))
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
        finally:
            second.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert second.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if first.poll() is None:
            first.kill()
    assert count_rows(engine, ["predictions", "feedback"]) == {
        "predictions": total // 10 * 9 * 2,
        "feedback": total // 10,
    }


def test_postgres_restarted_under_the_forwarder_is_retried_then_caught_up(
    kafka_broker: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    store_url = postgres_server.create_database("faults")
    engine = make_engine(StoreSettings(url=store_url))
    upgrade(engine)

    async def scenario() -> Forwarder:
        topic = await new_topic(kafka_broker)
        settings = kafka_settings(kafka_broker, topic, tmp_path / "spill")
        publisher = EventPublisher(settings, "scoring-faults")
        await publisher.start()
        consumer = open_consumer(settings, "forwarder-pg")
        await consumer.start()
        forwarder = Forwarder(
            consumer,
            make_engine(StoreSettings(url=store_url)),
            ForwardSettings(batch_size=500, retry_backoff_s=0.1, retry_backoff_max_s=0.5),
            poll_timeout_ms=100,
        )
        task = asyncio.create_task(forwarder.run())
        for i in range(1000):
            publisher.publish(prediction(i))
        await wait_until(lambda: forwarder.stats.events >= 1000, "the first thousand stored")
        await asyncio.to_thread(postgres_server.stop)
        for i in range(1000, 3000):
            publisher.publish(prediction(i))
        await wait_until(lambda: forwarder.stats.store_errors > 0, "the forwarder to hit the stopped database")
        await asyncio.to_thread(postgres_server.start)
        await wait_until(lambda: count_rows(engine, ["predictions"])["predictions"] == 6000, "catching up")
        await publisher.stop()
        assert publisher.stats.dropped == 0
        forwarder.stop()
        await task
        await consumer.stop()
        return forwarder

    forwarder = asyncio.run(scenario())
    assert forwarder.stats.store_errors > 0
    assert count_rows(engine) == {"predictions": 6000, "feedback": 0, "rejected": 0, "dead_letters": 0}
