"""The outbox: where an event goes before its request is answered, so that a crash of the serving
process loses nothing it answered.

Each publishing process owns a lock file ``<source>-<token>.lock`` (held with ``flock`` while the
process lives; the kernel lets go of it however the process ends) and a few segments
``<source>-<token>-<slot>.outbox`` in the spill directory. A segment is a file of fixed size,
filled with zeros ahead of use by a background thread and mapped into memory (``MAP_SHARED``);
once delivered the same thread zeroes it through the mapping (a ``memset``, no system call) and it
is reused, so the pages written are few and stay in the page cache (no block allocation, no new
file per segment). Appending an event copies its body and then its frame header into the
mapping: no system call, under a microsecond. The copied bytes are pages of the kernel's page cache from that moment on,
so they outlive the process (SIGKILL, the OOM killer, a segfault) and reach the disk through the
kernel's ordinary writeback. A machine crash can still lose what writeback had not written yet
(by default up to ``vm.dirty_expire_centisecs``, 30 s); ``fsync=True`` syncs each event's pages
before :meth:`Outbox.append` returns, at the cost of a disk flush per event.

Layout of a segment: a 24-byte header (``MAGIC``, the *delivered* offset and the segment's
sequence number, written through the mapping) and then frames as in driftloop.telemetry.wire
(``<key length><value length><events><key><value>``), one event each, up to the first frame
header that counts zero events (the zeros after the last frame). The header of a frame is
written after its body, and its event count is its last byte (big-endian ``1``), so a process
killed in the middle of an append leaves a frame that reads as the end: that event's request had
not been answered.

The relay process reads the events from the segments too (:meth:`Outbox.hand` names the ranges
appended since the last call, :func:`read_range` reads one), so they cross no pipe a second time.

The publisher tells the outbox what the bus (or the spill file) has taken with
:meth:`Outbox.acknowledge`; segments wholly before that point are reused, and the rest is what a
later start of any process publishing for the same source finds in :meth:`Outbox.recover` and
sends again. An event sent but not yet acknowledged when the process died is sent twice, with
the same id: the forwarder stores it once (``ON CONFLICT DO NOTHING`` on the event id).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import itertools
import logging
import mmap
import os
import re
import secrets
import struct
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.wire import FRAME_HEADER, NO_KEY, unframe

logger = logging.getLogger(__name__)

MAGIC = b"DLOUTBX1"
RANGE = struct.Struct(">cQQ")
"""A range of a segment handed to the relay: :data:`RANGE_MARK`, start and end offsets, then the path."""
RANGE_MARK = b"\0"
"""The first byte of a range message's value; no event starts with it (JSON: ``{`` or ``[``)."""
SEGMENT_HEADER = struct.Struct(">8sQQ")
DELIVERED = struct.Struct(">Q")
DELIVERED_AT = len(MAGIC)
DELIVERED_AND_SEQ = struct.Struct(">QQ")
SPARES = 2
"""Segments kept made (or zeroed for reuse) ahead of need."""
ZEROS = bytes(1 << 20)
MADV_POPULATE_WRITE = 23  # Linux 5.14+: fault a range in writable now, as if each page were written
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

Position = tuple[int, int]
"""A place in a process's outbox: (segment number, offset in that segment)."""


def open_outbox(directory: Path, name: str, segment_bytes: int, *, fsync: bool) -> Outbox | None:
    """An outbox, or None (logged) when it cannot be made: the publisher then works as before it."""
    try:
        return Outbox(directory, name, segment_bytes, fsync=fsync)
    except OSError:
        logger.exception("telemetry outbox cannot be opened: a crash of this process would lose events")
        return None


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "events"


