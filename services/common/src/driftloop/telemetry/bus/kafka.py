"""Apache Kafka backend (aiokafka), also for Azure Event Hubs' Kafka endpoint.

URL ``kafka://host:port[,host:port...]/topic``. With a connection string in
``DRIFTLOOP_BUS__CONNECTION_STRING`` (``Endpoint=sb://<namespace>.servicebus.windows.net/;...``)
the client talks SASL_SSL + PLAIN to ``<namespace>.servicebus.windows.net:9093`` with the user
``$ConnectionString`` and the connection string as password: Event Hubs' Kafka endpoint with
configuration only. The topic is the URL's path, or the connection string's ``EntityPath``.

The producer is idempotent with ``acks=all`` (no duplicates from its own retries, nothing
acknowledged before every in-sync replica has it), batches with linger and compression, and
keys by model name so each model's events stay in order on one partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from driftloop.errors import ConfigError
from driftloop.telemetry.bus.base import BusUnavailableError, Message, Record, next_offsets
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import content_type

EVENT_HUBS_KAFKA_PORT = 9093
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaTarget:
    bootstrap: str
    topic: str
    sasl_password: str | None = None
    """The Event Hubs connection string when talking to Event Hubs' Kafka endpoint."""

    def client_options(self) -> dict[str, object]:
        if self.sasl_password is None:
            return {"bootstrap_servers": self.bootstrap}
        from aiokafka.helpers import create_ssl_context

        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": "$ConnectionString",
            "sasl_plain_password": self.sasl_password,
            "ssl_context": create_ssl_context(),
        }


def parse_connection_string(connection_string: str) -> dict[str, str]:
    """``Key=Value;Key=Value`` pairs of an Event Hubs connection string (keys as written)."""
    parts: dict[str, str] = {}
    for item in connection_string.strip().strip(";").split(";"):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("the Event Hubs connection string is not a list of Key=Value pairs")
        parts[key.strip()] = value.strip()
    if "Endpoint" not in parts:
        raise ConfigError("the Event Hubs connection string has no Endpoint=sb://<namespace>... part")
    return parts


def kafka_target(settings: BusSettings) -> KafkaTarget:
    rest = settings.url.removeprefix("kafka://")
    hosts, _, topic = rest.partition("/")
    topic = topic.strip("/")
    if settings.connection_string:
        parts = parse_connection_string(settings.connection_string)
        namespace_host = parts["Endpoint"].removeprefix("sb://").strip("/")
        topic = topic or parts.get("EntityPath", "")
        if not topic:
            raise ConfigError(
                "name the event hub: kafka://<namespace>:9093/<hub> or EntityPath= in the connection string"
            )
        bootstrap = hosts or f"{namespace_host}:{EVENT_HUBS_KAFKA_PORT}"
        return KafkaTarget(bootstrap=bootstrap, topic=topic, sasl_password=settings.connection_string)
    if not hosts or not topic:
        raise ConfigError(f"Kafka bus URL must be kafka://host:port/topic, got {settings.url!r}")
    return KafkaTarget(bootstrap=hosts, topic=topic)


def producer_options(settings: BusSettings, target: KafkaTarget) -> dict[str, object]:
    options = target.client_options()
    options.update(
        acks="all",
        # Event Hubs' Kafka endpoint does not take the idempotent-producer handshake (InitProducerId).
        enable_idempotence=target.sasl_password is None,
        linger_ms=settings.linger_kafka_ms,
        compression_type=compression(settings, target),
        max_batch_size=1 << 20,
        request_timeout_ms=int(settings.send_timeout_s * 1000),
    )
    return options


def compression(settings: BusSettings, target: KafkaTarget) -> str | None:
    """The codec: ``auto`` is zstd (fast, compact) on Kafka and gzip on Event Hubs' Kafka endpoint,
    which takes gzip only; gzip costs the scoring process ~3x zstd's CPU (level 9 in aiokafka)."""
    if settings.compression in ("", "none"):
        return None
    if settings.compression == "auto":
        return "gzip" if target.sasl_password is not None else "zstd"
    return settings.compression


class KafkaProducer:
    def __init__(self, settings: BusSettings) -> None:
        self.target = kafka_target(settings)
        self._producer = AIOKafkaProducer(**producer_options(settings, self.target))

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise BusUnavailableError(f"Kafka at {self.target.bootstrap} is unreachable: {exc}") from exc

    async def send_batch(self, messages: Sequence[Message]) -> None:
        try:
            # send() only queues (awaiting when the accumulator is full); the futures resolve on acks.
            pending = [
                await self._producer.send(
                    self.target.topic, m.value, key=m.key, headers=[("content-type", content_type(m).encode())]
                )
                for m in messages
            ]
            await asyncio.gather(*pending)
        except KafkaError as exc:
            raise BusUnavailableError(f"Kafka did not acknowledge a batch: {exc}") from exc

    async def stop(self) -> None:
        await self._producer.stop()


class KafkaConsumer:
    """A member of a consumer group: partitions are shared out among the group's members."""

    def __init__(self, settings: BusSettings, group: str) -> None:
        self.target = kafka_target(settings)
        self._consumer = AIOKafkaConsumer(
            self.target.topic,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 << 20,
            fetch_max_bytes=16 << 20,
            **self.target.client_options(),  # type: ignore[arg-type]
        )

    async def start(self) -> None:
        try:
            await self._consumer.start()
        except KafkaError as exc:
            await self._consumer.stop()
            raise BusUnavailableError(f"Kafka at {self.target.bootstrap} is unreachable: {exc}") from exc

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [
            Record(value=m.value or b"", key=m.key, partition=tp.partition, offset=m.offset, topic=tp.topic)
            for tp, records in batches.items()
            for m in records
        ]

    async def commit(self, records: Sequence[Record]) -> None:
        offsets = {
            TopicPartition(topic, partition): offset for (topic, partition), offset in next_offsets(records).items()
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)  # type: ignore[arg-type]
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved to another member in a rebalance: it reads from the last commit
            # and the store ignores what this member already wrote (at-least-once, stored once).
            logger.warning("offset commit refused after a rebalance, the new owner re-reads: %r", exc)

    async def rewind(self) -> None:
        partitions = self._consumer.assignment()
        if partitions:
            await self._consumer.seek_to_committed(*partitions)

    async def lag(self) -> int:
        total = 0
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            committed = await self._consumer.committed(tp)
            if highwater is not None:
                total += max(0, highwater - (committed or 0))
        return total

    async def stop(self) -> None:
        await self._consumer.stop()


__all__ = ["KafkaConsumer", "KafkaProducer", "KafkaTarget", "kafka_target", "parse_connection_string"]
