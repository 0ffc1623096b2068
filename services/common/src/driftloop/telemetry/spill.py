"""The spill file: where the publisher puts events while the bus is unreachable.

Append-only, one file per source, messages framed as in driftloop.telemetry.wire (``<key
length><value length><events><key><value>``; ``events`` is how many events the message carries,
so that replay counts events, not messages), so any bytes survive and a record torn by a crash at the
very end is recognised and ignored. A cursor file remembers how far replay has gone, so a restart resumes
the replay instead of sending everything again; once everything is replayed both files are
removed. The file is bounded: :meth:`append` writes what fits and reports how many it took.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.wire import FRAME_HEADER, NO_KEY, frame_size, frames

logger = logging.getLogger(__name__)


class SpillFile:
    def __init__(self, directory: Path, name: str, max_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "events"
        self.path = directory / f"{safe}.spill"
        self.cursor_path = directory / f"{safe}.cursor"
        self.max_bytes = max_bytes
        self._size = self.path.stat().st_size if self.path.exists() else 0
        self._cursor = int(self.cursor_path.read_text()) if self.cursor_path.exists() else 0
        if self._size > self._cursor:
            self._trim_torn_tail()
        self._file = self.path.open("ab")

    @property
    def pending_bytes(self) -> int:
        return max(0, self._size - self._cursor)

    @property
    def pending(self) -> bool:
        return self._size > self._cursor

    def append(self, messages: Sequence[Message]) -> int:
        """Append messages in order while they fit under ``max_bytes``; return how many were written."""
        written = 0
        for message in messages:
            size = frame_size(message)
            if self._size + size > self.max_bytes:
                break
            self._size += size
            written += 1
        if written:
            self._file.write(frames(messages[:written]))
            self._file.flush()
        return written

    def read(self, max_events: int) -> tuple[list[Message], int]:
        """Messages after the cursor up to ``max_events`` events in all (at least one message), and
        the offset just past the last of them."""
        self._file.flush()
        messages: list[Message] = []
        offset = self._cursor
        events = 0
        with self.path.open("rb") as reader:
            reader.seek(offset)
            while not messages or events < max_events:
                header = reader.read(FRAME_HEADER.size)
                if len(header) < FRAME_HEADER.size:
                    break
                key_len, value_len, count = FRAME_HEADER.unpack(header)
                if messages and events + count > max_events:
                    break
                key = None if key_len == NO_KEY else reader.read(key_len)
                value = reader.read(value_len)
                if len(value) < value_len or (key is not None and len(key) < key_len):
                    break  # torn tail from a crash mid-write: nothing after it can be trusted
                messages.append(Message(key, value, count))
                events += count
                offset = reader.tell()
        return messages, offset

    def _trim_torn_tail(self) -> None:
        """Cut off a frame torn by a crash mid-write, so that what is appended next can be read:
        replay stops at a torn frame, and would otherwise never reach anything behind it."""
        offset = self._cursor
        with self.path.open("rb") as reader:
            while True:
                reader.seek(offset)
                header = reader.read(FRAME_HEADER.size)
                if len(header) < FRAME_HEADER.size:
                    break
                key_len, value_len, _ = FRAME_HEADER.unpack(header)
                end = offset + FRAME_HEADER.size + (0 if key_len == NO_KEY else key_len) + value_len
                if end > self._size:
                    break
                offset = end
        if offset < self._size:
            logger.warning("cutting a torn record (%d bytes) off the end of %s", self._size - offset, self.path)
            os.truncate(self.path, offset)
            self._size = offset

    def advance(self, offset: int) -> None:
        """Mark everything before ``offset`` as replayed; empty the file once all of it is."""
        self._cursor = offset
        if self._cursor >= self._size:
            self._file.truncate(0)
            self._file.seek(0)
            self._size = self._cursor = 0
            self.cursor_path.unlink(missing_ok=True)
            return
        tmp = self.cursor_path.with_suffix(".tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self.cursor_path)

    def discard_rest(self) -> None:
        """Drop everything after the cursor (a torn record that can never be read)."""
        self.advance(self._size)

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
