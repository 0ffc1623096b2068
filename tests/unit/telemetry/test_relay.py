"""Publishing through the relay process (a real child process, the real embedded bus and spill file).

Each test ends with a count of what reached the bus or the spill file: nothing may be lost when
the relay works, when it is killed, when it cannot start, or when the bus is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from integration_servers import free_port  # a port nothing listens on
from prometheus_client import REGISTRY
from telemetry_samples import make_prediction, read_all, until

from driftloop.telemetry import relay
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.outbox import RANGE, RANGE_MARK
from driftloop.telemetry.publisher import EventPublisher
from driftloop.telemetry.relay import RelayPublisher
from driftloop.telemetry.settings import BusSettings
from driftloop.telemetry.wire import frames


def sample(name: str, source: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"source": source})


async def publish_in_bursts(publisher: RelayPublisher, first: int, count: int, burst: int = 50) -> None:
    """Like a served load: a burst of events, then the event loop runs (and the relay flushes)."""
    for start in range(first, first + count, burst):
        for index in range(start, min(start + burst, first + count)):
            publisher.publish(make_prediction(index))
        await asyncio.sleep(0.002)


def child_pid(publisher: RelayPublisher) -> int:
    process = publisher._process
    assert process is not None
    return process.pid


def test_every_event_reaches_the_bus_in_order_and_the_counts_are_mirrored(bus_settings: BusSettings) -> None:
    source = "relay-test-order"

    async def scenario() -> RelayPublisher:
        publisher = RelayPublisher(bus_settings, source, json_logs=False)
        await publisher.start()
        await publish_in_bursts(publisher, 0, 1000)
        await until(lambda: publisher.stats.sent > 0)  # the child reported while running
        await publisher.stop()
        return publisher

    publisher = asyncio.run(scenario())
    assert asyncio.run(read_all(bus_settings)) == [f"req-{i}" for i in range(1000)]
    assert (publisher.stats.sent, publisher.stats.spilled, publisher.stats.dropped) == (1000, 0, 0)
    assert publisher.stats.depth == 0
    assert publisher.relaying
    assert publisher._process is not None
    assert publisher._process.returncode == 0
    assert sample("driftloop_telemetry_events_sent_total", source) == 1000
    assert sample("driftloop_telemetry_relay_up", source) == 1
    assert sample("driftloop_telemetry_send_seconds_count", source)


def test_a_killed_relay_loses_nothing_and_this_process_takes_over(bus_settings: BusSettings) -> None:
    source = "relay-test-killed"

    async def scenario() -> RelayPublisher:
        publisher = RelayPublisher(bus_settings, source, json_logs=False)
        await publisher.start()
        await publish_in_bursts(publisher, 0, 300)
        await until(lambda: publisher.stats.sent > 0)
        os.kill(child_pid(publisher), signal.SIGKILL)
        await publish_in_bursts(publisher, 300, 300)  # some before the death is noticed, some after
        await until(lambda: not publisher.relaying)
        await publish_in_bursts(publisher, 600, 100)
        await publisher.stop()
        return publisher

    publisher = asyncio.run(scenario())
    ids = asyncio.run(read_all(bus_settings))
    # What the child sent but had not reported is sent again (same ids): at least once, none lost.
    assert set(ids) == {f"req-{i}" for i in range(700)}
    assert publisher.stats.dropped == 0
    assert publisher.stats.sent >= 700
    assert sample("driftloop_telemetry_relay_up", source) == 0


def test_a_relay_that_cannot_start_is_replaced_by_publishing_in_process(
    bus_settings: BusSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "RELAY_MODULE", "driftloop.telemetry.no_such_relay")

    async def scenario() -> RelayPublisher:
        publisher = RelayPublisher(bus_settings, "relay-test-no-start", json_logs=False)
        await publisher.start()
        await publish_in_bursts(publisher, 0, 200)
        await publisher.stop()
        return publisher

    publisher = asyncio.run(scenario())
    assert asyncio.run(read_all(bus_settings)) == [f"req-{i}" for i in range(200)]
    assert not publisher.relaying
    assert (publisher.stats.sent, publisher.stats.dropped) == (200, 0)


@contextlib.contextmanager
def no_new_files_of_more_than(size: int) -> Iterator[None]:
    """Writes that would grow a file of this process past ``size`` fail with EFBIG, as on a full
    disk: the kernel's RLIMIT_FSIZE (the relay process, started before, is not limited)."""
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the error, not the signal that kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)


