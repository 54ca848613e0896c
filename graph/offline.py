"""Evaluation without a network: a seccomp filter that makes ``socket()`` fail for IPv4 and IPv6.

pyoxigraph fetches remote data for SPARQL ``SERVICE`` and ``LOAD`` and offers no way to switch
that off. Refusing those keywords in the text (``yokuryu.graph.query_guard``) gives a clear
message, but a filter in front of a parser can be fooled; so the threads and processes that
evaluate untrusted SPARQL lock themselves out of the network first. Once
:func:`lock_out_network` has run, the kernel answers ``EPERM`` to every ``socket(AF_INET…)`` and
``socket(AF_INET6…)`` from that thread (and from threads and processes it starts later); Unix
sockets, files and everything else work as before, and the lock cannot be undone.

Linux only (x86_64 and aarch64), with no library beyond ctypes. Elsewhere
:func:`lock_out_network` returns False and says so in the log, and the text check is the only
defence.
"""
from __future__ import annotations

import ctypes
import logging
import os
import platform
import signal
import struct
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# Constants from <linux/prctl.h>, <linux/seccomp.h>, <linux/filter.h>, <linux/audit.h>.
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_RET_ALLOW, _RET_EPERM = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
_LD_W_ABS, _JEQ_K, _RET_K = 0x20, 0x15, 0x06
_AF_INET, _AF_INET6 = 2, 10
# machine: (AUDIT_ARCH_*, __NR_socket)
_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}

_local = threading.local()


def lock_out_network() -> bool:
    """Forbid IPv4/IPv6 sockets to this thread and its future children; True once in force."""
    if getattr(_local, "locked", False):
        return True
    arch = _ARCHES.get(platform.machine()) if sys.platform == "linux" else None
    if arch is None:
        log.warning("cannot lock query evaluation out of the network on %s %s; only the SPARQL text "
                    "check refuses SERVICE and LOAD", sys.platform, platform.machine())
        return False
    audit_arch, socket_call = arch
    # struct seccomp_data: int nr @0, u32 arch @4, u64 ip @8, u64 args[6] @16 (little endian).
    program = [
        (_LD_W_ABS, 0, 0, 4),            # A = arch
        (_JEQ_K, 0, 5, audit_arch),      # another ABI (e.g. 32-bit calls): allow, it is not used
        (_LD_W_ABS, 0, 0, 0),            # A = syscall number
        (_JEQ_K, 0, 3, socket_call),     # not socket(): allow
        (_LD_W_ABS, 0, 0, 16),           # A = low half of the first argument (the family)
        (_JEQ_K, 2, 0, _AF_INET),        # AF_INET: EPERM
        (_JEQ_K, 1, 0, _AF_INET6),       # AF_INET6: EPERM
        (_RET_K, 0, 0, _RET_ALLOW),
        (_RET_K, 0, 0, _RET_EPERM),
    ]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *step) for step in program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.addressof(code))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if (libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0
            or libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0):
        log.warning("the kernel refused the seccomp filter (errno %d); only the SPARQL text check "
                    "refuses SERVICE and LOAD", ctypes.get_errno())
        return False
    _local.locked = True
    return True


_engine: ThreadPoolExecutor | None = None
_engine_lock = threading.Lock()


def run_offline(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)`` in a thread locked out of the network (one shared thread).

    For work in the server process itself (SPARQL updates): the thread that serves requests
    keeps its network, the thread that evaluates has none.
    """
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yokuryu-offline",
                                         initializer=lock_out_network)
    return _engine.submit(function, *args, **kwargs).result()


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with(parent: int) -> None:
    """End this forked child when ``parent`` ends (Linux), and at once if it has already ended.

    A child of the server (query zygote, query process, journal compaction) must not outlive
    it: a server killed and started again would meet the old one's children still reading or
    writing its files. Elsewhere only the check for an already-ended parent applies.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # ended before the line above took effect
        os._exit(0)
