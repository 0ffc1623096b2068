"""Telemetry: forwarder throughput Kafka -> PostgreSQL, and end-to-end lag at a steady 2,000 events/s.

Run from the repository root: ``.venv/bin/python bench/telemetry_forwarder.py`` (``--events`` to
change the backlog size). Starts its own single-node Kafka broker and PostgreSQL with the
integration-test servers (``make setup`` first), prints Markdown for docs/benchmarks.md
(## Telemetry) and asserts nothing.

- Throughput: a backlog of single-record prediction events is published to a 3-partition topic,
  then one in-process forwarder (the same core as the service) drains it into PostgreSQL; events/s
  is the backlog divided by the time to the last committed batch.
- Scale-out: the same backlog is read again by a new consumer group of one, then two, forwarder
  service processes (``python -m driftloop_forwarder``), rate taken from the rows' ``stored_at``.
- Lag: the forwarder service runs as its own process (``python -m driftloop_forwarder``) while this
  process publishes 2,000 events/s on a fixed schedule; the lag of each event is the row's
  ``stored_at`` (PostgreSQL ``now()`` in the writing transaction) minus the event's ``time``
  (stamped when the scoring side creates it), so it spans the scoring side's relay process (as
  the scoring service publishes), the bus, the forwarder and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "telemetry"))

from integration_servers import KafkaServer, PostgresServer, free_port, new_topic  # noqa: E402
from pipeline_helpers import kafka_settings, prediction  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade  # noqa: E402
from driftloop.telemetry.bus import open_consumer  # noqa: E402
from driftloop.telemetry.publisher import EventPublisher  # noqa: E402
from driftloop.telemetry.relay import RelayPublisher  # noqa: E402
from driftloop.telemetry.settings import BusSettings  # noqa: E402
from driftloop_forwarder.core import Forwarder, tune_collector  # noqa: E402
from driftloop_forwarder.settings import ForwardSettings  # noqa: E402


async def wait_for_rows(engine: Engine, rows: int, within_s: float = 120) -> None:
    deadline = time.monotonic() + within_s
    while count_rows(engine, ["predictions"])["predictions"] < rows:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {rows} rows after {within_s:.0f} s")
        await asyncio.sleep(0.05)


async def throughput(kafka: KafkaServer, store_url: str, events: int, workdir: Path) -> BusSettings:
    topic = await new_topic(kafka.bootstrap, partitions=3)
    # A generous send timeout: a 5,000-event batch on a busy machine can take seconds to be acked.
    settings = kafka_settings(
        kafka.bootstrap, topic, workdir / "spill", buffer_size=events + 1, batch_size=5000, send_timeout_s=30
    )
    publisher = EventPublisher(settings, "bench")
    await publisher.start()
    began = time.perf_counter()
    for i in range(events):
        publisher.publish(prediction(i, records=1))
        if i % 5000 == 0:
            await asyncio.sleep(0)
    await publisher.stop()
    publish_s = time.perf_counter() - began
    assert publisher.stats.dropped == 0

    engine = make_engine(StoreSettings(url=store_url))
    consumer = open_consumer(settings, "bench-throughput")
    await consumer.start()
    forward = ForwardSettings(batch_size=5000)
    tune_collector(forward.gc_gen0_threshold)  # as the service does at start
    forwarder = Forwarder(consumer, engine, forward, poll_timeout_ms=200)
    began, cpu_began = time.perf_counter(), time.process_time()
    task = asyncio.create_task(forwarder.run())  # the service's pipelined loop
    while forwarder.stats.events < events:  # noqa: ASYNC110 - the forwarder's counter, polled
        await asyncio.sleep(0.005)
    forwarder.stop()
    await task
    drain_s = time.perf_counter() - began
    cpu_s = time.process_time() - cpu_began  # this process only: not Kafka's, not PostgreSQL's
    await consumer.stop()
    stored = count_rows(engine, ["predictions"])["predictions"]
    print("### Forwarder throughput, Kafka -> PostgreSQL\n")
    print("| events (1 record each) | publish to Kafka (acks=all) | forwarder drain | forwarder events/s", end=" ")
    print("| forwarder CPU | events per forwarder CPU-second | rows stored |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {events:,} | {publish_s:.1f} s ({events / publish_s:,.0f}/s) | {drain_s:.1f} s "
        f"| {events / drain_s:,.0f} | {cpu_s:.1f} s | {events / cpu_s:,.0f} | {stored:,} |\n"
    )
    return settings


async def scale_out(settings: BusSettings, store_url: str, events: int, members: int, workdir: Path) -> None:
    """The same backlog read again by a new group of ``members`` forwarder service processes."""
    env = {
        **os.environ,
        "DRIFTLOOP_BUS__URL": settings.url,
        "DRIFTLOOP_BUS__CONSUMER_GROUP": f"bench-{members}-members",
        "DRIFTLOOP_STORE__URL": store_url,
        "DRIFTLOOP_LOG__LEVEL": "WARNING",
    }
    services = [
        await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "driftloop_forwarder"],
            env={**env, "DRIFTLOOP_PORT": str(free_port())},
            cwd=workdir,
        )
        for _ in range(members)
    ]
    engine = make_engine(StoreSettings(url=store_url))
    try:
        await wait_for_rows(engine, events, within_s=300)
    finally:
        for service in services:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=30)
    with engine.connect() as connection:
        first, last = connection.execute(text("SELECT min(stored_at), max(stored_at) FROM predictions")).one()
        in_first = connection.execute(
            text("SELECT count(*) FROM predictions WHERE stored_at = :first"), {"first": first}
        ).scalar_one()
    # stored_at is the start of each writing transaction: time from the first batch's write to the
    # last one's, for every row after the first batch (process start and group join excluded).
    span = (last - first).total_seconds()
    print(f"{members} forwarder service processes in one group (3 partitions), the same backlog read again:", end=" ")
    print(f"{(events - in_first) / span:,.0f} events/s ({events:,} rows, {span:.1f} s from first to last batch).\n")


async def lag(kafka: KafkaServer, store_url: str, rate: int, seconds: int, workdir: Path) -> None:
    topic = await new_topic(kafka.bootstrap, partitions=3)
    settings = kafka_settings(kafka.bootstrap, topic, workdir / "spill-lag")
    env = {
        **os.environ,
        "DRIFTLOOP_BUS__URL": settings.url,
        "DRIFTLOOP_BUS__CONSUMER_GROUP": "bench-lag",
        "DRIFTLOOP_STORE__URL": store_url,
        "DRIFTLOOP_PORT": str(free_port()),
        "DRIFTLOOP_LOG__LEVEL": "WARNING",
    }
    service = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-m", "driftloop_forwarder"], env=env, cwd=workdir
    )
    engine = make_engine(StoreSettings(url=store_url))
    publisher = RelayPublisher(settings, "bench-lag", json_logs=False)  # the scoring service's path
    await publisher.start()
    try:
        # Warm-up: the forwarder has joined its group and stored one event before the clock starts.
        publisher.publish(prediction(-1, records=1))
        await wait_for_rows(engine, 1)
        total = rate * seconds
        tick = 0.01
        per_tick = int(rate * tick)
        start = time.monotonic()
        for step in range(total // per_tick):
            for j in range(per_tick):
                publisher.publish(prediction(step * per_tick + j, records=1))
            delay = start + (step + 1) * tick - time.monotonic()
            await asyncio.sleep(max(0.0, delay))  # the fixed schedule that sets the rate
        await publisher.stop()
        await wait_for_rows(engine, total + 1)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
    with engine.connect() as connection:
        p50, p99, worst, stored = connection.execute(
            text(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l),"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY l), max(l), count(*)"
                " FROM (SELECT extract(epoch FROM stored_at - time) AS l FROM predictions"
                " WHERE request_id <> 'req--1') lags"
            )
        ).one()
    print(f"### End-to-end lag at {rate:,} events/s for {seconds} s (event created -> row in PostgreSQL)\n")
    print("| events | stored | lag p50 | lag p99 | lag max | spilled | dropped |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {total:,} | {stored:,} | {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms | {worst * 1000:.0f} ms "
        f"| {publisher.stats.spilled} | {publisher.stats.dropped} |\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="backlog size for the throughput run")
    parser.add_argument("--rate", type=int, default=2000, help="events/s for the lag run")
    parser.add_argument("--seconds", type=int, default=30, help="duration of the lag run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="driftloop-bench-"))
    kafka = KafkaServer(workdir / "kafka")
    postgres = PostgresServer(Path(tempfile.mkdtemp(prefix="driftloop-bench-pg-")))
    kafka.start()
    postgres.start()
    try:
        print(f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start (shared);")
        print("Kafka 4.1 (one broker, KRaft) and PostgreSQL on the same machine, fsync off (throwaway cluster).\n")
        url = postgres.create_database("bench_throughput")
        upgrade(make_engine(StoreSettings(url=url)))
        settings = asyncio.run(throughput(kafka, url, args.events, workdir))
        for members in (1, 2):
            url = postgres.create_database(f"bench_scale_{members}")
            upgrade(make_engine(StoreSettings(url=url)))
            asyncio.run(scale_out(settings, url, args.events, members, workdir))
        url = postgres.create_database("bench_lag")
        upgrade(make_engine(StoreSettings(url=url)))
        asyncio.run(lag(kafka, url, args.rate, args.seconds, workdir))
    finally:
        kafka.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(postgres.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
