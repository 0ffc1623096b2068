"""What the telemetry publisher costs the scoring event loop: ``publish()`` per call (it encodes
the event), in process and with the relay process, and the packing of a batch into bus messages
that the sender (or the relay's flush) runs on the same loop.

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
from driftloop.telemetry.publisher import EventPublisher, encode_event
from driftloop.telemetry.relay import RelayPublisher
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import frames, pack_events

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


async def publish_ns(directory: Path, relayed: bool) -> list[float]:
    """ns per publish() call, CALLS calls back to back (no await between them, as in a handler)."""
    settings = BusSettings(
        url=f"sqlite:///{directory / 'bus.db'}", spill_path=directory / "spill", buffer_size=CALLS * 2, linger_ms=0
    )
    publisher: EventPublisher | RelayPublisher = (
        RelayPublisher(settings, "bench-relay", json_logs=False)
        if relayed
        else EventPublisher(settings, "bench", producer_factory=lambda _: AcknowledgingProducer())
    )
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


def pack_us_per_batch(directory: Path) -> list[float]:
    """The sender's hold of the loop: a batch of encoded events packed into bus messages."""
    publisher = EventPublisher(BusSettings(spill_path=directory / "spill"), "bench")
    messages = [encode_event(sample_event()) for _ in range(BATCH)]
    return _timed(lambda: publisher._pack(messages), ROUNDS * 5)


def relay_flush_us_per_batch() -> list[float]:
    """The relay's flush: a batch of encoded events packed and framed for the pipe."""
    values = [encode_event(sample_event()).value for _ in range(BATCH)]
    return _timed(lambda: frames(pack_events(b"credit", values, BATCH, 256 * 1024)), ROUNDS * 5)


def encode_us_per_batch_one_call_per_event() -> list[float]:
    """Encoding alone: orjson once per event, as publish() does."""
    events = [sample_event() for _ in range(BATCH)]
    return _timed(lambda: [orjson.dumps(event) for event in events], ROUNDS)


def _timed(call: Any, rounds: int) -> list[float]:
    results = []
    for _ in range(rounds):
        began = time.perf_counter_ns()
        call()
        results.append((time.perf_counter_ns() - began) / 1000)
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        publish = asyncio.run(publish_ns(Path(directory), relayed=False))
        relayed = asyncio.run(publish_ns(Path(directory), relayed=True))
        pack = pack_us_per_batch(Path(directory))
    flush = relay_flush_us_per_batch()
    encode = encode_us_per_batch_one_call_per_event()
    size = len(orjson.dumps(sample_event()))
    print(f"event: {size} bytes of JSON; {CALLS} calls x {ROUNDS} rounds, medians")
    print(f"publish(), in process: {statistics.median(publish):.0f} ns per call (encodes the event)")
    print(f"publish(), relay: {statistics.median(relayed):.0f} ns per call (encodes the event)")
    print(f"orjson.dumps alone: {statistics.median(encode) / BATCH * 1000:.0f} ns per event")
    print(f"sender's packing of a batch of {BATCH}: {statistics.median(pack):.0f} us")
    print(f"relay's flush (pack + frame) of a batch of {BATCH}: {statistics.median(flush):.0f} us")


if __name__ == "__main__":
    main()
