"""What a poisoned event costs the forwarder: storing a batch with 0, 1 or 10 events the store refuses.

    .venv/bin/python bench/forwarder_poison.py [--events 5000] [--repeat 5] [--url postgresql+psycopg://...]

Each run stores a fresh batch of ``--events`` prediction events (two records each) with
``driftloop.store.poison.store_batch`` into a fresh store (SQLite in a temporary directory, or
the database at ``--url``, emptied between runs), the poisoned events (a record index beyond 64
bits in a feedback event) spread evenly. Prints the median seconds per batch and the
transactions the bisection ran. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, text

from driftloop.store import StoreSettings, make_engine, upgrade
from driftloop.store import poison as poison_module
from driftloop.store.poison import store_batch
from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.events import feedback_event, prediction_event
from driftloop.telemetry.parse import ParsedBatch, parse_records


def batch(events: int, poisoned: int, run: int) -> ParsedBatch:
    made: list[dict[str, Any]] = [
        prediction_event(
            "bench", model="credit", version=1, request_id=f"r{run}-{i}", records=[{"x": float(i)}, {"x": 1.0}],
            predictions=[0, 1], probabilities=[[0.5, 0.5], [0.2, 0.8]], class_labels=[0, 1], latency_ms=1.0,
        )
        for i in range(events)
    ]  # fmt: skip
    for k in range(poisoned):
        bad = feedback_event("bench", model="credit", request_id="r", record_index=0, actual=1, known_request=True)
        bad["data"]["record_index"] = 18446744073709551615
        made[(k * 2 + 1) * events // (2 * poisoned)] = bad
    return parse_records([Record(orjson.dumps(made), None, 0, run)])


def empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in ("predictions", "feedback", "rejected", "dead_letters", "traffic_minutes"):
            connection.execute(text(f"DELETE FROM {table}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'store.db'}"
        engine = make_engine(StoreSettings(url=url))
        upgrade(engine)
        writes = 0
        original = poison_module.write_batch

        def counted(*a: Any) -> Any:
            nonlocal writes
            writes += 1
            return original(*a)

        poison_module.write_batch = counted  # type: ignore[assignment]
        print(f"store: {engine.dialect.name}, {args.events} events per batch, median of {args.repeat} runs")
        for poisoned in (0, 1, 10):
            seconds = []
            for run in range(args.repeat):
                empty(engine)
                parsed = batch(args.events, poisoned, run)
                writes = 0
                started = time.perf_counter()
                outcome = store_batch(engine, parsed, lambda event: event.id)
                seconds.append(time.perf_counter() - started)
                if len(outcome.poisoned) != poisoned:  # a figure must measure what it says
                    raise SystemExit(f"expected {poisoned} dead letters, got {len(outcome.poisoned)}")
            median_ms = statistics.median(seconds) * 1000
            print(f"  {poisoned:>2} poisoned: {median_ms:8.1f} ms per batch, {writes} transactions")
        engine.dispose()


if __name__ == "__main__":
    main()
