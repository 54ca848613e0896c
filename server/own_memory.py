"""How much memory a process holds as its own, and a cheap check of "has this process's own
memory passed N?".

Processes forked from one holding the store share its pages until they write to them, and
pyoxigraph writes reference counts on what a read touches: a read copies the pages it touches.
The kernel's count of the pages a process holds alone (Private_Clean + Private_Dirty in
/proc/PID/smaps_rollup) walks its page tables and holds its memory map meanwhile (~50 ms at 1M
quads, stalling the threads beside it), so :class:`OwnMemoryGuard` asks it only when the minor
page faults since the last reading (one cheap call; every copied or new page is one, so they
bound the growth from above) say the limit may have been passed.

Used by the server for its in-process reads (:class:`yokuryu.server.executor.InProcessReads`: an
absolute limit) and by each read process (:mod:`yokuryu.server.read_processes`: growth since its
first reading); the query processes read :func:`private_bytes` of their workers.
"""
from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def private_bytes(pid: int | None = None) -> int | None:
    """Memory only process ``pid`` (default: this one) holds, copied or its own, from the kernel; None without /proc."""
    try:
        text = Path(f"/proc/{pid or os.getpid()}/smaps_rollup").read_text()
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        if line.startswith(("Private_Dirty:", "Private_Clean:")):
            total += int(line.split()[1]) * 1024
    return total


def minor_faults() -> int:
    """This process's minor page faults so far (a copy-on-write copy is one, so is a new page)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class OwnMemoryGuard:
    """Whether this process's private memory is past ``limit`` bytes, read from the kernel only
    when the faults since the last reading could have taken it there.

    ``growth``: the limit is on the growth since the first reading (a read process: what it
    copied since it started serving), not on the whole. ``step``: the fewest bytes of faults
    between two readings (close to the limit, or past it, the room left is small: this bounds how
    often the kernel is asked). ``recheck_after`` seconds: once past, :meth:`over` reads again
    after that long, so memory given back is noticed without faults. ``on_change(over, private)``
    is called when a reading changes the verdict. Without /proc it is never past.
    """

    def __init__(self, limit: int, *, step: int, growth: bool = False, recheck_after: float | None = None,
                 on_change: Callable[[bool, int], None] | None = None):
        self.limit, self.step, self.growth = limit, step, growth
        self.recheck_after, self.on_change = recheck_after, on_change
        self.baseline: int | None = None if growth else 0
        self.private: int | None = None  # bytes, at the last reading
        self.past = False
        self._faults, self._room = 0, 0  # the first check reads
        self._read_at = 0.0
        self._lock = threading.Lock()

    def over(self) -> bool:
        """Whether the last reading was past the limit (read again first when it was, ``recheck_after`` ago)."""
        if self.past and self.recheck_after is not None and time.monotonic() - self._read_at >= self.recheck_after:
            self.read()
        return self.past

    def check(self) -> bool:
        """Read again if the faults since the last reading could have passed the limit; whether it is past."""
        if (minor_faults() - self._faults) * PAGE >= self._room:
            self.read()
        return self.past

    def read(self) -> None:
        """Ask the kernel now (unless another thread is asking it)."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            faults = minor_faults()
            private = private_bytes()
            if private is None:  # no /proc: faults alone cannot tell copies from new memory; no limit
                self._faults, self._room = faults, float("inf")
                return
            if self.baseline is None:
                self.baseline = private
            left = self.baseline + self.limit - private
            past = left < 0
            self.private, self._faults, self._room = private, faults, max(left, self.step)
            self._read_at = time.monotonic()
            if past != self.past:
                self.past = past
                if self.on_change is not None:
                    self.on_change(past, private)
        finally:
            self._lock.release()