def test_events_the_outbox_cannot_take_still_reach_the_bus_in_order(
    bus_settings: BusSettings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = bus_settings.model_copy(update={"outbox_segment_bytes": 64 * 1024})

    async def scenario() -> RelayPublisher:
        publisher = RelayPublisher(settings, "relay-test-full-disk", json_logs=False)
        await publisher.start()
        await publish_in_bursts(publisher, 0, 100)
        with no_new_files_of_more_than(4096):  # no new segment can be made
            await publish_in_bursts(publisher, 100, 500)
        await publish_in_bursts(publisher, 600, 300)  # room again
        await publisher.stop()
        return publisher

    publisher = asyncio.run(scenario())
    assert asyncio.run(read_all(bus_settings)) == [f"req-{i}" for i in range(900)]
    assert (publisher.stats.sent, publisher.stats.dropped) == (900, 0)
    assert publisher.relaying
    not_in_outbox = [r for r in caplog.records if r.getMessage().startswith("telemetry event not written")]
    assert 0 < len(not_in_outbox) < 500  # some went without their crash safety, the later ones with it
    assert list(settings.spill_path.glob("*.outbox")) == []  # all delivered


def test_a_relay_that_cannot_read_a_range_stops_after_sending_what_it_read(bus_settings: BusSettings) -> None:
    events = [Message(b"credit", orjson.dumps(make_prediction(index)), 1) for index in range(3)]
    missing = RANGE.pack(RANGE_MARK, 24, 100) + os.fsencode(bus_settings.spill_path / "gone.outbox")
    stream = frames([events[0], Message(None, missing, 2), events[1], events[2]])
    env = {**os.environ, relay.SETTINGS_ENV: bus_settings.model_dump_json(), relay.JSON_LOGS_ENV: "0"}
    child = subprocess.run(
        [sys.executable, "-m", relay.RELAY_MODULE, "relay-test-bad-range"],
        input=stream,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert child.returncode == 1, child.stderr
    last = orjson.loads(child.stdout.splitlines()[-1])
    assert (last["settled"], last["sent"]) == (1, 1)  # the parent publishes the rest from its outbox
    assert asyncio.run(read_all(bus_settings)) == ["req-0"]


def test_with_the_bus_away_the_relay_spills_to_the_file_a_later_publisher_replays(
    bus_settings: BusSettings, tmp_path: Path
) -> None:
    source = "relay-test-spill"
    away = bus_settings.model_copy(update={"url": f"kafka://127.0.0.1:{free_port()}/events", "send_timeout_s": 0.5})

    async def relay_while_away() -> RelayPublisher:
        publisher = RelayPublisher(away, source, json_logs=False)
        await publisher.start()
        await publish_in_bursts(publisher, 0, 150)
        await publisher.stop()
        return publisher

    async def replay_once_back() -> EventPublisher:
        publisher = EventPublisher(bus_settings, source)  # same spill directory and source
        await publisher.start()
        await until(lambda: publisher.stats.replayed == 150)
        await publisher.stop()
        return publisher

    publisher = asyncio.run(relay_while_away())
    assert (publisher.stats.sent, publisher.stats.spilled, publisher.stats.dropped) == (0, 150, 0)
    assert publisher.relaying
    assert sample("driftloop_telemetry_bus_up", source) == 0
    asyncio.run(replay_once_back())
    assert asyncio.run(read_all(bus_settings)) == [f"req-{i}" for i in range(150)]


SERVER_KILLED_AFTER_HANDING_OVER = """
import asyncio, os, signal, sys
sys.path.insert(0, {samples!r})
from telemetry_samples import make_prediction
from driftloop.telemetry.relay import RelayPublisher
from driftloop.telemetry.settings import BusSettings

async def main():
    publisher = RelayPublisher(BusSettings.model_validate_json({settings!r}), "relay-test-orphan", json_logs=False)
    await publisher.start()
    for index in range(500):
        publisher.publish(make_prediction(index))
    publisher._flush()  # handed over: written to the pipe
    await publisher._process.stdin.drain()
    print(publisher._process.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def test_what_a_killed_server_handed_over_is_still_delivered(bus_settings: BusSettings) -> None:
    script = SERVER_KILLED_AFTER_HANDING_OVER.format(
        samples=str(Path(__file__).parent), settings=bus_settings.model_dump_json()
    )
    server = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert server.returncode == -signal.SIGKILL, server.stderr
    relay_pid = int(server.stdout.split()[0])

    def relay_exited() -> bool:  # an orphan that exited may stay a zombie until init reaps it
        try:
            return Path(f"/proc/{relay_pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    async def relay_finished() -> None:
        await until(relay_exited)

    asyncio.run(relay_finished())
    assert asyncio.run(read_all(bus_settings)) == [f"req-{i}" for i in range(500)]


SERVER_KILLED_WHILE_PUBLISHING = """
import asyncio, os, signal, sys
sys.path.insert(0, {samples!r})
from telemetry_samples import make_prediction
from driftloop.telemetry.relay import RelayPublisher
from driftloop.telemetry.settings import BusSettings

async def main():
    publisher = RelayPublisher(BusSettings.model_validate_json({settings!r}), "relay-test-crash", json_logs=False)
    await publisher.start()
    for start in range(0, {flushed}, 50):  # served load: bursts, the relay flushes between them
        for index in range(start, start + 50):
            publisher.publish(make_prediction(index))
        await asyncio.sleep(0.002)
    for index in range({flushed}, {total}):  # answered, not yet handed over
        publisher.publish(make_prediction(index))
    if {relay_too}:  # the whole pod goes: the relay with what it was given
        os.kill(publisher._process.pid, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def kill_a_publishing_server(bus_settings: BusSettings, flushed: int, total: int, relay_too: bool) -> None:
    script = SERVER_KILLED_WHILE_PUBLISHING.format(
        samples=str(Path(__file__).parent),
        settings=bus_settings.model_dump_json(),
        flushed=flushed,
        total=total,
        relay_too=relay_too,
    )
    server = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert server.returncode == -signal.SIGKILL, server.stderr


def restart_and_stop(bus_settings: BusSettings) -> RelayPublisher:
    async def scenario() -> RelayPublisher:
        publisher = RelayPublisher(bus_settings, "relay-test-crash", json_logs=False)
        await publisher.start()
        await publisher.stop()
        return publisher

    return asyncio.run(scenario())


def test_what_a_killed_server_had_not_handed_over_is_published_by_the_next_start(bus_settings: BusSettings) -> None:
    kill_a_publishing_server(bus_settings, flushed=0, total=500, relay_too=False)
    publisher = restart_and_stop(bus_settings)
    assert asyncio.run(read_all(bus_settings)) == [f"req-{i}" for i in range(500)]
    assert (publisher.stats.sent, publisher.stats.dropped) == (500, 0)
    assert publisher.relaying  # the recovered events went through the new relay process
    assert list(bus_settings.spill_path.glob("*.outbox")) == []  # delivered: nothing left behind
    assert list(bus_settings.spill_path.glob("*.lock")) == []


def test_a_server_killed_with_its_relay_mid_stream_loses_nothing(bus_settings: BusSettings) -> None:
    kill_a_publishing_server(bus_settings, flushed=600, total=800, relay_too=True)
    restart_and_stop(bus_settings)
    ids = asyncio.run(read_all(bus_settings))
    # Events the relay had sent but not yet reported come again with the same ids (the store keeps one).
    assert set(ids) == {f"req-{i}" for i in range(800)}
    assert list(bus_settings.spill_path.glob("*.outbox")) == []
