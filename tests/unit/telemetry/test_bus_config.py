"""Bus URLs and connection strings map to the right client settings (Kafka, Event Hubs' Kafka endpoint)."""

from __future__ import annotations

import pytest

from driftloop.errors import ConfigError
from driftloop.telemetry.bus import open_consumer, open_producer
from driftloop.telemetry.bus.embedded import EmbeddedProducer
from driftloop.telemetry.bus.kafka import kafka_target, producer_options
from driftloop.telemetry.settings import BusSettings

EVENT_HUBS = (
    "Endpoint=sb://acme-telemetry.servicebus.windows.net/;SharedAccessKeyName=send;"
    "SharedAccessKey=c2VjcmV0;EntityPath=predictions"
)


def test_plain_kafka_url() -> None:
    target = kafka_target(BusSettings(url="kafka://k1:9092,k2:9092/driftloop-events"))
    assert (target.bootstrap, target.topic) == ("k1:9092,k2:9092", "driftloop-events")
    options = producer_options(BusSettings(url="kafka://k1:9092/t"), target)
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True
    assert options["compression_type"] == "zstd"
    assert "security_protocol" not in options
    chosen = producer_options(BusSettings(url="kafka://k1:9092/t", compression="none"), target)
    assert chosen["compression_type"] is None


def test_event_hubs_kafka_endpoint_from_the_connection_string_only() -> None:
    target = kafka_target(BusSettings(url="kafka://", connection_string=EVENT_HUBS))
    assert target.bootstrap == "acme-telemetry.servicebus.windows.net:9093"
    assert target.topic == "predictions"
    options = producer_options(BusSettings(url="kafka://", connection_string=EVENT_HUBS), target)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "PLAIN"
    assert options["sasl_plain_username"] == "$ConnectionString"
    assert options["sasl_plain_password"] == EVENT_HUBS
    assert options["enable_idempotence"] is False
    assert options["compression_type"] == "gzip"  # what Event Hubs' Kafka endpoint documents


@pytest.mark.parametrize(
    "settings",
    [
        BusSettings(url="kafka://k1:9092"),
        BusSettings(url="kafka:///topic-without-host"),
        BusSettings(url="kafka://", connection_string="not a connection string"),
        BusSettings(url="kafka://", connection_string="Endpoint=sb://ns.servicebus.windows.net/"),
    ],
)
def test_incomplete_kafka_settings_are_refused_clearly(settings: BusSettings) -> None:
    with pytest.raises(ConfigError):
        kafka_target(settings)


def test_the_url_scheme_chooses_the_backend(tmp_path: object) -> None:
    assert isinstance(open_producer(BusSettings(url="sqlite:///x/bus.db")), EmbeddedProducer)
    with pytest.raises(ConfigError, match="unknown bus URL scheme"):
        open_producer(BusSettings(url="rabbitmq://h/q"))
    with pytest.raises(ConfigError, match="no scheme"):
        open_consumer(BusSettings(url="bus.db"))
    with pytest.raises(ConfigError, match="CONNECTION_STRING"):
        open_producer(BusSettings(url="eventhubs://predictions"))


def test_a_commit_stores_the_offset_after_the_last_record_of_each_partition() -> None:
    from driftloop.telemetry.bus.base import Record, next_offsets

    records = [
        Record(value=b"", key=None, partition=p, offset=o, topic="t") for p, o in [(0, 5), (1, 9), (0, 7), (0, 6)]
    ]
    assert next_offsets(records) == {("t", 0): 8, ("t", 1): 10}
    assert next_offsets([]) == {}
