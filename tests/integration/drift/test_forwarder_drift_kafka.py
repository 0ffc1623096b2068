"""Drift through the forwarder on Apache Kafka and PostgreSQL: a shift fires one signed, delivered retrain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from drift_stream import (
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
from integration_servers import free_port, new_topic

from driftloop.store import make_engine
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.settings import BusSettings
from driftloop_forwarder.settings import ForwarderSettings


def test_a_shift_on_kafka_fires_one_retrain_recorded_in_postgres(
    kafka_broker: str,
    fresh_database: str,
    scorer: Scorer,
    make_settings: Callable[..., ForwarderSettings],
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    topic = asyncio.run(new_topic(kafka_broker, partitions=1, prefix="drift"))
    bus = BusSettings(url=f"kafka://{kafka_broker}/{topic}", spill_path=tmp_path / "spill", poll_timeout_ms=100)
    events = scorer.events(credit_frame(2, seed=31)) + scorer.events(credit_frame(4, seed=32, shift=1.0))

    with serving(receiver.app(), free_port()) as url:
        settings = make_settings(webhook_url=f"{url}/v1/retrain", bus=bus, store=StoreSettings(url=fresh_database))
        engine = make_engine(settings.store)

        async def scenario() -> None:
            await publish(bus, events)
            async with forwarder(settings):
                done = "SELECT count(DISTINCT window_index) FROM drift_metrics"
                await wait_until(lambda: scalar(engine, done) == 6, "6 windows in PostgreSQL", within_s=90)
                await wait_until(
                    lambda: (
                        scalar(engine, "SELECT count(*) FROM rule_firings WHERE delivery_status = 'delivered'") == 1
                    ),
                    "the delivered firing",
                )

        asyncio.run(scenario())

    fired = rows(engine, "SELECT id, rule, action FROM rule_firings WHERE action = 'retrain'")
    assert [r[1] for r in fired] == ["feature-drift"]
    # The predictions moved with credit_score: the alert-only rule is recorded, not sent.
    alerts = rows(engine, "SELECT rule, delivery_status FROM rule_firings WHERE action = 'alert'")
    assert alerts == [("prediction-drift", None)]
    assert list(receiver.accepted) == [fired[0][0]]
    assert receiver.refused == 0
    assert scalar(engine, "SELECT count(*) FROM predictions") == 6 * 300
    assert scalar(engine, "SELECT count(*) FROM rule_state WHERE awaiting_retrain") == 1
