"""The SQL aggregates over a SQLite store filled through the real writer with events at chosen times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from driftloop.errors import InvalidInputError
from driftloop.report.performance import performance
from driftloop.report.timerange import parse_time, resolve_range
from driftloop.report.traffic import latency, predictions, volume
from driftloop.store import make_engine, upgrade, write_batch
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.events import feedback_event, prediction_event, rejected_event
from driftloop.telemetry.parse import ParsedBatch, parse_event

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _at(event: dict[str, Any], moment: datetime) -> Any:
    event["time"] = moment.isoformat().replace("+00:00", "Z")
    return parse_event(orjson.dumps(event))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    events = []
    # Minute 0: 60 requests of 2 records, latencies 1..60 ms, predictions 0/1 alternating.
    # Minute 1: 30 requests of 2 records at 100 ms, all predicted 1; one refused request.
    for i in range(90):
        minute, second = divmod(i, 60) if i < 60 else (1, i - 60)
        latency_ms = float(i + 1) if i < 60 else 100.0
        label = i % 2 if i < 60 else 1
        event = prediction_event(
            "test",
            model="credit",
            version=1,
            request_id=f"r{i}",
            records=[{"x": 1.0}, {"x": 2.0}],
            predictions=[label, label],
            probabilities=None,
            class_labels=[0, 1],
            latency_ms=latency_ms,
        )
        events.append(_at(event, START + timedelta(minutes=minute, seconds=second)))
    # Labels for the first 10 requests of minute 0 (all 1: half of them right).
    for i in range(10):
        event = feedback_event(
            "test", model="credit", request_id=f"r{i}", record_index=None, actual=1, known_request=True
        )
        events.append(_at(event, START + timedelta(minutes=5)))
    bad = rejected_event(
        "test", model="credit", version=1, request_id="bad", status=422, error={"code": "x"}, body="{}"
    )
    events.append(_at(bad, START + timedelta(minutes=1, seconds=5)))
    write_batch(engine, ParsedBatch(events=events))
    return engine


def test_volume_counts_requests_records_and_refusals_per_bucket(engine: Engine) -> None:
    rng = resolve_range(engine, "credit", START, START + timedelta(minutes=2))
    assert rng.step == 1  # 120 s of range: 1 s buckets stay under the bucket budget
    wide = resolve_range(engine, "credit", START, START + timedelta(hours=2))
    assert wide.step == 60
    data = volume(engine, "credit", wide)
    assert data["time"] == ["2026-01-05T12:00:00Z", "2026-01-05T12:01:00Z"]
    assert data["requests"] == [60, 30]
    assert data["records"] == [120, 60]
    assert data["rejected"] == [0, 1]


def test_latency_percentiles_are_within_the_histogram_resolution(engine: Engine) -> None:
    rng = resolve_range(engine, "credit", START, START + timedelta(hours=2))
    data = latency(engine, "credit", rng)
    p50, p99 = data["p50"][0], data["p99"][0]
    assert p50 == pytest.approx(30, rel=0.05)
    assert p99 == pytest.approx(60, rel=0.05)
    assert data["p50"][1] == pytest.approx(100, rel=0.03)


def test_prediction_shares_and_accuracy_with_label_coverage(engine: Engine) -> None:
    rng = resolve_range(engine, "credit", START, START + timedelta(hours=2))
    shares = predictions(engine, "credit", rng)
    assert shares["kind"] == "classes"
    assert shares["shares"] == {"0": [0.5, 0.0], "1": [0.5, 1.0]}
    perf = performance(engine, "credit", rng)
    assert perf["labelled"] == [20, 0]  # 10 requests x 2 records
    assert perf["value"] == [0.5, None]
    assert perf["coverage"] == [round(20 / 120, 4), 0.0]


def test_an_open_range_runs_from_the_first_to_the_last_prediction(engine: Engine) -> None:
    rng = resolve_range(engine, "credit", None, None)
    assert rng.since == START
    assert rng.until > START + timedelta(minutes=1, seconds=29)


@pytest.mark.parametrize("value", ["yesterday", "7x", "2026-13-01"])
def test_a_bad_time_names_its_field(value: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        parse_time(value, "since")
    assert error.value.details == {"field": "since"}


def test_durations_count_back_from_now() -> None:
    parsed = parse_time("6h", "since")
    assert parsed is not None
    assert abs((datetime.now(UTC) - parsed) - timedelta(hours=6)) < timedelta(seconds=5)
    assert parse_time("2026-01-05T12:00:00", "since") == START  # no zone: UTC


def test_until_before_since_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidInputError) as error:
        resolve_range(engine, "credit", START, START - timedelta(seconds=1))
    assert error.value.details == {"field": "until"}
