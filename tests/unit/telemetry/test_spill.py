"""The spill file keeps order, survives a reopen mid-replay, respects its bound and skips a torn tail."""

from __future__ import annotations

from pathlib import Path

from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.spill import SpillFile


def test_append_read_advance_keeps_order_and_empties(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path, "scoring", max_bytes=1 << 20)
    messages = [Message(b"credit" if i % 2 else None, f"event-{i}".encode(), i + 1) for i in range(10)]
    assert spill.append(messages) == 10
    first, end = spill.read(10)  # events: 1 + 2 + 3 + 4 = 10, the event counts survive the file
    assert first == messages[:4]
    spill.advance(end)
    rest, end = spill.read(100)
    assert rest == messages[4:]
    spill.advance(end)
    assert not spill.pending
    assert spill.path.stat().st_size == 0
    spill.close()


def test_a_reopened_spill_file_resumes_at_its_cursor(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path, "scoring", max_bytes=1 << 20)
    spill.append([Message(None, f"e{i}".encode()) for i in range(6)])
    _, end = spill.read(2)
    spill.advance(end)
    spill.close()
    reopened = SpillFile(tmp_path, "scoring", max_bytes=1 << 20)
    assert reopened.read(100)[0] == [Message(None, f"e{i}".encode()) for i in range(2, 6)]
    reopened.close()


def test_append_stops_at_the_size_bound(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path, "scoring", max_bytes=1024)
    value = b"x" * 88  # 12-byte header + 88 = 100 bytes per record
    assert spill.append([Message(None, value)] * 15) == 10
    assert spill.append([Message(None, value)]) == 0
    assert len(spill.read(100)[0]) == 10
    spill.close()


def test_a_torn_last_record_is_not_read(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path, "scoring", max_bytes=1 << 20)
    spill.append([Message(None, b"whole"), Message(None, b"torn-by-a-crash")])
    spill.close()
    with spill.path.open("r+b") as raw:
        raw.truncate(spill.path.stat().st_size - 3)
    reopened = SpillFile(tmp_path, "scoring", max_bytes=1 << 20)
    messages, _ = reopened.read(100)
    assert messages == [Message(None, b"whole")]
    reopened.close()


def test_what_is_appended_after_a_torn_record_is_replayed(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path, "scoring", max_bytes=1 << 20)
    spill.append([Message(b"credit", b"before", 1), Message(b"credit", b"torn-by-a-crash", 1)])
    spill.close()
    with spill.path.open("r+b") as raw:
        raw.truncate(spill.path.stat().st_size - 3)
    reopened = SpillFile(tmp_path, "scoring", max_bytes=1 << 20)
    reopened.append([Message(b"credit", b"after", 1)])
    messages, end = reopened.read(100)
    assert [m.value for m in messages] == [b"before", b"after"]
    reopened.advance(end)
    assert not reopened.pending
    reopened.close()
