"""The per-minute rollup against the raw rows, on a SQLite store filled through the real writer.

The oracle is the events themselves (counted once per event id) and the charts computed from the
raw rows (the same functions with the rollup switched off).
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from driftloop.report import performance, traffic
from driftloop.report.timerange import TimeRange, resolve_range
from driftloop.store import TrafficMinute, make_engine, upgrade, write_batch
from driftloop.store.queries import labelled_predictions
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.events import feedback_event, prediction_event, rejected_event
from driftloop.telemetry.parse import ParsedBatch, ParsedEvent, parse_event

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
MINUTES = 90  # more than 75 minutes: the charts of the whole range use 60 s buckets, so the rollup


def _at(event: dict[str, Any], moment: datetime) -> ParsedEvent:
    event["time"] = moment.isoformat().replace("+00:00", "Z")
    return parse_event(orjson.dumps(event))


def make_traffic(seed: int, *, regression: bool = False) -> list[ParsedEvent]:
    """Requests of 1-3 records spread over MINUTES minutes, two versions, a few refusals.

    Labels (right or wrong) for some requests: most in the batch stream just after their
    prediction, some delivered before every prediction (labels first), some after all of them,
    some for one record only, a few requests labelled twice.
    """
    rng = random.Random(seed)
    events: list[ParsedEvent] = []
    early: list[ParsedEvent] = []
    late: list[ParsedEvent] = []
    for i in range(MINUTES * 5):
        moment = START + timedelta(seconds=rng.uniform(0, MINUTES * 60))
        n = rng.randint(1, 3)
        if regression:
            values: list[Any] = [round(rng.uniform(0, 100), 3) for _ in range(n)]
        else:
            values = [rng.choice(["low", "high", "medium"]) for _ in range(n)]
        event = prediction_event(
            "test",
            model="credit",
            version=1 if i % 3 else 2,
            request_id=f"r{i}",
            records=[{"x": float(j)} for j in range(n)],
            predictions=values,
            probabilities=None,
            class_labels=None if regression else ["high", "low", "medium"],
            latency_ms=round(rng.lognormvariate(2, 0.8), 3),
        )
        events.append(_at(event, moment))
        if i % 10 == 0:  # a label for the request, right or wrong
            label = feedback_event(
                "test", model="credit", request_id=f"r{i}", record_index=None, actual=values[0], known_request=True
            )
            events.append(_at(label, moment + timedelta(minutes=1)))
        if i % 10 == 3:  # a label for its last record, stored before any prediction
            label = feedback_event(
                "test", model="credit", request_id=f"r{i}", record_index=n - 1, actual=values[-1], known_request=False
            )
            early.append(_at(label, moment - timedelta(seconds=5)))
        if i % 20 == 7 or i % 20 == 0:  # labelled (again, for i % 20 == 0) after every prediction
            label = feedback_event(
                "test", model="credit", request_id=f"r{i}", record_index=0, actual=values[-1], known_request=True
            )
            late.append(_at(label, moment + timedelta(hours=2)))
        if i % 40 == 0:
            bad = rejected_event(
                "test", model="credit", version=1, request_id=f"b{i}", status=422, error={"code": "x"}, body="{}"
            )
            events.append(_at(bad, moment))
    return early + events + late


def deliver_with_duplicates(engine: Engine, events: list[ParsedEvent]) -> None:
    """Batches of 50, then the second batch again, then a batch of half old and half new events."""
    batches = [events[i : i + 50] for i in range(0, len(events), 50)]
    for batch in batches[:-1]:
        write_batch(engine, ParsedBatch(events=batch))
    write_batch(engine, ParsedBatch(events=batches[1]))
    write_batch(engine, ParsedBatch(events=batches[-2][:25] + batches[-1]))


def expected_minutes(events: list[ParsedEvent]) -> dict[tuple[int, datetime], dict[str, Any]]:
    minutes: dict[tuple[int, datetime], dict[str, Any]] = defaultdict(
        lambda: {"requests": 0, "records": 0, "rejected": 0, "labels": Counter(), "latency": Counter()}
    )
    for event in {e.id: e for e in events}.values():
        data: Any = event.data
        if event.type.endswith("feedback"):
            continue
        minute = (data.version or 0, event.time.replace(second=0, microsecond=0))
        if event.type.endswith("rejected"):
            minutes[minute]["rejected"] += 1
            continue
        minutes[minute]["requests"] += 1
        minutes[minute]["records"] += len(data.records)
        minutes[minute]["labels"].update(str(p) for p in data.predictions)
        minutes[minute]["latency"][str(math.floor(math.log(data.latency_ms + 0.001) * 20 + 0.5))] += 1
    return minutes


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    return engine


def test_the_rollup_counts_each_stored_event_once(engine: Engine) -> None:
    events = make_traffic(1)
    deliver_with_duplicates(engine, events)
    with engine.connect() as connection:
        rows = connection.execute(select(TrafficMinute.__table__)).mappings().all()
    actual = {
        (r["version"], r["minute"].replace(tzinfo=UTC)): {
            "requests": r["requests"],
            "records": r["records"],
            "rejected": r["rejected"],
            "labels": Counter(r["label_counts"]),
            "latency": Counter(r["latency_bins"]),
        }
        for r in rows
    }
    assert actual == dict(expected_minutes(events))
    assert sum(r["requests"] for r in rows) == len([e for e in events if e.type.endswith("prediction")])


def test_the_labelled_counts_equal_the_raw_join(engine: Engine) -> None:
    deliver_with_duplicates(engine, make_traffic(3))
    expected: dict[tuple[int, datetime], list[int]] = defaultdict(lambda: [0, 0])
    for row in labelled_predictions(engine, "credit"):
        minute = (row["version"], row["time"].replace(tzinfo=UTC, second=0, microsecond=0))
        expected[minute][0] += 1
        expected[minute][1] += row["prediction"] == row["actual"]
    with engine.connect() as connection:
        rows = connection.execute(select(TrafficMinute.__table__)).mappings().all()
    actual = {(r["version"], r["minute"].replace(tzinfo=UTC)): [r["labelled"], r["correct"]] for r in rows}
    assert {k: v for k, v in actual.items() if v != [0, 0]} == dict(expected)
    labelled = sum(count for count, _ in expected.values())
    # 45 request-level labels (1-3 records each), 45 early and 45 late single-record ones, 23 of them twice.
    assert labelled > 45 + 45 + 45
    assert 0 < sum(correct for _, correct in expected.values()) < labelled


def _charts(engine: Engine, rng: TimeRange, regression: bool) -> dict[str, Any]:
    return {
        "performance": performance.performance(engine, "credit", rng, regression=regression),
        "volume": traffic.volume(engine, "credit", rng),
        "latency": traffic.latency(engine, "credit", rng),
        "predictions": traffic.predictions(engine, "credit", rng),
    }


@pytest.mark.parametrize("regression", [False, True])
def test_the_charts_from_the_rollup_equal_the_charts_from_the_raw_rows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, regression: bool
) -> None:
    deliver_with_duplicates(engine, make_traffic(2, regression=regression))
    # Both ends inside a minute: the partial minutes come from the raw rows, the rest from the rollup.
    rng = resolve_range(engine, "credit", START + timedelta(seconds=20), START + timedelta(minutes=85, seconds=30))
    assert rng.step == 60
    assert traffic.uses_rollup(rng)
    from_rollup = _charts(engine, rng, regression)
    monkeypatch.setattr(traffic, "uses_rollup", lambda _: False)
    monkeypatch.setattr(performance, "uses_rollup", lambda _: False)
    from_rows = _charts(engine, rng, regression)
    # The mean of the same numbers summed in another order: equal to the 4 decimals shown, but for a tie.
    assert from_rollup["performance"]["value"] == pytest.approx(from_rows["performance"]["value"], abs=1e-4)
    assert {**from_rollup["performance"], "value": None} == {**from_rows["performance"], "value": None}
    assert from_rollup["performance"]["total_labelled"] > 0
    assert from_rollup["volume"] == from_rows["volume"]
    assert from_rollup["latency"] == from_rows["latency"]
    if regression:
        assert from_rollup["predictions"]["kind"] == from_rows["predictions"]["kind"] == "mean"
        assert from_rollup["predictions"]["time"] == from_rows["predictions"]["time"]
        assert from_rollup["predictions"]["mean"] == pytest.approx(from_rows["predictions"]["mean"])
    else:
        assert from_rollup["predictions"] == from_rows["predictions"]
        assert set(from_rollup["predictions"]["shares"]) == {"low", "medium", "high"}
    assert sum(from_rollup["volume"]["requests"]) > 0
