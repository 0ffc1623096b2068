"""The rollups on PostgreSQL (COPY + RETURNING path): equal to the raw rows, duplicates counted once.

Traffic, labelled counts (labels before and after their predictions, concurrent writers) and
the 5-minute drift slots.
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from driftloop.report import drift as drift_chart
from driftloop.report import performance, traffic
from driftloop.report.timerange import resolve_range
from driftloop.store import make_engine, upgrade, write_batch
from driftloop.store.drift import insert_metrics
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.events import feedback_event, prediction_event, rejected_event
from driftloop.telemetry.parse import ParsedBatch, ParsedEvent, parse_event

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "report"))  # the unit tests' windows
from drift_windows import START as DRIFT_START
from drift_windows import close, window_rows

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


def before_0006(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as a store before migration 0006 held them: no served_at / received_at."""
    return [{k: v for k, v in row.items() if k not in ("served_at", "received_at")} for row in rows]


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
            connection.execute(insert(Prediction), before_0006(rows["predictions"]))
            connection.execute(insert(Rejected), rows["rejected"])
        upgrade(engine)
        with engine.connect() as connection:
            totals = connection.execute(
                text("SELECT sum(requests), sum(records), sum(rejected) FROM traffic_minutes")
            ).one()
        assert tuple(totals) == (400, len(rows["predictions"]), len(rows["rejected"]))
    finally:
        engine.dispose()


def _labelled_traffic() -> tuple[list[ParsedEvent], list[ParsedEvent], list[ParsedEvent]]:
    """Labels stored before their predictions, with them, and after; per request or per record; some twice."""
    rng = random.Random(11)
    early: list[ParsedEvent] = []
    events: list[ParsedEvent] = []
    late: list[ParsedEvent] = []
    for i in range(300):
        moment = START + timedelta(seconds=rng.uniform(0, 90 * 60))
        n = rng.randint(1, 3)
        values = [rng.choice([0, 1]) for _ in range(n)]
        event = prediction_event(
            "test",
            model="credit",
            version=1 if i % 3 else 2,
            request_id=f"r{i}",
            records=[{"x": float(j)} for j in range(n)],
            predictions=values,
            probabilities=None,
            class_labels=[0, 1],
            latency_ms=2.0,
        )
        events.append(_at(event, moment))
        record = None if i % 2 else n - 1
        label = feedback_event(
            "test",
            model="credit",
            request_id=f"r{i}",
            record_index=record,
            actual=rng.choice([0, 1]),
            known_request=True,
        )
        if i % 5 == 0:
            early.append(_at(label, moment))
        elif i % 5 == 1:
            events.append(_at(label, moment))
        elif i % 5 == 2:
            late.append(_at(label, moment))
            if i % 10 == 2:  # a second label for the same record(s)
                again = feedback_event(
                    "test", model="credit", request_id=f"r{i}", record_index=record, actual=1, known_request=True
                )
                late.append(_at(again, moment))
    return early, events, late


def test_the_labelled_counts_equal_the_raw_join(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    early, events, late = _labelled_traffic()
    for part in (early, events, late):
        batches = [part[i : i + 70] for i in range(0, len(part), 70)]
        for batch in batches:
            write_batch(engine, ParsedBatch(events=batch))
        write_batch(engine, ParsedBatch(events=batches[0]))  # redelivered
    joined = text(
        """
        SELECT p.version, date_trunc('minute', p.time), count(*), count(*) FILTER (WHERE p.prediction = f.actual)
        FROM predictions p JOIN feedback f ON f.request_id = p.request_id AND f.model = p.model
             AND (f.record_index IS NULL OR f.record_index = p.record_index)
        GROUP BY 1, 2
        """
    )
    rolled = text("SELECT version, minute, labelled, correct FROM traffic_minutes WHERE labelled > 0")
    with engine.connect() as connection:
        expected = {(v, m): (n, c) for v, m, n, c in connection.execute(joined)}
        actual = {(v, m): (n, c) for v, m, n, c in connection.execute(rolled)}
    assert actual == expected
    assert sum(n for n, _ in actual.values()) > 180

    rng = resolve_range(engine, "credit", START + timedelta(seconds=20), START + timedelta(minutes=85, seconds=30))
    from_rollup = performance.performance(engine, "credit", rng)
    monkeypatch.setattr(performance, "uses_rollup", lambda _: False)
    assert from_rollup == performance.performance(engine, "credit", rng)


def test_concurrent_batches_with_the_two_sides_of_a_pair_count_it_once(engine: Engine) -> None:
    # One thread stores predictions, the other their labels at the same moment: whichever commits
    # second must find the first's rows (the per-model advisory lock), never neither.
    _, events, _ = _labelled_traffic()
    predictions = [e for e in events if e.type.endswith("prediction")][:120]
    labels = []
    for e in predictions:
        label = feedback_event(
            "test", model="credit", request_id=e.data.request_id, record_index=None, actual=1, known_request=True
        )
        labels.append(_at(label, e.time))
    start = threading.Barrier(2)

    def deliver(side: list[ParsedEvent]) -> None:
        for i in range(0, len(side), 4):
            start.wait()
            write_batch(engine, ParsedBatch(events=side[i : i + 4]))

    threads = [threading.Thread(target=deliver, args=(side,)) for side in (predictions, labels)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        labelled = connection.execute(text("SELECT sum(labelled) FROM traffic_minutes")).scalar_one()
    assert labelled == sum(len(e.data.records) for e in predictions)


def test_the_drift_chart_from_the_slots_equals_the_chart_from_the_windows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = window_rows(5)
    with engine.begin() as connection:
        for i in range(0, len(rows), 140):
            insert_metrics(connection, rows[i : i + 140])
    rng = resolve_range(
        engine, "credit", DRIFT_START + timedelta(minutes=3), DRIFT_START + timedelta(hours=6, minutes=58)
    )
    assert drift_chart.uses_slots(rng)
    from_slots = drift_chart.drift(engine, "credit", rng)
    monkeypatch.setattr(drift_chart, "uses_slots", lambda _: False)
    assert close(from_slots, drift_chart.drift(engine, "credit", rng))
    assert len(from_slots["time"]) > 10


def test_upgrading_a_store_with_labels_and_drift_rolls_them_up(fresh_database: str) -> None:
    from sqlalchemy import insert

    from driftloop.store.drift import DriftMetric
    from driftloop.store.models import Feedback, Prediction
    from driftloop.store.writer import batch_rows

    engine = make_engine(StoreSettings(url=fresh_database))
    try:
        upgrade(engine, "0004_traffic_rollup")  # rows written before 0005, then the upgrade
        early, events, late = _labelled_traffic()
        rows = batch_rows(ParsedBatch(events=early + events + late))
        with engine.begin() as connection:
            connection.execute(insert(Prediction), before_0006(rows["predictions"]))
            connection.execute(insert(Feedback), before_0006(rows["feedback"]))
            connection.execute(insert(DriftMetric), [r for r in window_rows(6) if r["window_index"] < 100])
        upgrade(engine)
        with engine.connect() as connection:
            labelled = connection.execute(text("SELECT sum(labelled) FROM traffic_minutes")).scalar_one()
            pairs = connection.execute(text("SELECT count(*) FROM labelled_predictions")).scalar_one()
            windows = connection.execute(text("SELECT sum(windows) FROM drift_slots")).scalar_one()
        assert labelled == pairs > 0
        assert windows == 100 * 4 * 2
    finally:
        engine.dispose()
