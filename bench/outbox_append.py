"""What the outbox costs the scoring event loop: ``publish()`` of the relay publisher (the scoring
service's default) with the outbox on and off, ``Outbox.append`` alone, and the optional fsync.

Prints figures, asserts nothing. Real prediction events (one credit record, as the scoring
service makes them), 5,000 ``publish()`` calls back to back per round (no await between them, as
in a handler), 7 rounds, the two settings interleaved round by round; medians. The outbox is on
the spill directory's file system (the worktree's disk, ext4 here).

    .venv/bin/python bench/outbox_append.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from driftloop.telemetry.outbox import Outbox
from driftloop.telemetry.relay import RelayPublisher
from driftloop.telemetry.settings import BusSettings
from publisher_overhead import sample_event

CALLS = 5_000
ROUNDS = 7
FSYNC_CALLS = 200


async def publish_rounds(directory: Path, outbox: bool, rounds: int, calls: int, fsync: bool = False) -> list[float]:
    """ns per publish() call of a running relay publisher on an embedded bus."""
    settings = BusSettings(
        url=f"sqlite:///{directory / 'bus.db'}",
        spill_path=directory / "spill",
        buffer_size=calls * 2,
        outbox=outbox,
        outbox_fsync=fsync,
    )
    publisher = RelayPublisher(settings, f"bench-{outbox}-{fsync}", json_logs=False)
    await publisher.start()
    event = sample_event()
    results = []
    try:
        for done in range(1, rounds + 1):
            began = time.perf_counter_ns()
            for _ in range(calls):
                publisher.publish(event)
            results.append((time.perf_counter_ns() - began) / calls)
            while publisher.stats.sent < done * calls:  # noqa: ASYNC110 - drain before the next round
                await asyncio.sleep(0.001)
    finally:
        await publisher.stop()
    return results


def append_ns(directory: Path) -> list[float]:
    """ns per Outbox.append of one encoded event (default segments; the rounds cross several)."""
    value = orjson.dumps(sample_event())
    outbox = Outbox(directory / "append", "bench", BusSettings().outbox_segment_bytes)
    results = []
    for _ in range(ROUNDS * 5):
        began = time.perf_counter_ns()
        for _ in range(CALLS):
            outbox.append(b"credit", value)
        results.append((time.perf_counter_ns() - began) / CALLS)
        outbox.acknowledge(outbox.position)
        time.sleep(0.05)  # let the preparing thread make the next spare, as the pauses of a served load do
    outbox.close()
    return results


def main() -> None:
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as name:
        directory = Path(name)
        on: list[float] = []
        off: list[float] = []
        for _ in range(3):  # interleaved: the machine's speed moves
            off += asyncio.run(publish_rounds(directory, False, ROUNDS, CALLS))
            on += asyncio.run(publish_rounds(directory, True, ROUNDS, CALLS))
        appended = append_ns(directory)
        synced = asyncio.run(publish_rounds(directory, True, 3, FSYNC_CALLS, fsync=True))
    size = len(orjson.dumps(sample_event()))
    print(f"event: {size} bytes of JSON; {CALLS} calls x {ROUNDS} rounds x 3, medians")
    print(f"publish(), relay, outbox off: {statistics.median(off):.0f} ns per call")
    print(f"publish(), relay, outbox on: {statistics.median(on):.0f} ns per call")
    print(f"  difference: {statistics.median(on) - statistics.median(off):.0f} ns per call")
    print(
        f"Outbox.append alone: {statistics.median(appended):.0f} ns per event (p90 of rounds "
        f"{sorted(appended)[int(len(appended) * 0.9)]:.0f})"
    )
    print(f"publish(), relay, outbox with fsync: {statistics.median(synced) / 1000:.0f} us per call")


if __name__ == "__main__":
    main()
