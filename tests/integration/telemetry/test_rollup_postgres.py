"""The per-minute rollup on PostgreSQL (COPY + RETURNING path): equal to the raw rows, duplicates counted once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from driftloop.report import traffic
from driftloop.report.timerange import resolve_range
from driftloop.store import make_engine, upgrade, write_batch
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.events import prediction_event, rejected_event
from driftloop.telemetry.parse import ParsedBatch, ParsedEvent, parse_event

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _at(event: dict[str, Any], moment: datetime) -> ParsedEvent:
    event["time"] = moment.isoformat().replace("+00:00", "Z")
    return parse_event(orjson.dumps(event))


def _traffic() -> list[ParsedEvent]:
    rng = random.Random(7)
    events = []
    for i in range(400):
        moment = START + timedelta(seconds=rng.uniform(0, 90 * 60))
        n = rng.randint(1, 3)
        event = prediction_event(
            "test",
            model="credit",
            version=1 if i % 3 else 2,
            request_id=f"r{i}",
            records=[{"x": float(j)} for j in range(n)],
            predictions=[rng.choice([0, 1]) for _ in range(n)],
            probabilities=None,
            class_labels=[0, 1],
            latency_ms=round(rng.lognormvariate(2, 0.8), 3),
        )
        events.append(_at(event, moment))
        if i % 40 == 0:
            bad = rejected_event("test", model="credit", version=1, request_id=f"b{i}", status=422, error={}, body="{}")
            events.append(_at(bad, moment))
    return events


@pytest.fixture
def engine(fresh_database: str) -> Iterator[Engine]:
    engine = make_engine(StoreSettings(url=fresh_database))
    upgrade(engine)
    yield engine
    engine.dispose()


def test_the_rollup_equals_the_raw_rows_with_a_redelivered_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _traffic()
    batches = [events[i : i + 60] for i in range(0, len(events), 60)]
    for batch in batches:
        write_batch(engine, ParsedBatch(events=batch))
    write_batch(engine, ParsedBatch(events=batches[2]))  # redelivered whole
    write_batch(engine, ParsedBatch(events=batches[3][:10] + batches[4][:10]))  # and in part

    raw = text(
        """
        SELECT version, date_trunc('minute', time) AS minute, count(*) AS records,
               count(*) FILTER (WHERE record_index = 0) AS requests
        FROM predictions GROUP BY version, minute
        """
    )
    refused = text("SELECT version, date_trunc('minute', time) AS minute, count(*) FROM rejected GROUP BY 1, 2")
    rolled = text("SELECT version, minute, records, requests, rejected FROM traffic_minutes")
    with engine.connect() as connection:
        expected = {(v, m): [records, requests, 0] for v, m, records, requests in connection.execute(raw)}
        for v, m, count in connection.execute(refused):
            expected.setdefault((v, m), [0, 0, 0])[2] = count
        actual = {
            (v, m): [records, requests, rejected] for v, m, records, requests, rejected in connection.execute(rolled)
        }
    assert actual == expected
    assert sum(counts[1] for counts in actual.values()) == 400

    rng = resolve_range(engine, "credit", START + timedelta(seconds=20), START + timedelta(minutes=85, seconds=30))
    charts = (traffic.volume, traffic.latency, traffic.predictions)
    from_rollup = [chart(engine, "credit", rng) for chart in charts]
    monkeypatch.setattr(traffic, "uses_rollup", lambda _: False)
    from_rows = [chart(engine, "credit", rng) for chart in charts]
    assert from_rollup == from_rows
    assert from_rollup[2]["shares"].keys() == {"0", "1"}


def test_upgrading_a_store_with_traffic_rolls_its_rows_up(fresh_database: str) -> None:
    from sqlalchemy import insert

    from driftloop.store.models import Prediction, Rejected
    from driftloop.store.writer import batch_rows

    engine = make_engine(StoreSettings(url=fresh_database))
    try:
        upgrade(engine, "0003_drift")  # rows written before the rollup existed, then the upgrade
        rows = batch_rows(ParsedBatch(events=_traffic()))
        with engine.begin() as connection:
            connection.execute(insert(Prediction), rows["predictions"])
            connection.execute(insert(Rejected), rows["rejected"])
        upgrade(engine)
        with engine.connect() as connection:
            totals = connection.execute(
                text("SELECT sum(requests), sum(records), sum(rejected) FROM traffic_minutes")
            ).one()
        assert tuple(totals) == (400, len(rows["predictions"]), len(rows["rejected"]))
    finally:
        engine.dispose()
