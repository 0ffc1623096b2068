"""Event and request ids: distinct within a process, and a forked child never repeats its parent's."""

from __future__ import annotations

import os

from driftloop.ids import new_id


def test_ids_are_distinct_and_share_a_random_per_process_prefix() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == 10_000
    assert len({i[:16] for i in ids}) == 1
    assert all(17 <= len(i) <= 36 and all(c in "0123456789abcdef" for c in i) for i in ids)


def test_a_forked_child_draws_its_own_prefix() -> None:
    read, write = os.pipe()
    parent_id = new_id()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave without running the test machinery
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child_id[:16] != parent_id[:16]
    assert child_id != new_id()
