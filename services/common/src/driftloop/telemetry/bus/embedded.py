"""The embedded bus: one SQLite file in WAL mode, written by publishers, read by consumers.

Durable on local disk and readable from another process: every appended message gets a
monotonically increasing ``seq``; each consumer group keeps its committed ``seq`` in the same
file, so a forwarder that restarts goes on where it committed. One partition (0): scale out
with Kafka. SQLite calls run in a worker thread so the event loop never blocks on the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from driftloop.telemetry.bus.base import BusUnavailableError, Message, Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, key BLOB, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bus_offsets (consumer_group TEXT PRIMARY KEY, committed INTEGER NOT NULL);
"""
# How often an idle consumer looks for new messages (SQLite has no change notification across processes).
_IDLE_POLL_S = 0.02


def path_from_url(url: str) -> Path:
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path`` (SQLAlchemy's convention)."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not an embedded bus URL: {url!r}")
    return Path(url.removeprefix("sqlite:///"))


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process crash (not a power cut) and is much faster than FULL.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


class EmbeddedProducer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._conn = await asyncio.to_thread(_connect, self.path)

    def _append(self, messages: Sequence[Message]) -> None:
        assert self._conn is not None
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO bus_messages (key, value) VALUES (?, ?)", [(m.key, m.value) for m in messages]
            )

    async def send_batch(self, messages: Sequence[Message]) -> None:
        if self._conn is None:
            raise BusUnavailableError("embedded bus producer is not started")
        async with self._lock:
            try:
                await asyncio.to_thread(self._append, messages)
            except sqlite3.Error as exc:
                raise BusUnavailableError(f"embedded bus write failed: {exc}") from exc

    async def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class EmbeddedConsumer:
    def __init__(self, path: Path, group: str) -> None:
        self.path = path
        self.group = group
        self._conn: sqlite3.Connection | None = None
        self._position = 0
        self._committed = 0

    def _read_committed(self) -> int:
        assert self._conn is not None
        row = self._conn.execute("SELECT committed FROM bus_offsets WHERE consumer_group = ?", (self.group,)).fetchone()
        return int(row[0]) if row else 0

    async def start(self) -> None:
        self._conn = await asyncio.to_thread(_connect, self.path)
        self._committed = await asyncio.to_thread(self._read_committed)
        self._position = self._committed

    def _fetch(self, after: int, limit: int) -> list[tuple[int, bytes | None, bytes]]:
        assert self._conn is not None
        rows = self._conn.execute(
            "SELECT seq, key, value FROM bus_messages WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [(int(seq), key, value) for seq, key, value in rows]

    async def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            rows = await asyncio.to_thread(self._fetch, self._position, max_records)
            if rows or time.monotonic() >= deadline:
                break
            await asyncio.sleep(_IDLE_POLL_S)
        if rows:
            self._position = rows[-1][0]
        return [Record(value=value, key=key, partition=0, offset=seq, topic="embedded") for seq, key, value in rows]

    def _write_committed(self, position: int) -> None:
        assert self._conn is not None
        self._conn.execute(
            "INSERT INTO bus_offsets (consumer_group, committed) VALUES (?, ?) "
            "ON CONFLICT (consumer_group) DO UPDATE SET committed = excluded.committed",
            (self.group, position),
        )

    async def commit(self, records: Sequence[Record]) -> None:
        position = max((r.offset for r in records), default=self._committed)
        if position > self._committed:
            await asyncio.to_thread(self._write_committed, position)
            self._committed = position

    async def rewind(self) -> None:
        self._position = self._committed

    def _count_after(self, position: int) -> int:
        assert self._conn is not None
        # seq only grows and nothing is deleted, so the newest seq minus the position is the count.
        newest = self._conn.execute("SELECT MAX(seq) FROM bus_messages").fetchone()[0]
        return max(0, int(newest or 0) - position)

    async def lag(self) -> int:
        return await asyncio.to_thread(self._count_after, self._committed)

    async def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