class Segment:
    """One mapped segment file; ``end`` is the offset just past its last frame, ``events`` the
    number of frames."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.encoded_path = os.fsencode(path)  # what a range names, made once
        self.seq = -1
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            self.size = os.fstat(fd).st_size
            self.map = mmap.mmap(fd, self.size)  # shared: the copies are the page cache's pages
        finally:
            os.close(fd)  # the mapping keeps the file open
        self.end = SEGMENT_HEADER.size
        self.events = 0

    def address(self) -> tuple[int, ctypes.Array[ctypes.c_char]]:
        """The mapping's address, and the exported buffer that pins it (delete it after use: the
        mapping cannot be closed while a buffer of it is exported)."""
        buffer = (ctypes.c_char * self.size).from_buffer(self.map)
        return ctypes.addressof(buffer), buffer

    def populate(self) -> None:
        """Take the page faults of the whole segment now (in the preparing thread: ctypes lets go
        of the GIL), not one per 4 KiB page on the event loop, where each cost ~5-10 µs (ext4's
        page_mkwrite updates the file's times through the journal). Best effort: without it the
        faults just happen later."""
        address, buffer = self.address()
        try:
            _libc.madvise(ctypes.c_void_p(address), ctypes.c_size_t(self.size), MADV_POPULATE_WRITE)
        finally:
            del buffer

    def zero(self) -> None:
        """Zeros over the whole mapping, for reuse (in the preparing thread: ctypes lets go of the
        GIL). Writing every page also faults back in those that writeback made read-only. Why a
        ``memset`` and zeroing at all: docs/decisions.md, "The relay reads the events from the
        outbox"."""
        address, buffer = self.address()
        try:
            ctypes.memset(address, 0, self.size)
        finally:
            del buffer

    def activate(self, seq: int) -> None:
        self.seq = seq
        self.end = SEGMENT_HEADER.size
        self.events = 0
        DELIVERED_AND_SEQ.pack_into(self.map, DELIVERED_AT, SEGMENT_HEADER.size, seq)
        self.map[: len(MAGIC)] = MAGIC  # last: a segment without it holds nothing

    def close(self) -> None:
        self.map.close()


@dataclass
class Orphan:
    """The outbox of a process that is gone: what its bus had not acknowledged, in order."""

    lock_path: Path
    lock_fd: int
    segments: list[Path]
    messages: list[Message]


class Outbox:
    def __init__(self, directory: Path, name: str, segment_bytes: int, *, fsync: bool = False) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._prefix = safe_name(name)
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._lock_path = directory / f"{self._prefix}-{self._token}.lock"
        self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._segments: deque[Segment] = deque()
        self._seq = 0
        self._delivered: Position = (0, SEGMENT_HEADER.size)
        self._handed: tuple[int, int, int] = (0, SEGMENT_HEADER.size, 0)
        """Segment number, offset and event count in it up to which :meth:`hand` has named ranges."""
        self._marks: deque[tuple[int, Position]] = deque()
        """(events handed to the sender so far, the position just past them), oldest first."""
        self._slots = itertools.count()
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"outbox-{self._prefix}")
        self._current = self._open(self._make(segment_bytes))
        self._spares: deque[Future[Segment]] = deque()
        """Segments being made or zeroed for reuse, oldest first."""
        self._spares.append(self._preparer.submit(self._make, segment_bytes))
        if fsync:
            _fsync_directory(directory)

    # -- the request path ------------------------------------------------------------------------

    def append(self, key: bytes | None, value: bytes) -> bool:
        """Copy one encoded event into the outbox; when this returns True, a crash of the process
        no longer loses it. Never raises (it runs on the request path): when no new segment can be
        made (a full disk), that is logged and False returned; the caller sends the event on
        without its crash safety."""
        segment = self._current
        start = segment.end
        key_size = len(key) if key else 0
        body = start + FRAME_HEADER.size
        end = body + key_size + len(value)
        if end > segment.size:
            try:
                segment = self._rotate(end - start)
            except OSError:
                logger.exception("telemetry event not written to the outbox: a crash now would lose it")
                return False
            start = segment.end
            body = start + FRAME_HEADER.size
            end = body + key_size + len(value)
        view = segment.map
        if key:
            view[body : body + key_size] = key
        view[body + key_size : end] = value
        # The header last, its event count last of all: until then the frame reads as the end.
        FRAME_HEADER.pack_into(view, start, NO_KEY if key is None else key_size, len(value), 1)
        segment.end = end
        segment.events += 1
        if self.fsync:
            page = start - start % mmap.PAGESIZE
            try:
                view.flush(page, end - page)
            except OSError:  # the disk failed: the event is still in the page cache, and goes on
                logger.exception("telemetry outbox could not be synced to disk")
        return True

    @property
    def position(self) -> Position:
        """Just past the last event appended."""
        return self._current.seq, self._current.end

    # -- handing events to the relay -------------------------------------------------------------

    def hand(self) -> list[Message]:
        """The events appended since the last call, as range messages (one per segment they are
        in; :func:`read_range` reads one), for a sender that reads them from the segment files."""
        seq, offset, before = self._handed
        ranges = []
        for segment in self._segments:
            if segment.seq < seq:
                continue
            start, skipped = (offset, before) if segment.seq == seq else (SEGMENT_HEADER.size, 0)
            if segment.events > skipped:
                value = RANGE.pack(RANGE_MARK, start, segment.end) + segment.encoded_path
                ranges.append(Message(None, value, segment.events - skipped))
        current = self._current
        self._handed = (current.seq, current.end, current.events)
        return ranges

    # -- acknowledgements --------------------------------------------------------------------------

    def mark(self, handed: int) -> None:
        """The sender has been handed ``handed`` events in all, every one appended so far. A sender
        settles in the order it was handed events, so once it has settled ``handed`` of them,
        everything before this position is delivered (:meth:`settled`)."""
        self._marks.append((handed, self.position))

    def settled(self, count: int) -> None:
        """The sender has settled (sent, spilled or dropped) its first ``count`` events."""
        position = None
        marks = self._marks
        while marks and marks[0][0] <= count:
            position = marks.popleft()[1]
        if position is not None:
            self.acknowledge(position)

    def acknowledge(self, position: Position) -> None:
        """Everything appended before ``position`` has been taken by the bus or the spill file."""
        if position <= self._delivered:
            return
        self._delivered = position
        seq, offset = position
        while len(self._segments) > 1 and self._segments[0].seq < seq:
            done = self._segments.popleft()
            DELIVERED.pack_into(done.map, DELIVERED_AT, done.end)  # should a crash come before it is zeroed
            self._retire(done)
        first = self._segments[0]
        if first.seq == seq:
            DELIVERED.pack_into(first.map, DELIVERED_AT, offset)

    @property
    def delivered_all(self) -> bool:
        return self._delivered >= self.position

    # -- what crashed processes left -----------------------------------------------------------------

    def recover(self) -> list[Orphan]:
        """The outboxes of processes of this source that are gone (their lock is free), with the
        events their bus had not acknowledged. Each stays locked by this process until
        :meth:`discard`."""
        pattern = re.compile(rf"{re.escape(self._prefix)}-(\d+-[0-9a-f]+)\.lock")
        orphans = []
        for lock_path in sorted(self.directory.glob(f"{self._prefix}-*.lock")):
            match = pattern.fullmatch(lock_path.name)
            if match is None or lock_path == self._lock_path:
                continue
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # another process recovered it meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # its process is alive
                continue
            segments = list(self.directory.glob(f"{self._prefix}-{match.group(1)}-*.outbox"))
            used = sorted((found for path in segments if (found := read_segment(path)) is not None), key=_first)
            messages = [message for _, messages in used for message in messages]
            orphans.append(Orphan(lock_path, fd, segments, messages))
        return orphans

    def discard(self, orphans: list[Orphan]) -> None:
        """Delete recovered outboxes (once their events are safe in this one)."""
        if self.fsync:
            self._sync_current()
        for orphan in orphans:
            for path in orphan.segments:
                path.unlink(missing_ok=True)
            orphan.lock_path.unlink(missing_ok=True)
            os.close(orphan.lock_fd)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Let go of the files: deleted when everything was acknowledged, else left for the next start."""
        delivered_all = self.delivered_all
        self._preparer.shutdown(wait=True)
        for spare in self._spares:
            if spare.exception() is None:
                segment = spare.result()
                segment.close()
                segment.path.unlink(missing_ok=True)
        self._spares.clear()
        for segment in self._segments:
            segment.close()
            if delivered_all:
                segment.path.unlink(missing_ok=True)
        self._segments.clear()
        if delivered_all:
            self._lock_path.unlink(missing_ok=True)
        else:
            logger.warning("telemetry outbox %s keeps unacknowledged events for the next start", self._lock_path)
        os.close(self._lock_fd)

    # -- segments ----------------------------------------------------------------------------------

    def _make(self, size: int) -> Segment:
        """Create a segment full of zeros (the blocks allocated, so the copies into the mapping do
        not allocate them one page fault at a time), mapped and faulted in. Runs in the preparing
        thread (pwrite and madvise let go of the GIL), or here for an event larger than a segment."""
        path = self.directory / f"{self._prefix}-{self._token}-{next(self._slots):06d}.outbox"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _write_zeros(fd, size)
        except OSError:
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        segment = Segment(path)
        segment.populate()
        return segment

    @staticmethod
    def _reuse(segment: Segment) -> Segment:
        segment.zero()
        return segment

    def _open(self, segment: Segment) -> Segment:
        segment.activate(self._seq)
        self._segments.append(segment)
        return segment

    def _retire(self, segment: Segment) -> None:
        """A delivered segment: zeroed for reuse (in the thread), or deleted if enough are spare."""
        if segment.size == self.segment_bytes and len(self._spares) < SPARES:
            self._spares.append(self._preparer.submit(self._reuse, segment))
        else:
            segment.close()
            segment.path.unlink(missing_ok=True)

    def _rotate(self, frame_size: int) -> Segment:
        """Move on to the next segment: a spare (ready long since), or one made here to fit an
        event larger than a segment (rare)."""
        needed = SEGMENT_HEADER.size + frame_size
        if needed > self.segment_bytes:
            segment = self._make(needed)
        elif self._spares:
            spare = self._spares.popleft()
            if not self._spares:
                self._spares.append(self._preparer.submit(self._make, self.segment_bytes))
            segment = spare.result()  # OSError (a full disk): the caller logs it; the next rotation tries again
        else:
            segment = self._make(self.segment_bytes)
        if self.fsync:
            self._sync_current()
        self._seq += 1
        self._current = self._open(segment)
        if self.fsync:
            _fsync_directory(self.directory)
        return self._current

    def _sync_current(self) -> None:
        self._current.map.flush()


def read_range(message: Message) -> list[Message]:
    """The events of a range message made by :meth:`Outbox.hand`, read from the segment file.
    Raises OSError if the file does not hold them (gone, or not what the range says)."""
    _, start, end = RANGE.unpack_from(message.value)
    path = os.fsdecode(message.value[RANGE.size :])
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, end - start, start)
    finally:
        os.close(fd)
    messages, offset = unframe(data)
    if offset != end - start or len(messages) != message.events:
        raise OSError(f"the outbox segment {path} does not hold the {message.events} events of {start}..{end}")
    return messages


def is_range(message: Message) -> bool:
    return message.value[:1] == RANGE_MARK


def read_segment(path: Path) -> tuple[int, list[Message]] | None:
    """A segment's sequence number and its events after its delivered offset (None if it holds
    nothing: a spare, never put to use or zeroed for reuse)."""
    with path.open("rb") as reader:
        data = reader.read()
    if len(data) < SEGMENT_HEADER.size:
        return None
    magic, delivered, seq = SEGMENT_HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        return None
    # Walk from the first frame, so that a delivered offset torn by the crash costs resends, not garbage.
    messages, _ = unframe(data, SEGMENT_HEADER.size)
    offset = SEGMENT_HEADER.size
    kept: list[Message] = []
    for message in messages:
        size = FRAME_HEADER.size + (len(message.key) if message.key is not None else 0) + len(message.value)
        if offset + size > delivered:
            if message.value[:1] not in (b"{", b"["):
                logger.error("the outbox segment %s ends in a damaged frame at %d; the rest is lost", path, offset)
                break
            kept.append(message)
        offset += size
    return seq, kept


def _first(found: tuple[int, list[Message]]) -> int:
    return found[0]


def _write_zeros(fd: int, size: int) -> None:
    written = 0
    while written < size:
        written += os.pwrite(fd, ZEROS[: min(len(ZEROS), size - written)], written)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
