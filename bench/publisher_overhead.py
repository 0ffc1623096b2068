"""What the telemetry publisher costs the scoring event loop: ``publish()`` per call, and the
encoding and packing of a batch that the sender task runs on the same loop (now: one orjson call
per model chunk; before: one call per event).

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
from driftloop.telemetry.publisher import ENCODE_CHUNK, EventPublisher
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


def idle_publisher(directory: Path) -> EventPublisher:
    return EventPublisher(BusSettings(spill_path=directory / "spill"), "bench")


def encode_us_per_batch(publisher: EventPublisher) -> list[float]:
    """Encoding and packing a whole batch into bus messages."""
    events = [sample_event() for _ in range(BATCH)]
    return _timed(lambda: publisher._encode_all(events), ROUNDS)


def encode_us_per_batch_one_call_per_event() -> list[float]:
    """The previous encoding: orjson once per event (and a join per message)."""
    events = [sample_event() for _ in range(BATCH)]
    return _timed(lambda: b"[" + b",".join([orjson.dumps(event) for event in events]) + b"]", ROUNDS)


def encode_us_per_chunk(publisher: EventPublisher) -> list[float]:
    """The longest the sender holds the event loop: one chunk of ENCODE_CHUNK events."""
    events = [sample_event() for _ in range(ENCODE_CHUNK)]
    return _timed(lambda: publisher._encode(events), ROUNDS * 5)


def _timed(call: Any, rounds: int) -> list[float]:
    results = []
    for _ in range(rounds):
        began = time.perf_counter_ns()
        call()
        results.append((time.perf_counter_ns() - began) / 1000)
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        publish = asyncio.run(publish_ns(Path(directory)))
        publisher = idle_publisher(Path(directory))
        batch = encode_us_per_batch(publisher)
        chunk = encode_us_per_chunk(publisher)
    before = encode_us_per_batch_one_call_per_event()
    size = len(orjson.dumps(sample_event()))
    print(f"publish(): median {statistics.median(publish):.0f} ns per call ({CALLS} calls x {ROUNDS} rounds)")
    for label, figures in (("encode + pack", batch), ("one orjson call per event (before)", before)):
        print(
            f"{label}, a batch of {BATCH} events ({size} bytes each) on the event loop: "
            f"median {statistics.median(figures):.0f} us ({statistics.median(figures) / BATCH * 1000:.0f} ns per event)"
        )
    print(
        f"longest hold of the event loop by the sender (one chunk of {ENCODE_CHUNK} events): "
        f"median {statistics.median(chunk):.0f} us"
    )


if __name__ == "__main__":
    main()
