"""A forwarder that cannot be poisoned: the real forwarder, the embedded bus, SQLite and PostgreSQL.

Each known poison goes on the bus between good traffic, packed into the same JSON batch messages
as good events where it is an event. After it: every good event is stored, the poison is in
``dead_letters`` with its reason (or stored, where that store can hold it), the drift sink saw
only what was stored, the same group restarted reads nothing again, and a group reading the
whole bus again neither gets stuck nor stores anything twice. The Kafka case runs the pipelined
loop against the broker and PostgreSQL. Counts go to the session's summary (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from integration_servers import new_topic
from poison_cases import CASES, Case, good_feedback, good_prediction
from sqlalchemy import Engine, text

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.telemetry.bus import open_consumer
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.bus.embedded import EmbeddedProducer, path_from_url
from driftloop.telemetry.parse import ParsedBatch
from driftloop.telemetry.publisher import EventPublisher
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import decode
from driftloop_forwarder.core import Forwarder
from driftloop_forwarder.settings import ForwardSettings

BEFORE, AFTER = range(0, 30), range(30, 60)  # good predictions around the poison; every third gets a label
BOUND_S = 120  # guards against a hang only; a stuck forwarder fails here instead of blocking the run


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("fresh_database"))


@pytest.fixture
def bus(tmp_path: Path) -> BusSettings:
    return BusSettings(url=f"sqlite:///{tmp_path / 'bus.db'}", spill_path=tmp_path / "spill", linger_ms=50, relay=False)


def traffic(indices: range) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in indices:
        events.append(good_prediction(i))
        if i % 3 == 0:
            events.append(good_feedback(i))
    return events


async def publish(settings: BusSettings, case: Case) -> tuple[list[str], str | None]:
    """Good traffic, the poison, good traffic; the good events' ids in bus order, and the poison's id."""
    before, after = traffic(BEFORE), traffic(AFTER)
    publisher = EventPublisher(settings, "poison-test")
    await publisher.start()
    for event in before:
        publisher.publish(event)
    if case.event is not None:
        publisher.publish(case.event)
    for event in after if case.raw is None else []:
        publisher.publish(event)
    await publisher.stop()  # everything sent: one or a few JSON batch messages
    assert publisher.stats.dropped == 0
    assert publisher.stats.sent == len(before) + len(after if case.raw is None else []) + (case.event is not None)
    if case.raw is not None:  # its own message, as a foreign producer wrote it, then the rest
        producer = EmbeddedProducer(path_from_url(settings.url))
        await producer.start()
        await producer.send_batch([Message(b"credit", case.raw), *(Message(b"credit", orjson.dumps(e)) for e in after)])
        await producer.stop()
    poison_id = case.event["id"] if case.event is not None else None
    return [e["id"] for e in [*before, *after]], poison_id


async def forward(settings: BusSettings, engine: Engine, group: str) -> tuple[Forwarder, list[str]]:
    """Run a forwarder until the bus is drained; the forwarder and the ids its sink received."""
    consumer = open_consumer(settings, group)
    await consumer.start()
    seen: list[str] = []

    async def sink(batch: ParsedBatch) -> None:
        seen.extend(event.id for event in batch.events)

    forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=40), poll_timeout_ms=50, sinks=[sink])
    try:
        async with asyncio.timeout(BOUND_S):
            while await forwarder.step():
                pass
    finally:
        await consumer.stop()
    return forwarder, seen


async def event_at(settings: BusSettings, position: str) -> dict[str, Any]:
    """The event at a dead letter's position: ``embedded/0@<offset>``, ``#<index>`` inside a JSON batch."""
    offset, _, index = position.removeprefix("embedded/0@").partition("#")
    consumer = open_consumer(settings, "reader")
    await consumer.start()
    try:
        records = await consumer.poll(10_000, 50)
    finally:
        await consumer.stop()
    events = decode(next(r.value for r in records if r.offset == int(offset)))
    return events[int(index or 0)]


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT event_id FROM predictions UNION SELECT event_id FROM feedback"
                " UNION SELECT event_id FROM rejected"
            )
        )
        return {row[0] for row in rows}


