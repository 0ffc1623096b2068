"""Drift through the forwarder: storage throughput with drift windows on and off (embedded bus, SQLite).

Run from the repository root: ``.venv/bin/python bench/drift_forwarder.py`` (``--windows``,
``--per-event``). Trains credit@1 with ``driftloop.train`` (linear, 2 trials) into a temporary
registry, scores ``make_credit`` records with its ONNX graph, publishes the prediction events (each
followed by one feedback event per record) to an embedded SQLite bus, then drains the backlog
with the forwarder core (``step()``: poll, store, commit, then drift) twice, into two fresh SQLite
stores: once without drift, once with ``DriftWatch`` (default rules, 1,000-record windows). The
time is until the last batch is stored and committed; with drift on, also until drift caught up.
Prints Markdown for docs/benchmarks.md (## Drift, "through the forwarder"); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "drift"))

import drift_stream  # noqa: E402
import pandas as pd  # noqa: E402
from drift_stream import Scorer, publish  # noqa: E402

from driftloop.datasets import make_credit  # noqa: E402
from driftloop.drift.rules import load_rules  # noqa: E402
from driftloop.registry import Registry  # noqa: E402
from driftloop.store import StoreSettings, count_rows, make_engine, upgrade  # noqa: E402
from driftloop.telemetry.bus import open_consumer  # noqa: E402
from driftloop.telemetry.settings import BusSettings  # noqa: E402
from driftloop.train.config import TrainConfig  # noqa: E402
from driftloop.train.run import train_model  # noqa: E402
from driftloop_forwarder.core import Forwarder  # noqa: E402
from driftloop_forwarder.drift_watch import DriftWatch  # noqa: E402
from driftloop_forwarder.settings import ForwardSettings  # noqa: E402


async def drain(
    bus: BusSettings, store: Path, registry: Registry, *, drift: bool, group: str
) -> tuple[float, int, float]:
    engine = make_engine(StoreSettings(url=f"sqlite:///{store}"))
    upgrade(engine)
    consumer = open_consumer(bus, group)
    await consumer.start()
    forwarder = Forwarder(consumer, engine, ForwardSettings(batch_size=5000), poll_timeout_ms=50)
    watch = DriftWatch(engine, registry, load_rules()) if drift else None
    if watch is not None:
        await watch.start()
        forwarder.sinks.append(watch)
    began = time.perf_counter()
    while await forwarder.step():  # until the bus is idle: the backlog is drained
        pass
    stored = time.perf_counter() - began
    if watch is not None:
        await watch.stop()  # drift catches up with the stored batches
    seconds = time.perf_counter() - began
    await consumer.stop()
    windows = watch.stats.windows if watch else 0
    assert count_rows(engine)["predictions"] > 0
    engine.dispose()
    return stored, windows, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--windows", type=int, default=60, help="1,000-record windows in the backlog")
    parser.add_argument("--per-event", type=int, default=50, help="records per prediction event")
    parser.add_argument("--repeats", type=int, default=3, help="drains of each kind, alternated; medians printed")
    args = parser.parse_args()
    drift_stream.PER_EVENT = args.per_event
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        registry = Registry(root / "registry")
        config = TrainConfig(target="default", time_budget=10, max_trials=2, families=["linear"], seed=0)
        train_model(pd.DataFrame(make_credit(4000, seed=100)), config=config, name="credit", registry=registry)
        scorer = Scorer(registry.resolve("credit", 1))
        records = args.windows * 1000
        events = scorer.events(pd.DataFrame(make_credit(records, seed=7)))
        bus = BusSettings(url=f"sqlite:///{root / 'bus.db'}", spill_path=root / "spill")
        asyncio.run(publish(bus, events))
        plains, watcheds, caught = [], [], []
        for repeat in range(args.repeats):
            plain, _, _ = asyncio.run(drain(bus, root / f"plain{repeat}.db", registry, drift=False, group=f"p{repeat}"))
            watched, windows, caught_up = asyncio.run(
                drain(bus, root / f"drift{repeat}.db", registry, drift=True, group=f"d{repeat}")
            )
            plains.append(plain)
            watcheds.append(watched)
            caught.append(caught_up)
        plain, watched, caught_up = statistics.median(plains), statistics.median(watcheds), statistics.median(caught)
    print(f"Backlog: {records:,} scored records in {records // args.per_event:,} prediction events "
          f"+ {records:,} feedback events; embedded SQLite bus and store.\n")  # fmt: skip
    print("| forwarder | backlog stored in | records/s (scored) | events/s (all) | drift windows |")
    print("| --- | --- | --- | --- | --- |")
    for name, seconds, count in (("drift off", plain, 0), ("drift on", watched, windows)):
        print(f"| {name} | {seconds:.1f} s | {records / seconds:,.0f} | {len(events) / seconds:,.0f} | {count} |")
    print(f"\nMedians of {args.repeats} alternated drains. With drift on, every window was computed, evaluated and")
    print(f"written {caught_up:.1f} s after the start; drift-on / drift-off storage time: {watched / plain:.2f}.")


if __name__ == "__main__":
    main()
