"""The outbox (driftloop.telemetry.outbox) with real processes killed by SIGKILL.

A process appends events and is killed; another one recovers exactly what was appended and not
acknowledged, in order, from the page cache the killed process wrote into.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from driftloop.telemetry.outbox import Outbox, read_range

SEGMENT = 64 * 1024

APPEND_THEN_DIE = """
import os, signal, sys
from pathlib import Path
from driftloop.telemetry.outbox import Outbox

outbox = Outbox(Path({directory!r}), "src", {segment})
acknowledged_through = {acknowledged}
for index in range({count}):
    key = None if index % 7 == 0 else b"credit"
    outbox.append(key, b'{{"id": "%d", "pad": "%s"}}' % (index, b"x" * (index % 300)))
    if index + 1 == acknowledged_through:
        outbox.acknowledge(outbox.position)
print(outbox.position[0], flush=True)
if {torn}:
    # Killed in the middle of an append: the body and the lengths are in, the event count not yet.
    segment = outbox._current
    body = b'{{"id": "{count}"}}'
    segment.map[segment.end + 12 : segment.end + 12 + len(body)] = body
    segment.map[segment.end : segment.end + 8] = (0xFFFFFFFF).to_bytes(4, "big") + len(body).to_bytes(4, "big")
os.kill(os.getpid(), signal.SIGKILL)
"""


def append_then_die(directory: Path, count: int, *, acknowledged: int = 0, torn: bool = False) -> int:
    script = APPEND_THEN_DIE.format(
        directory=str(directory), segment=SEGMENT, count=count, acknowledged=acknowledged, torn=torn
    )
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr
    return int(process.stdout.split()[0])


def ids(outbox: Outbox) -> list[int]:
    orphans = outbox.recover()
    found = [int(orjson.loads(message.value)["id"]) for orphan in orphans for message in orphan.messages]
    keys = {message.key for orphan in orphans for message in orphan.messages}
    assert keys <= {None, b"credit", b"k"}
    outbox.discard(orphans)
    return found


def test_a_killed_process_leaves_every_appended_event_in_order(tmp_path: Path) -> None:
    last_segment = append_then_die(tmp_path, 2000)
    assert last_segment > 3  # the events spanned several segments
    outbox = Outbox(tmp_path, "src", SEGMENT)
    assert ids(outbox) == list(range(2000))
    outbox.close()
    assert list(tmp_path.iterdir()) == []  # recovered, nothing delivered pending: all deleted


def test_only_what_was_not_acknowledged_comes_back(tmp_path: Path) -> None:
    append_then_die(tmp_path, 1500, acknowledged=1200)
    outbox = Outbox(tmp_path, "src", SEGMENT)
    assert ids(outbox) == list(range(1200, 1500))
    outbox.close()


def test_an_append_cut_short_by_the_kill_reads_as_the_end(tmp_path: Path) -> None:
    append_then_die(tmp_path, 100, torn=True)
    outbox = Outbox(tmp_path, "src", SEGMENT)
    assert ids(outbox) == list(range(100))
    outbox.close()


def test_a_recovered_outbox_is_gone_once_discarded(tmp_path: Path) -> None:
    append_then_die(tmp_path, 10)
    first = Outbox(tmp_path, "src", SEGMENT)
    assert ids(first) == list(range(10))
    second = Outbox(tmp_path, "src", SEGMENT)
    assert ids(second) == []  # no event is recovered twice
    first.close()
    second.close()


def test_a_live_process_outbox_is_not_taken(tmp_path: Path) -> None:
    live = Outbox(tmp_path, "src", SEGMENT)
    live.append(b"credit", b'{"id": "1"}')
    other = Outbox(tmp_path, "src", SEGMENT)
    assert other.recover() == []
    other.close()
    live.close()  # not acknowledged: kept for the next start
    later = Outbox(tmp_path, "src", SEGMENT)
    assert ids(later) == [1]
    later.close()


def test_other_sources_are_left_alone(tmp_path: Path) -> None:
    append_then_die(tmp_path, 5)
    other = Outbox(tmp_path, "src-other", SEGMENT)
    assert other.recover() == []
    other.close()
    assert ids(Outbox(tmp_path, "src", SEGMENT)) == list(range(5))


def test_acknowledging_deletes_delivered_segments_and_closing_a_delivered_outbox_removes_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "src", SEGMENT)
    for index in range(600):
        outbox.append(b"k", b'{"id": "%d", "pad": "%s"}' % (index, b"x" * 200))
    assert len(outbox._segments) > 2
    outbox.acknowledge(outbox.position)
    assert len(outbox._segments) == 1
    assert outbox.delivered_all
    outbox.close()
    assert list(tmp_path.iterdir()) == []


def test_an_event_larger_than_a_segment_gets_one_of_its_own(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "src", SEGMENT)
    big = b'{"id": "1", "pad": "' + b"x" * (3 * SEGMENT) + b'"}'
    for value in (b'{"id": "0"}', big, b'{"id": "2"}'):
        outbox.append(b"k", value)
    outbox.close()  # not acknowledged: kept
    later = Outbox(tmp_path, "src", SEGMENT)
    orphans = later.recover()
    assert [message.value for orphan in orphans for message in orphan.messages] == [b'{"id": "0"}', big, b'{"id": "2"}']
    later.discard(orphans)
    later.close()


def test_delivered_segments_are_reused_zeroed_not_piled_up(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "src", SEGMENT)
    value = b'{"id": "0", "pad": "' + b"x" * 1000 + b'"}'
    for _ in range(20):  # 20 segments' worth, each delivered soon after it was written
        for _ in range(SEGMENT // len(value)):
            outbox.append(b"k", value)
        outbox.acknowledge(outbox.position)
    assert len(list(tmp_path.glob("*.outbox"))) <= 4  # the current one and the spares
    assert outbox._seq >= 20
    outbox.append(b"k", b'{"id": "last"}')
    outbox.close()
    later = Outbox(tmp_path, "src", SEGMENT)
    orphans = later.recover()
    assert [message.value for orphan in orphans for message in orphan.messages] == [b'{"id": "last"}']
    later.discard(orphans)
    later.close()


def test_the_fsync_setting_keeps_the_same_format(tmp_path: Path) -> None:
    # That msync reaches the disk cannot be seen short of a machine crash; what is checked here
    # is that the synced path writes the same frames, across a segment change.
    outbox = Outbox(tmp_path, "src", SEGMENT, fsync=True)
    for index in range(300):
        outbox.append(b"k", b'{"id": "%d", "pad": "%s"}' % (index, b"x" * 300))
    outbox.close()  # not acknowledged: kept
    later = Outbox(tmp_path, "src", SEGMENT)
    assert ids(later) == list(range(300))
    later.close()


REUSE_THEN_DIE = """
import os, signal
from pathlib import Path
from driftloop.telemetry.outbox import Outbox

