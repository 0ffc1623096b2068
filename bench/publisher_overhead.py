"""What the telemetry publisher costs the scoring event loop: ``publish()`` per call, and the orjson
encoding of a batch that the sender task runs on the same loop.

Prints figures, asserts nothing. The bus is a producer that acknowledges at once, so that only the
publisher's own work is timed; the event is a real prediction event of one credit record.

    .venv/bin/python bench/publisher_overhead.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from driftloop.datasets import make_credit
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.events import prediction_event
from driftloop.telemetry.publisher import ENCODE_CHUNK, EventPublisher, encode
from driftloop.telemetry.settings import BusSettings

CALLS = 5_000
ROUNDS = 7
BATCH = 500  # BusSettings.batch_size


class AcknowledgingProducer:
    async def start(self) -> None:
        pass

    async def send_batch(self, messages: Sequence[Message]) -> None:
        pass

    async def stop(self) -> None:
        pass


def sample_event() -> dict[str, Any]:
    # Plain JSON values, as the scoring service puts them in an event.
    record = orjson.loads(pd.DataFrame(make_credit(1, seed=0)).drop(columns="default").to_json(orient="records"))[0]
    return dict(
        prediction_event(
            "bench",
            model="credit",
            version=1,
            request_id="r-1",
            records=[record],
            predictions=[0],
            probabilities=[[0.8, 0.2]],
            class_labels=[0, 1],
            latency_ms=0.4,
        )
    )


async def publish_ns(directory: Path) -> list[float]:
    """ns per publish() call, CALLS calls back to back (no await between them, as in a handler)."""
    settings = BusSettings(spill_path=directory / "spill", buffer_size=CALLS * 2, linger_ms=0)
    publisher = EventPublisher(settings, "bench", producer_factory=lambda _: AcknowledgingProducer())
    await publisher.start()
    event = sample_event()
    results = []
    try:
        for done in range(1, ROUNDS + 1):
            began = time.perf_counter_ns()
            for _ in range(CALLS):
                publisher.publish(event)
            results.append((time.perf_counter_ns() - began) / CALLS)
            while publisher.stats.sent < done * CALLS:  # noqa: ASYNC110 - drain before the next round
                await asyncio.sleep(0.001)
    finally:
        await publisher.stop()
    return results


def encode_us_per_batch() -> list[float]:
    events = [sample_event() for _ in range(BATCH)]
    results = []
    for _ in range(ROUNDS):
        began = time.perf_counter_ns()
        for event in events:
            encode(event)
        results.append((time.perf_counter_ns() - began) / 1000)
    return results


def encode_us_per_chunk() -> list[float]:
    """The longest the sender holds the event loop: one chunk of ENCODE_CHUNK events."""
    events = [sample_event() for _ in range(ENCODE_CHUNK)]
    results = []
    for _ in range(ROUNDS * 5):
        began = time.perf_counter_ns()
        for event in events:
            encode(event)
        results.append((time.perf_counter_ns() - began) / 1000)
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        publish = asyncio.run(publish_ns(Path(directory)))
    batch = encode_us_per_batch()
    size = len(orjson.dumps(sample_event()))
    print(f"publish(): median {statistics.median(publish):.0f} ns per call ({CALLS} calls x {ROUNDS} rounds)")
    print(
        f"encode a batch of {BATCH} events ({size} bytes each) on the event loop: "
        f"median {statistics.median(batch):.0f} us ({statistics.median(batch) / BATCH * 1000:.0f} ns per event)"
    )
    chunk = encode_us_per_chunk()
    print(
        f"longest hold of the event loop by the sender (one chunk of {ENCODE_CHUNK} events): "
        f"median {statistics.median(chunk):.0f} us"
    )


if __name__ == "__main__":
    main()
