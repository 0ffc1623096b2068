"""The forwarder's drift settings, its rules validated at start, and storage that no sink can stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from driftloop.errors import ConfigError
from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.telemetry.bus import open_consumer, open_producer
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.events import prediction_event
from driftloop.telemetry.parse import ParsedBatch
from driftloop.telemetry.settings import BusSettings
from driftloop_forwarder.app import create_app
from driftloop_forwarder.core import Forwarder
from driftloop_forwarder.settings import ForwarderSettings, ForwardSettings


def test_drift_and_webhook_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_DRIFT__ENABLED", "false")
    monkeypatch.setenv("DRIFTLOOP_POLICY", "/etc/driftloop/policy.yaml")
    monkeypatch.setenv("DRIFTLOOP_DRIFT__RULES", "/etc/driftloop/rules.yaml")  # the former spelling, still read
    monkeypatch.setenv("DRIFTLOOP_WEBHOOK__URL", "http://controller:8083/v1/retrain")
    monkeypatch.setenv("DRIFTLOOP_WEBHOOK__SECRET", "s3cret")
    settings = ForwarderSettings()
    assert settings.drift.enabled is False
    assert settings.policy == "/etc/driftloop/policy.yaml"
    assert settings.drift.rules == "/etc/driftloop/rules.yaml"
    assert (settings.webhook.url, settings.webhook.secret) == ("http://controller:8083/v1/retrain", "s3cret")


def test_the_defaults_watch_drift_with_the_packaged_rules() -> None:
    settings = ForwarderSettings()
    assert settings.drift.enabled
    assert settings.drift.rules == ""
    assert settings.webhook.url == "http://127.0.0.1:8083/v1/retrain"
    create_app(settings)  # the packaged rules load


def test_an_invalid_rules_file_stops_the_service_at_start_naming_the_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: r, statistic: psy, action: retrain}\n")
    with pytest.raises(ConfigError, match=r"rules\[0\] \('r'\)\.statistic"):
        create_app(ForwarderSettings(drift={"rules": str(rules)}))


def test_a_missing_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        create_app(ForwarderSettings(drift={"rules": str(tmp_path / "missing.yaml")}))


def test_a_failing_sink_neither_stops_storage_nor_the_offset_commits(tmp_path: Path) -> None:
    bus = BusSettings(url=f"sqlite:///{tmp_path / 'bus.db'}", spill_path=tmp_path / "spill")
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    seen: list[int] = []

    async def broken_sink(batch: ParsedBatch) -> None:
        seen.append(len(batch.events))
        raise RuntimeError("drift blew up")

    async def scenario() -> int:
        producer = open_producer(bus)
        await producer.start()
        events = [
            prediction_event(
                "t", model="credit", version=1, request_id=f"r{i}", records=[{"x": 1.0}], predictions=[1],
                probabilities=None, class_labels=None, latency_ms=1.0,
            )
            for i in range(30)
        ]  # fmt: skip
        await producer.send_batch([Message(b"credit", orjson.dumps(e)) for e in events])
        await producer.stop()
        consumer = open_consumer(bus, "g")
        await consumer.start()
        forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=10), poll_timeout_ms=20, sinks=[broken_sink])
        while await forwarder.step():
            pass
        lag = await consumer.lag()
        await consumer.stop()
        return lag

    assert asyncio.run(scenario()) == 0
    assert sum(seen) == 30  # the sink saw every stored batch (one record first, then 10 at a time)
    assert max(seen) == 10
    assert count_rows(engine)["predictions"] == 30