outbox = Outbox(Path({directory!r}), "src", {segment})
def event(name):  # all of one size: the frames of every use of a segment lie at the same offsets,
    # so older frames left past the new ones would read as valid
    return b'{{"id": "%s", "pad": "%s"}}' % (name, b"x" * (900 - len(name)))
per_segment = {segment} // (12 + 1 + len(event(b"old")))
for _ in range(12):  # each round delivered soon after it was written; the segments are reused
    for _ in range(per_segment + 2):  # 12 rounds: the last segment in use holds 24 frames of this use
        outbox.append(b"k", event(b"old"))
    outbox.acknowledge(outbox.position)
for index in range(5):
    outbox.append(b"k", event(b"%d" % index))
print(outbox._seq, len(list(Path({directory!r}).glob("*.outbox"))), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_reused_segment_holds_none_of_its_older_frames_after_a_kill(tmp_path: Path) -> None:
    script = REUSE_THEN_DIE.format(directory=str(tmp_path), segment=SEGMENT)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr
    segments_used, files = (int(word) for word in process.stdout.split())
    assert segments_used > files  # segments were reused, not made anew
    outbox = Outbox(tmp_path, "src", SEGMENT)
    assert ids(outbox) == list(range(5))
    outbox.close()


def test_the_ranges_handed_out_name_every_event_once_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "src", SEGMENT)
    values = [b'{"id": "%d", "pad": "%s"}' % (index, b"x" * (index % 500)) for index in range(3000)]
    read: list[bytes] = []
    handed = 0
    for index, value in enumerate(values):
        assert outbox.append(b"k", value)
        if index % 97 == 0 or index == len(values) - 1:  # a flush now and then, some across segments
            ranges = outbox.hand()
            read += [message.value for message in ranges for message in read_range(message)]
            handed += sum(message.events for message in ranges)
            outbox.mark(handed)
            outbox.settled(handed)  # delivered at once: the segments are reused under the ranges
    assert read == values
    assert outbox.hand() == []  # nothing new
    assert outbox._seq > len(list(tmp_path.glob("*.outbox")))
    outbox.close()


def test_a_range_whose_file_is_gone_is_an_error_not_an_empty_read(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "src", SEGMENT)
    outbox.append(b"k", b'{"id": "0"}')
    (message,) = outbox.hand()
    assert [event.value for event in read_range(message)] == [b'{"id": "0"}']
    for path in tmp_path.glob("*.outbox"):
        path.unlink()
    with pytest.raises(FileNotFoundError):
        read_range(message)
    outbox.close()