def dead_letters(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT position, reason, payload FROM dead_letters"))]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_poison_is_parked_and_the_events_after_it_are_stored(
    case: Case, backend: str, store_url: str, bus: BusSettings, record_property: Callable[[str, object], None]
) -> None:
    engine = make_engine(StoreSettings(url=store_url))
    upgrade(engine)
    good, poison_id = asyncio.run(publish(bus, case))
    expected = case.expected(backend)

    forwarder, seen = asyncio.run(forward(bus, engine, "forwarder"))

    stored = stored_ids(engine)
    assert set(good) <= stored, f"{len(set(good) - stored)} good events missing"
    letters = dead_letters(engine)
    if expected == "stored":
        assert letters == []
        assert poison_id in stored
        assert sorted(seen) == sorted([*good, poison_id])  # (another model's events travel in their own message)
        assert [event_id for event_id in seen if event_id != poison_id] == good
    else:
        assert len(letters) == 1, letters
        position, reason, payload = letters[0]
        assert expected in reason
        assert position.startswith("embedded/0@")
        if poison_id is not None:  # an event the store refused: parked whole, as JSON, and found by its place
            assert poison_id not in stored
            assert orjson.loads(payload)["id"] == poison_id
            assert asyncio.run(event_at(bus, position))["id"] == poison_id  # its place on the bus
            assert forwarder.stats.data_errors == 1
        else:  # a message the parser refused
            assert forwarder.stats.data_errors == 0
        assert seen == good  # the drift sink gets what was stored, in bus order, and nothing else
    assert forwarder.stats.database_errors == 0
    after = len(stored & set(good[len(traffic(BEFORE)) :]))
    assert after == len(traffic(AFTER))

    # Restarted in the same group: everything was committed, nothing is read again.
    restarted, _ = asyncio.run(forward(bus, engine, "forwarder"))
    assert restarted.stats.events == 0
    # A group reading the whole bus again (a lost offset): not stuck, nothing stored twice.
    counts = count_rows(engine)
    replay, _ = asyncio.run(forward(bus, engine, "replay"))
    assert replay.stats.events == forwarder.stats.events
    assert count_rows(engine) == counts
    engine.dispose()
    record_property("tally", ("poison", {"cases": 1, "stored after": after, "dead letters": len(letters)}))


def test_poisons_on_kafka_with_the_pipelined_loop_and_postgres(
    kafka_broker: str, fresh_database: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)
    poisons = [case.event for case in CASES if case.event is not None and case.postgresql != "stored"]
    poisons += [case.event for case in CASES if case.event is not None and case.postgresql == "stored"]

    async def scenario() -> tuple[Forwarder, list[str]]:
        topic = await new_topic(kafka_broker, partitions=1)
        settings = BusSettings(
            url=f"kafka://{kafka_broker}/{topic}", spill_path=tmp_path / "spill", linger_ms=20, relay=False
        )
        publisher = EventPublisher(settings, "poison-test")
        await publisher.start()
        good: list[str] = []
        for round_ in range(len(poisons)):  # poison after poison, good traffic around each
            for event in traffic(range(round_ * 100, round_ * 100 + 40)):
                publisher.publish(event)
                good.append(event["id"])
            publisher.publish(poisons[round_])  # type: ignore[arg-type]
        await publisher.stop()
        assert publisher.stats.dropped == 0
        consumer = open_consumer(settings, "forwarder-poison")
        await consumer.start()
        forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=60), poll_timeout_ms=100)
        task = asyncio.create_task(forwarder.run())
        try:
            async with asyncio.timeout(BOUND_S):
                while not set(good) <= await asyncio.to_thread(stored_ids, engine) or forwarder.stats.lag:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        finally:
            forwarder.stop()
            await task
            await consumer.stop()
        return forwarder, good

    forwarder, good = asyncio.run(scenario())
    letters = dead_letters(engine)
    refused = [case for case in CASES if case.event is not None and case.postgresql != "stored"]
    matched = sorted(next(c.name for c in refused if c.postgresql in reason) for _, reason, _ in letters)
    assert matched == sorted(case.name for case in refused)
    assert forwarder.stats.data_errors == len(refused)
    assert forwarder.stats.database_errors == 0
    assert forwarder.health.verdict().healthy
    assert set(good) <= stored_ids(engine)
    engine.dispose()
    record_property(
        "tally", ("poison", {"cases": len(poisons), "stored after": len(good), "dead letters": len(letters)})
    )
