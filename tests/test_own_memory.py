"""server/own_memory.py: a process's own memory from the kernel, and the guard that asks the
kernel only when page faults say the limit may have been passed. Its two users are tested end to
end: in-process reads (tests/test_in_process_reads.py, the server's limit) and read processes
(tests/test_read_processes.py, a reader replaced when it grew)."""
from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest

from yokuryu.server.own_memory import PAGE, OwnMemoryGuard, minor_faults, private_bytes

pytestmark = pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/smaps_rollup").exists(),
                                reason="needs Linux's /proc/PID/smaps_rollup")
MiB = 1024 * 1024


def touched(size: int) -> mmap.mmap:
    """``size`` bytes of new memory, every page written (so each is a fault and private).

    A mapping of its own, not a bytearray: malloc may hand back memory an earlier test freed and
    this process still holds (then nothing grows), depending on which tests ran before."""
    block = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for offset in range(0, size, PAGE):
        block[offset] = 1
    return block


def test_private_bytes_counts_what_a_process_holds_alone():
    before, faults = private_bytes(), minor_faults()
    block = touched(32 * MiB)
    assert private_bytes(os.getpid()) - before >= 30 * MiB
    assert (minor_faults() - faults) * PAGE >= 30 * MiB
    del block
    assert private_bytes(2 ** 22 + 7) is None  # above Linux's largest pid: no such process


def test_an_absolute_limit_is_reported_once_when_it_changes():
    changes = []
    guard = OwnMemoryGuard(1, step=8 * MiB, on_change=lambda over, private: changes.append((over, private)))
    assert guard.over() is False  # not read yet
    guard.read()
    assert guard.over() is True and changes == [(True, guard.private)]
    guard.read()
    assert len(changes) == 1


def test_growth_is_measured_from_the_first_reading_and_read_only_after_enough_faults():
    guard = OwnMemoryGuard(16 * MiB, step=1024 * MiB, growth=True)
    assert guard.check() is False  # the first reading: the baseline
    baseline = guard.private
    block = touched(48 * MiB)
    # 48 MiB of faults are fewer than the 1 GiB step: the kernel is not asked, nothing changes
    assert guard.check() is False and guard.private == baseline
    guard.read()
    assert guard.over() is True and guard.private - baseline > 16 * MiB
    del block


def test_growth_within_the_limit_is_not_past_it():
    guard = OwnMemoryGuard(256 * MiB, step=4 * MiB, growth=True)
    guard.check()
    baseline = guard.private
    block = touched(16 * MiB)
    guard.read()
    assert guard.private - baseline >= 14 * MiB and guard.over() is False
    del block
