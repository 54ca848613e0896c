"""Taking a forked process's own copy of the pages it shares with its parent, in one go.

A query process is forked from the zygote and shares the in-memory store's pages with it,
copy-on-write. pyoxigraph 0.5's in-memory store writes reference counts on the nodes a scan walks,
so a process that scans ends up copying most of the store anyway (at 1M quads ~250 MB of the
~290 MB malloc heap), one page fault at a time, inside its queries: its first joins cost up to
twice the CPU of later ones, and several threads faulting at once slow each other.
:func:`copy_malloc_heaps` makes the copy in a few system calls instead
(``madvise(MADV_POPULATE_WRITE)``, Linux 5.14+), so it can run beside the queries rather than
inside them. Only pages already resident are copied (``mincore``): the process's resident size,
which ``--query-memory`` watches, does not grow.
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import sys

_MADV_POPULATE_WRITE = 23  # linux/mman.h
# glibc maps each further malloc arena's heap at a multiple of this (HEAP_MAX_SIZE on 64-bit);
# the main arena is the ``[heap]`` mapping. The store's nodes are small allocations in these.
_ARENA_ALIGNMENT = 64 * 1024 * 1024
_RESIDENT_RUNS = re.compile(rb"\x01+")
_RESIDENT_BIT = bytes(byte & 1 for byte in range(256))  # mincore's other bits are reserved


def copy_malloc_heaps() -> int | None:
    """Copy every resident page of this process's malloc heaps now; the bytes copied, or None where
    the system cannot (not Linux, a kernel before 5.14): then pages are copied as they are written."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        mincore, madvise = libc.mincore, libc.madvise
    except (OSError, AttributeError):
        return None
    mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    try:
        heaps = _malloc_heaps()
    except OSError:  # no /proc
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    copied = 0
    for start, end in heaps:
        resident = (ctypes.c_ubyte * ((end - start) // page))()
        if mincore(start, end - start, resident) != 0:
            continue  # unmapped meanwhile (malloc trimmed it): nothing to copy there
        for run in _RESIDENT_RUNS.finditer(bytes(resident).translate(_RESIDENT_BIT)):
            if madvise(start + run.start() * page, (run.end() - run.start()) * page, _MADV_POPULATE_WRITE) != 0:
                if ctypes.get_errno() in (errno.EINVAL, errno.EPERM, errno.ENOSYS) and not copied:
                    return None  # a kernel without MADV_POPULATE_WRITE, or a sandbox refusing it
                continue  # e.g. ENOMEM: part of the range was unmapped meanwhile
            copied += (run.end() - run.start()) * page
    return copied


def malloc_heap_pages() -> int:
    """The size of this process's malloc heaps, in pages (0 where /proc cannot tell)."""
    try:
        return sum(end - start for start, end in _malloc_heaps()) // os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _malloc_heaps() -> list[tuple[int, int]]:
    """The address ranges of this process's malloc heaps: ``[heap]``, and the writable anonymous
    mappings where glibc puts the heaps of its further arenas."""
    heaps = []
    with open("/proc/self/maps", encoding="ascii") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(address, 16) for address in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if name == "[heap]" or (not name and fields[1].startswith("rw") and start % _ARENA_ALIGNMENT == 0):
                heaps.append((start, end))
    return heaps
