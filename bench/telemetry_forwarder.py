"""Telemetry: forwarder throughput Kafka -> PostgreSQL, and end-to-end lag at a steady 2,000 events/s.

Run from the repository root: ``.venv/bin/python bench/telemetry_forwarder.py`` (``--events`` to
change the backlog size). Starts its own single-node Kafka broker and PostgreSQL with the
integration-test servers (``make setup`` first), prints Markdown for docs/benchmarks.md
(## Telemetry) and asserts nothing.

- Throughput: a backlog of single-record prediction events is published to a 3-partition topic,
  then a forwarder process of its own (the same core and pipelined loop as the service) drains it
  into a fresh PostgreSQL database; events/s is the backlog divided by the time to the last
  committed batch. Per event it prints the CPU of the forwarder, of PostgreSQL (every server
  process) and of the broker, which tells which of them limits the drain. ``--rounds N`` repeats
  the drain; ``--alternative PYTHONPATH`` drains the same backlog with other sources first on the
  path (e.g. ``git archive`` of the code before a change) in the same rounds, interleaved, and
  prints medians for both. ``--only throughput`` skips the runs below.
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
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

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


async def publish_backlog(kafka: KafkaServer, events: int, workdir: Path) -> tuple[BusSettings, float]:
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
    assert publisher.stats.dropped == 0
    return settings, time.perf_counter() - began


async def drain(bus_url: str, store_url: str, events: int, group: str, workdir: Path) -> dict[str, float]:
    """One forwarder core (the service's pipelined loop) drains the backlog: run in a process of its own."""
    settings = BusSettings(url=bus_url, spill_path=workdir / "spill-drain", poll_timeout_ms=100)
    engine = make_engine(StoreSettings(url=store_url))
    consumer = open_consumer(settings, group)
    await consumer.start()
    forward = ForwardSettings(batch_size=5000)
    tune_collector(forward.gc_gen0_threshold)  # as the service does at start
    forwarder = Forwarder(consumer, engine, forward, poll_timeout_ms=200)
    began, cpu_began = time.perf_counter(), time.process_time()
    task = asyncio.create_task(forwarder.run())
    while forwarder.stats.events < events:  # noqa: ASYNC110 - the forwarder's counter, polled
        await asyncio.sleep(0.005)
    forwarder.stop()
    await task
    drain_s = time.perf_counter() - began
    cpu_s = time.process_time() - cpu_began  # this process only: not Kafka's, not PostgreSQL's
    await consumer.stop()
    with engine.connect() as connection:  # what a stored prediction costs on disk, indexes included
        table_bytes = connection.execute(text("SELECT pg_total_relation_size('predictions')")).scalar_one()
    stored = count_rows(engine, ["predictions"])["predictions"]
    return {"drain_s": drain_s, "cpu_s": cpu_s, "stored": stored, "table_bytes": float(table_bytes)}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children: those alive (PostgreSQL's backends) and those
    that ended (added to their parent's cumulative times when it reaped them: a drain's own backends)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            content = stat.read_text()
        except OSError:
            continue  # a process that ended meanwhile
        fields = content[content.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
        if int(stat.parent.name) == pid:
            total += sum(int(field) for field in fields[11:15]) / ticks  # utime stime cutime cstime
        elif int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def throughput(
    kafka: KafkaServer, postgres: PostgresServer, events: int, rounds: int, alternative: str | None, workdir: Path
) -> BusSettings:
    """The backlog drained by one forwarder process per round and code version (interleaved), each into a
    fresh database; CPU seconds of the forwarder, PostgreSQL (all its processes) and the broker per drain."""
    settings, publish_s = asyncio.run(publish_backlog(kafka, events, workdir))
    print(f"Backlog: {events:,} events (1 record each) published to Kafka in {publish_s:.1f} s ", end="")
    print(f"({events / publish_s:,.0f}/s, acks=all).\n")
    variants = [("this code", None)] + ([("alternative", alternative)] if alternative else [])
    figures: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
    database, broker = cast(subprocess.Popen[bytes], postgres.process), cast(subprocess.Popen[bytes], kafka.process)
    for round_ in range(rounds):
        for name, path in variants if round_ % 2 == 0 else variants[::-1]:
            url = postgres.create_database(f"bench_{len(figures[name])}_{'alt' if path else 'this'}")
            upgrade(make_engine(StoreSettings(url=url)))
            env = {**os.environ, **({"PYTHONPATH": path} if path else {})}
            command = [sys.executable, __file__, "--drain", settings.url, url, str(events), f"drain-{round_}-{name}"]
            database_cpu, broker_cpu = process_cpu_s(database.pid), process_cpu_s(broker.pid)
            result = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, check=True)
            figures[name].append(
                {
                    **json.loads(result.stdout.splitlines()[-1]),
                    "database_cpu_s": process_cpu_s(database.pid) - database_cpu,
                    "broker_cpu_s": process_cpu_s(broker.pid) - broker_cpu,
                }
            )
    print("### Forwarder throughput, Kafka -> PostgreSQL (one forwarder process, medians of the rounds)\n")
    print("| code | events/s | rounds (events/s) | per event: forwarder CPU | PostgreSQL CPU | Kafka CPU", end=" ")
    print("| forwarder CPU / wall | rows stored | bytes per row (table + indexes) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, runs in figures.items():
        rates = [events / run["drain_s"] for run in runs]
        per_event = {key: statistics.median(run[key] for run in runs) / events * 1e6 for key in runs[0]}
        busy = statistics.median(run["cpu_s"] / run["drain_s"] for run in runs)
        print(
            f"| {name} | {statistics.median(rates):,.0f} | {' / '.join(f'{r:,.0f}' for r in rates)} "
            f"| {per_event['cpu_s']:.1f} µs | {per_event['database_cpu_s']:.1f} µs "
            f"| {per_event['broker_cpu_s']:.1f} µs "
            f"| {busy:.0%} | {min(int(run['stored']) for run in runs):,} "
            f"| {statistics.median(run['table_bytes'] / max(run['stored'], 1) for run in runs):,.0f} |"
        )
    print()
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
    parser.add_argument("--rounds", type=int, default=1, help="throughput rounds (each code version once per round)")
    parser.add_argument(
        "--alternative", metavar="PYTHONPATH", help="also drain with these sources first on the path (e.g. older code)"
    )
    parser.add_argument("--only", choices=["throughput"], help="skip the scale-out and lag runs")
    parser.add_argument("--rate", type=int, default=2000, help="events/s for the lag run")
    parser.add_argument("--seconds", type=int, default=30, help="duration of the lag run")
    parser.add_argument("--drain", nargs=4, metavar=("BUS_URL", "STORE_URL", "EVENTS", "GROUP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:  # a throughput round's forwarder process
        bus_url, store_url, events, group = args.drain
        print(json.dumps(asyncio.run(drain(bus_url, store_url, int(events), group, Path.cwd()))))
        return
    workdir = Path(tempfile.mkdtemp(prefix="driftloop-bench-"))
    kafka = KafkaServer(workdir / "kafka")
    postgres = PostgresServer(Path(tempfile.mkdtemp(prefix="driftloop-bench-pg-")))
    kafka.start()
    postgres.start()
    try:
        print(f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start (shared);")
        print("Kafka 4.1 (one broker, KRaft) and PostgreSQL on the same machine, fsync off (throwaway cluster).\n")
        settings = throughput(kafka, postgres, args.events, args.rounds, args.alternative, workdir)
        if args.only != "throughput":
            for members in (1, 2):
                url = postgres.create_database(f"bench_scale_{members}")
                upgrade(make_engine(StoreSettings(url=url)))
                asyncio.run(scale_out(settings, url, args.events, members, workdir))
            url = postgres.create_database("bench_lag")
            upgrade(make_engine(StoreSettings(url=url)))
            asyncio.run(lag(kafka, url, args.rate, args.seconds, workdir))
        print(f"Load average at the end: {os.getloadavg()[0]:.1f}.")
    finally:
        kafka.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(postgres.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
