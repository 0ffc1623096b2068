"""Bus backends behind one interface, chosen by the URL scheme of ``DRIFTLOOP_BUS__URL``.

``sqlite:///path`` embedded (default), ``kafka://host:port/topic`` Apache Kafka or Event Hubs'
Kafka endpoint, ``eventhubs://<hub>`` the azure-eventhub SDK. The Kafka and Event Hubs modules
are imported only when used, so their libraries stay optional extras.
"""

from __future__ import annotations

import importlib.util

from driftloop.errors import ConfigError
from driftloop.telemetry.bus.base import BusConsumer, BusProducer, BusUnavailableError, Message, Record
from driftloop.telemetry.settings import BusSettings

__all__ = ["BusConsumer", "BusProducer", "BusUnavailableError", "Message", "Record", "open_consumer", "open_producer"]


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigError(f"bus URL {url!r} has no scheme: use sqlite:///, kafka:// or eventhubs://")
    return scheme.lower()


def _require(module: str, extra: str) -> None:
    if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
        raise ConfigError(f"this bus URL needs {module}: pip install 'driftloop[{extra}]'")


def open_producer(settings: BusSettings) -> BusProducer:
    """A producer for the configured bus (not started yet)."""
    scheme = _scheme(settings.url)
    if scheme == "sqlite":
        from driftloop.telemetry.bus.embedded import EmbeddedProducer, path_from_url

        return EmbeddedProducer(path_from_url(settings.url))
    if scheme == "kafka":
        _require("aiokafka", "kafka")
        from driftloop.telemetry.bus.kafka import KafkaProducer

        return KafkaProducer(settings)
    if scheme == "eventhubs":
        _require("azure.eventhub", "eventhubs")
        from driftloop.telemetry.bus.eventhubs import EventHubsProducer

        return EventHubsProducer(settings)
    raise ConfigError(f"unknown bus URL scheme {scheme!r}: use sqlite:///, kafka:// or eventhubs://")


def open_consumer(settings: BusSettings, group: str | None = None) -> BusConsumer:
    """A consumer of the configured bus in ``group`` (default: ``settings.consumer_group``)."""
    scheme = _scheme(settings.url)
    group = group or settings.consumer_group
    if scheme == "sqlite":
        from driftloop.telemetry.bus.embedded import EmbeddedConsumer, path_from_url

        return EmbeddedConsumer(path_from_url(settings.url), group)
    if scheme == "kafka":
        _require("aiokafka", "kafka")
        from driftloop.telemetry.bus.kafka import KafkaConsumer

        return KafkaConsumer(settings, group)
    if scheme == "eventhubs":
        _require("azure.eventhub", "eventhubs")
        from driftloop.telemetry.bus.eventhubs import EventHubsConsumer

        return EventHubsConsumer(settings, group)
    raise ConfigError(f"unknown bus URL scheme {scheme!r}: use sqlite:///, kafka:// or eventhubs://")
