"""Queries that really stop at the time limit: evaluation in processes forked from a zygote.

pyoxigraph 0.5 cannot cancel a running query, so a query that must stop at ``--timeout`` has to
run in a process that can be killed; and a query that crashes the engine or fills memory must
take down only that process. ``yokuryu serve`` starts, before the HTTP server starts any thread:

- the **zygote**: a process holding a copy of the store. For the in-memory store it is forked
  from the server (a copy-on-write copy); for an on-disk store (``--store``), whose RocksDB
  handle must not cross a ``fork``, it is a new program that opens a checkpoint of the store
  read-only (:mod:`yokuryu.server.checkpoints`: hard links, no copy in memory).
  It does two things, one at a time: fork a query process on request, and apply a committed
  write to its copy (removed and added quads, as N-Quads; for an on-disk store, a fresh
  checkpoint to switch to, made before the first fork after a write). It locks itself out of the network
  first (:mod:`yokuryu.graph.offline`), so no query can make the server fetch anything;
- ``--query-processes`` (default 1) **query processes**, forked by the zygote, each evaluating
  up to ``--workers`` ÷ processes queries at once, one thread per query (pyoxigraph releases
  the GIL while it evaluates, so the threads share the cores). Each thread receives a
  :class:`QueryRequest` over its own socket and answers with the serialised results (or the
  error). A fork shares the zygote's memory, so a new process is ready in milliseconds. It is
  long-lived on purpose: pyoxigraph writes reference counts on every node a scan walks, so the
  first scan in a fresh fork copies most of the store's pages (at 1M quads, 2–5× the CPU of
  later runs); one process pays that once for all its threads and keeps its copy while queries
  keep coming, and gives it back after ``RECLAIM_AFTER`` seconds idle. Once a query shows it
  copying, the process copies the rest in one go, beside its queries (:mod:`yokuryu.server.shared_pages`). At most ``--workers``
  queries are evaluated at once over all processes.

At the time limit the client gets its 503 and the runaway's process is killed (SIGKILL: the CPU
is really freed); the other queries in flight in it are run again, transparently, in a fresh
process (reads are idempotent; each keeps its own deadline). Every committed write is sent to
the zygote before the write is answered (on disk: before its next fork), and the processes forked before it take no more
queries (each ends when its last query does): a query sees the state before a write or after
it, never a mixture, and a client that reads after its write was answered sees that write. If
the zygote dies, a new one is started from a dump of the server's store (the only case that
reloads the graph; on disk, from a fresh checkpoint) and the event is logged. The zygote and
query processes die with the server (``PR_SET_PDEATHSIG`` on Linux, and an end-of-file on their
sockets everywhere).

Each query process may grow by at most ``--query-memory`` MiB (``RLIMIT_AS`` above what it holds
when forked, plus room for its threads' stacks and malloc arenas): a query that needs more ends
its process and the client gets a 503 naming the limit; a process that grew by more than a
quarter of the limit is replaced once its queries are answered, so its memory goes back to the
system. A process killed by a segfault (the engine's stack overflowed on a deeply nested query
that the text check let through) answers its query 400. When such a crash (or the memory limit)
ends a process with several queries in flight, which one caused it is unknown: each of them runs
again in a process of its own, where only the culprit fails again (400 or 503).
"""
from __future__ import annotations

import collections
import contextlib
import gc
import io
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import pyoxigraph as ox

from yokuryu.graph.offline import die_with, lock_out_network
from yokuryu.graph.store import KnowledgeStore, load_nquads
from yokuryu.server.checkpoints import Checkpoints, ReadOnlyCopy
from yokuryu.server.errors import ProtocolError
from yokuryu.server.executor import QueryRequest, UpdateCheck, evaluate, out_of_memory, over_the_limit
from yokuryu.server.own_memory import minor_faults, private_bytes
from yokuryu.server.shared_pages import copy_malloc_heaps, malloc_heap_pages

log = logging.getLogger(__name__)

NQUADS = ox.RdfFormat.N_QUADS


class QueryProcesses:
    """The server side: query processes (each evaluating up to ``threads`` queries at once) and their zygote."""

    holds_a_copy = True  # every committed write must be passed on (see writes.apply_update)
    runs_work_outs = True  # run() evaluates a page's figures too (server.figures)

    def __init__(self, store: KnowledgeStore, workers: int, timeout: float, memory_mib: int = 1024,
                 processes: int = 1):
        self.store = store
        self.timeout = timeout
        self.workers = max(1, workers)  # queries evaluated at once, over all processes
        self.processes = max(1, min(processes, self.workers))
        self.threads = -(-self.workers // self.processes)  # per process
        self.memory_mib = memory_mib
        self._zygote_lock = threading.Lock()  # one conversation with the zygote at a time
        self._pool = threading.Condition()  # guards the fields below and every _Process's
        self._live: list[_Process] = []  # processes holding the current state and taking queries
        self._forking = 0  # forks under way, counted against ``processes``
        self._admission = _Admission(self.workers)  # queries being evaluated (or about to be)
        self._generation = 0  # bumped by every committed write: older processes hold an older state
        # An on-disk store's query processes read checkpoints of it (None: the in-memory store);
        # _behind: a write was committed since the zygote's checkpoint was made (zygote lock).
        self._checkpoints = Checkpoints(store) if store.is_persistent else None
        self._behind = False
        if store.is_persistent:
            with store.write_lock:
                self._zygote = _Zygote.spawn(store, memory_mib, self._checkpoints)
        else:
            self._zygote = _Zygote.fork(store, memory_mib)
        self._live.append(self._fork_process(self.threads))
        self._stopping = threading.Event()
        threading.Thread(target=self._reclaim_copies, name="yokuryu-reclaim", daemon=True).start()

    # --- queries ---------------------------------------------------------------------------

    def run(self, request) -> tuple[bytes, str]:
        """The evaluated ``request`` (body, media type; a figure's value, see server.figures), or a 503
        once the time limit has passed."""
        return self._ask(request)

    def check_update(self, check: UpdateCheck) -> int:
        """Parse an update in a worker (on an empty store): a crash or a fetch happens there, not here.

        Returns the number of quads the update inserts into nothing (its data). The parse reads
        nothing of the store, so on disk it does not wait for a checkpoint of the latest write:
        while the zygote is behind, it runs in a process of its own forked from the older
        checkpoint (see _take), and writes in a row make no checkpoint until a query needs one.
        An update with a WHERE (``check.where_counts``) reads the store as a query does."""
        return self._ask(check)

    def _ask(self, request):
        timeline = _Timeline(request) if _TIMELINE is not None else None
        deadline = time.monotonic() + self.timeout
        if not self._admission.enter(deadline):
            raise over_the_limit(self.timeout, "never started: every query worker stayed busy")
        if timeline is not None:
            timeline.admitted = time.monotonic()
        try:
            alone = False  # a process of its own: only to re-run after a crash several queries shared
            retried = False
            # On disk, counting an update's WHERE reads the latest write, as a query does: a checkpoint
            # a few writes old could be empty of what makes the WHERE run away.
            reads_the_store = not isinstance(request, UpdateCheck) or bool(request.where_counts)
            while True:
                slot = self._take(deadline, alone, reads_the_store)
                answer = self._evaluate(slot, request, deadline, timeline)
                if answer is not None:
                    status, value = answer
                    if timeline is not None:
                        timeline.write()
                    if status == "error":
                        raise value
                    return value
                # The process ended under this query: find out why, and whether this query did it.
                process = slot.process
                how, shared, first = self._how_it_ended(process)
                if process.killed:
                    # Another query in the same process ran past its limit and the process was
                    # killed with it; reads are idempotent, so this one runs again elsewhere.
                    pass
                elif how in ("a segfault", "an abort", "out of memory"):
                    if shared and not alone:
                        if first:
                            log.warning("query process %d ended (%s) with %d queries in flight; each runs again "
                                        "in a process of its own", process.pid, how, shared)
                        alone = True
                    elif how == "a segfault":
                        raise ProtocolError(
                            "400 Bad Request: the request is too deeply nested for the SPARQL engine (its query "
                            "process crashed on it; the server is fine). Flatten it, or lower its nesting.")
                    else:
                        raise out_of_memory(self.memory_mib)
                else:
                    # The process died under us (its zygote died, or it was killed from outside):
                    # a fresh one gets the query once more.
                    if retried:
                        raise ProtocolError("503 Service Unavailable: the query process ended unexpectedly "
                                            "while evaluating the query; try again", 503,
                                            headers={"Retry-After": "5"})
                    retried = True
                if time.monotonic() >= deadline:
                    raise over_the_limit(self.timeout, "stopped (its query process was killed)")
        finally:
            self._admission.leave()

    def _evaluate(self, slot: _Slot, request, deadline: float, timeline: _Timeline | None = None):
        """``(status, value)`` from the worker thread behind ``slot``, or None if its process ended."""
        try:
            if timeline is not None:
                timeline.sending = time.monotonic()
            slot.conn.send(request)
            if not slot.conn.poll(max(0.0, deadline - time.monotonic())):
                self._kill(slot.process, f"its query ran past the {self.timeout:g} s limit")
                self._put_back(slot)
                raise over_the_limit(self.timeout, "stopped (its query process was killed)")
            if timeline is not None:
                timeline.answered = time.monotonic()
            status, value, heavy, times = slot.conn.recv()
            if timeline is not None:
                timeline.received, timeline.worker = time.monotonic(), times
        except (EOFError, OSError):
            with self._pool:
                process = slot.process
                if process.in_flight_at_end is None:
                    process.in_flight_at_end = process.busy
                    self._drop(process)
            self._put_back(slot)
            return None
        self._put_back(slot, heavy)
        return status, value

    def _how_it_ended(self, process: _Process) -> tuple[str, int, bool]:
        """How a process that closed its sockets ended, as its zygote saw it; the queries in flight
        in it then (0 if this one was alone); and whether this is the first query to ask."""
        with process.asked:  # one question to the zygote per process, however many queries it had
            first = process.ended is None
            if first:
                process.ended = "killed" if process.killed else self._exit_status(process.pid)
        shared = process.in_flight_at_end or 1
        return process.ended, (shared if shared > 1 else 0), first

    def _exit_status(self, pid: int) -> str:
        with self._zygote_lock:
            try:
                code = self._zygote.exit_status(pid)
            except (EOFError, OSError):
                return "unknown"
        if code is None:
            return "unknown"
        if os.WIFSIGNALED(code):
            return {signal.SIGSEGV: "a segfault", signal.SIGBUS: "a segfault", signal.SIGABRT: "an abort",
                    signal.SIGKILL: "killed"}.get(os.WTERMSIG(code), f"signal {os.WTERMSIG(code)}")
        if os.WIFEXITED(code) and os.WEXITSTATUS(code) == _OUT_OF_MEMORY:
            return "out of memory"
        return f"exit status {os.WEXITSTATUS(code)}"

    def _take(self, deadline: float, alone: bool = False, reads_the_store: bool = True) -> _Slot:
        """A free slot of a process holding the current state (forking one if there is room), or a 503.

        ``reads_the_store`` False (an update check): while an on-disk store's zygote is behind the
        latest write, a process of its own forked from the older checkpoint, so that no
        checkpoint is made for a request that does not read it."""
        if alone or (not reads_the_store and self._behind):
            process = self._fork_process(1, catch_up=reads_the_store, many=False)
            process.retiring = True  # one query, then it ends
            process.busy = 1
            return process.idle.pop()
        with self._pool:
            while True:
                for process in self._live:  # the oldest first: it is the likeliest to hold copied pages
                    if process.idle:
                        process.busy += 1
                        return process.idle.pop()
                if len(self._live) + self._forking < self.processes:
                    self._forking += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise over_the_limit(self.timeout, "never started: every query process stayed busy")
                self._pool.wait(remaining)
        process = None
        try:
            process = self._fork_process(self.threads)
        finally:
            with self._pool:
                self._forking -= 1
                if process is not None and process.generation == self._generation:
                    self._live.append(process)
                elif process is not None:
                    self._retire(process)  # a write came while it was forked
                self._pool.notify_all()
        return self._take(deadline)

    def _put_back(self, slot: _Slot, heavy: bool = False) -> None:
        """A slot whose query ended: kept for the next query, or closed if its process is retiring."""
        with self._pool:
            process = slot.process
            process.busy -= 1
            if heavy and not process.retiring:
                log.info("query process %d retired: it grew large on its last query", process.pid)
                self._drop(process)
            if process.retiring:
                slot.conn.close()  # the process ends when its last socket closes
            else:
                process.idle.append(slot)
                if not process.busy:
                    process.idle_since = time.monotonic()
                    process.measured = False
            self._pool.notify_all()

    def _drop(self, process: _Process) -> None:
        """Take no more queries to ``process``: its idle slots close now, busy ones as they finish (pool lock held)."""
        process.retiring = True
        if process in self._live:
            self._live.remove(process)
        self._retire(process)

    @staticmethod
    def _retire(process: _Process) -> None:
        process.retiring = True
        while process.idle:
            process.idle.pop().conn.close()

    def _kill(self, process: _Process, why: str) -> None:
        """Stop a process at once: the runaway's CPU is freed; its other queries run again elsewhere."""
        with self._pool:
            if process.killed:
                return
            process.killed = why
            self._drop(process)
            others = process.busy - 1
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        log.warning("query process %d killed: %s%s", process.pid, why,
                    f"; the {others} other queries in flight in it run again in a fresh process" if others else "")

    def _fork_process(self, threads: int, catch_up: bool = True, many: bool = True) -> _Process:
        """A process forked by the zygote, tagged with the state it holds; restarts a dead zygote.

        ``catch_up`` False: forked from whatever checkpoint the zygote reads (for a request that
        reads nothing of the store), without making one of the latest write first. ``many`` False:
        it evaluates one request and ends."""
        for attempt in (1, 2):
            with self._zygote_lock:
                try:
                    if self._behind and catch_up:
                        self._catch_up()
                    # Only a process that takes many queries copies the store's pages in one go (see
                    # worker_main); not one forked for a single query, nor a checkpoint reader.
                    pid, conns = self._zygote.fork_worker(threads, copy_store=many and self._checkpoints is None)
                    with self._pool:
                        # Behind (not caught up): it holds no generation's state; it only checks.
                        process = _Process(pid, -1 if self._behind else self._generation)
                        process.idle = [_Slot(process, conn) for conn in conns]
                        return process
                except (EOFError, OSError):
                    dead = self._zygote
            if attempt == 1:
                self._restart_zygote(dead)
        raise OSError("the query zygote cannot fork query processes")

    def fork_reader(self, fds: list[int], settings: bytes) -> int:
        """Fork a read process from the zygote (``yokuryu.server.read_processes``), handing it ``fds``;
        its pid. The caller holds the store's write lock, so the zygote holds every committed write."""
        for attempt in (1, 2):
            with self._zygote_lock:
                try:
                    return self._zygote.fork_reader(fds, settings)
                except (EOFError, OSError):
                    dead = self._zygote
            if attempt == 1:
                self._restart_zygote(dead, write_lock_held=True)
        raise OSError("the query zygote cannot fork read processes")

    @property
    def checkpoints(self) -> Checkpoints | None:
        """An on-disk store's checkpoints (the read processes take theirs here too); None in memory."""
        return self._checkpoints

    # --- writes ----------------------------------------------------------------------------

    def committed(self, removed: set[ox.Quad], added: set[ox.Quad]) -> None:
        """Pass a committed write to the zygote and retire the processes that predate it.

        Called with the store's write lock held, before the write is answered.
        """
        if not removed and not added:
            return  # the workers' state is still the store's
        if self._checkpoints is not None:
            # On disk the zygote is told nothing now: the next fork makes a checkpoint first (see
            # _catch_up), so a write's answer waits for no checkpoint (a flush and an fsync, 15-60
            # ms at 1M) and a burst of writes costs one. Under the zygote lock, so that a fork under
            # way ends (and is tagged with the older generation) before the generation moves.
            with self._zygote_lock, self._pool:
                self._behind = True
                self._generation += 1
                while self._live:
                    self._drop(self._live[0])  # their queries in flight end on the old state
                self._pool.notify_all()
            return
        change = (_nquads(removed), _nquads(added))
        with self._zygote_lock:
            try:
                self._zygote.apply(*change)
                dead = None
            except (EOFError, OSError):
                dead = self._zygote
        if dead is not None:
            self._restart_zygote(dead, write_lock_held=True)  # its dump includes this write
        with self._pool:
            self._generation += 1
            while self._live:
                self._drop(self._live[0])  # their queries in flight end on the old state
            self._pool.notify_all()

    def _catch_up(self) -> None:
        """Have the zygote of an on-disk store switch to a checkpoint holding every committed write.

        Called with the zygote lock held, before a fork: the checkpoint holds at least every write
        whose answer was sent (and perhaps one being committed, whose generation moves after).
        """
        try:
            checkpoint = self._checkpoints.take()
        except OSError as error:  # the store's disk, not the zygote: no restart would help
            log.error("cannot make a checkpoint of the store for the query processes: %s", error)
            raise ProtocolError(f"503 Service Unavailable: the query processes cannot read the latest state of "
                                f"the store, because a checkpoint of it could not be made ({error}); free space "
                                f"in the store's folder", 503, headers={"Retry-After": "30"}) from None
        self._zygote.switch_to(checkpoint)
        self._behind = False

    # --- the zygote's life -----------------------------------------------------------------

    def _restart_zygote(self, dead: _Zygote, write_lock_held: bool = False) -> None:
        """Replace a dead zygote by a new process loading a dump of the store (the only reload)."""
        # Lock order: the store's write lock, then the zygote lock (a writer holds the first).
        with contextlib.nullcontext() if write_lock_held else self.store.write_lock, self._zygote_lock:
            if self._zygote is not dead:
                return  # another thread replaced it already
            log.warning("the query zygote (process %d) died; starting a new one from a dump of the store "
                        "(%d quads)", dead.pid, self.store.quad_count())
            dead.close()
            self._zygote = _Zygote.spawn(self.store, self.memory_mib, self._checkpoints, only=True)
            self._behind = False  # a fresh checkpoint, made under the write lock
            with self._pool:
                self._generation += 1  # the old processes died with their zygote
                while self._live:
                    self._drop(self._live[0])
            log.warning("the new query zygote (process %d) is ready", self._zygote.pid)

    def _reclaim_copies(self) -> None:
        """Retire processes that copied much of the store (a scan does) once they sit idle.

        Kept while queries keep coming (a second scan in the same process copies nothing more,
        where a fresh fork would copy it all again: at 1M quads ~0.1 s of CPU per scan), their
        copies go back to the system after ``RECLAIM_AFTER`` seconds without a query. What a
        process holds of its own is asked of the kernel here, once per idle spell, rather than
        by the process after each query: the kernel walks all of a large process's pages to
        answer, holding its memory map's lock, which stalled the queries running beside it.
        """
        while not self._stopping.wait(1.0):
            now = time.monotonic()
            with self._pool:
                idle = [(p, p.idle_since) for p in self._live
                        if not p.busy and not p.measured and now - p.idle_since > RECLAIM_AFTER]
            for process, since in idle:
                private = private_bytes(process.pid)  # outside the lock: tens of ms for a large process
                with self._pool:
                    if process.busy or process.idle_since != since or process not in self._live:
                        continue  # it took a query meanwhile: measured at its next idle spell
                    process.measured = True
                    if private is None or private > KEEP_PRIVATE:  # no /proc: idle processes are retired
                        self._drop(process)
                        log.info("query process %d retired: idle, holding a copy of the store", process.pid)
                        self._pool.notify_all()

    def shutdown(self) -> None:
        """Stop the workers and the zygote (the server is stopping)."""
        self._stopping.set()
        with self._pool:
            while self._live:
                self._drop(self._live[0])
        with self._zygote_lock:
            self._zygote.close()
        if self._checkpoints is not None:
            self._checkpoints.close()


class _Admission:
    """At most ``n`` queries evaluated at once; the others wait their turn, first come first served.

    A slot freed while queries wait is handed to the one that has waited longest. With a
    condition variable and ``notify_all`` instead, the thread that has just freed a slot (its
    HTTP thread, already running) usually takes it back before any woken waiter runs: under
    load, a few connections kept the slots while others waited seconds for one (at 1M quads,
    8 clients, 4 slots: a query waited 10 s while the median was 14 ms).
    """

    def __init__(self, n: int):
        self._free = n
        self._lock = threading.Lock()
        self._waiting: collections.deque[_Turn] = collections.deque()

    def enter(self, deadline: float) -> bool:
        """Wait for a slot until ``deadline`` (monotonic); False if none came by then."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            turn = _Turn()
            self._waiting.append(turn)
        if turn.wait(max(0.0, deadline - time.monotonic())):
            return True
        with self._lock:
            if turn.is_set():  # handed over just as the wait ended: it is ours
                return True
            self._waiting.remove(turn)
            return False

    def leave(self) -> None:
        """Free a slot: to the longest waiting query, if any."""
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()  # the slot passes on, still counted as taken
            else:
                self._free += 1


class _Turn(threading.Event):
    """One query waiting for a slot: set when a slot is handed to it."""


@dataclass(eq=False)
class _Process:
    """A query process as the server sees it; its fields are guarded by the pool's lock."""

    pid: int
    generation: int
    idle: list = field(default_factory=list)  # its free slots (_Slot)
    busy: int = 0  # its slots in use
    retiring: bool = False  # takes no more queries: each slot closes when its query ends
    killed: str = ""  # why the server killed it (a query past the time limit)
    idle_since: float = 0.0
    measured: bool = False  # its own memory was measured in this idle spell (see _reclaim_copies)
    in_flight_at_end: int | None = None  # queries in it when it was found ended
    ended: str | None = None  # how it ended, once asked
    asked: threading.Lock = field(default_factory=threading.Lock)


@dataclass(eq=False)
class _Slot:
    """One socket to one evaluating thread of a query process."""

    process: _Process
    conn: Connection


# Memory a query process may keep while idle (its Python heap's share): a process that holds more
# has copied much of the store. It shares the zygote's memory until it writes to a page, and
# pyoxigraph's in-memory store writes to the nodes a scan walks (reference counts): one query
# over all quads makes it copy most of the store, although its resident size hardly moves.
KEEP_PRIVATE = 32 * 1024 * 1024

# Seconds a process holding a copy of the store may sit idle: long enough to keep it over the
# pauses of a burst of heavy queries (a fresh fork's first scan costs 2-5x the CPU of later ones),
# short enough to give the memory back soon after the endpoint goes quiet.
RECLAIM_AFTER = 20.0


class _Zygote:
    """The server's handle on the zygote process: its pid and the socket to talk to it."""

    def __init__(self, pid: int, channel: socket.socket, process: subprocess.Popen | None = None):
        self.pid = pid
        self.channel = channel
        self.conn = Connection(os.dup(channel.fileno()))
        self.process = process  # set when spawned as a new program (a restart), not forked

    @classmethod
    def fork(cls, store: KnowledgeStore, memory_mib: int) -> _Zygote:
        """Fork the zygote from this process: it shares the store's memory, copy-on-write."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        server = os.getpid()
        gc.freeze()  # the zygote keeps the server's objects out of its collector's sight (see zygote_main)
        pid = os.fork()
        if pid != 0:
            gc.unfreeze()  # the server itself collects as usual
        if pid == 0:  # the zygote
            try:
                ours.close()
                die_with(server)
                zygote_main(store, theirs, memory_mib)
            finally:
                os._exit(0)
        theirs.close()
        return cls(pid, ours)

    @classmethod
    def spawn(cls, store: KnowledgeStore, memory_mib: int, checkpoints: Checkpoints | None = None,
              only: bool = False) -> _Zygote:
        """Start a zygote as a new program (the caller holds the write lock): it opens a new checkpoint
        of ``store`` when ``checkpoints`` are given (``only``: the older ones are removed), else it is fed
        a dump of ``store``."""
        checkpoint = [str(checkpoints.take(only=only))] if checkpoints is not None else []
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = subprocess.Popen(
            [sys.executable, "-m", "yokuryu.server.query_processes", str(theirs.fileno()), str(os.getpid()),
             str(memory_mib), *checkpoint],
            stdin=subprocess.DEVNULL if checkpoint else subprocess.PIPE, pass_fds=[theirs.fileno()])
        theirs.close()
        zygote = cls(process.pid, ours, process)
        try:
            if not checkpoint:
                store.oxigraph.dump(process.stdin, format=NQUADS)
                process.stdin.close()
            if zygote.conn.recv() != ("ready",):
                raise OSError("the new query zygote did not start")
        except BaseException:
            zygote.close()
            raise
        return zygote

    def fork_worker(self, threads: int, copy_store: bool = False) -> tuple[int, list[Connection]]:
        """A new query process evaluating up to ``threads`` queries at once: its pid and a socket per thread.

        ``copy_store``: it copies the store's pages in one go once a query shows it scanning (worker_main)."""
        self.conn.send(("fork", threads, copy_store))
        reply = self.conn.recv()
        _, fds, _, _ = socket.recv_fds(self.channel, 1, threads)
        if reply[0] != "forked" or len(fds) != threads:
            for fd in fds:
                os.close(fd)
            raise OSError(f"unexpected answer from the query zygote: {reply!r}")
        return reply[1], [Connection(fd) for fd in fds]

    def fork_reader(self, fds: list[int], settings: bytes) -> int:
        self.conn.send(("reader", settings))
        socket.send_fds(self.channel, [b"r"], fds)
        reply = self.conn.recv()
        if reply[0] != "forked":
            raise OSError(f"unexpected answer from the query zygote: {reply!r}")
        return reply[1]

    def exit_status(self, pid: int) -> int | None:
        """The wait status of a worker that ended (None if the zygote did not know it)."""
        self.conn.send(("status", pid))
        reply = self.conn.recv()
        return reply[1] if reply[0] == "status" else None

    def apply(self, removed: bytes, added: bytes) -> None:
        self.conn.send(("apply", removed, added))
        reply = self.conn.recv()
        if reply[0] != "applied":
            raise OSError(f"the query zygote could not apply a write: {reply[1]}")

    def switch_to(self, checkpoint: Path) -> None:
        """Have the zygote fork its workers with ``checkpoint`` from now on (it opens it after answering)."""
        self.conn.send(("switch", str(checkpoint)))
        reply = self.conn.recv()
        if reply[0] != "applied":
            raise OSError(f"unexpected answer from the query zygote: {reply!r}")

    def close(self) -> None:
        """End the zygote (its workers end with it) and reap it."""
        self.conn.close()
        self.channel.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        if self.process is not None:
            if self.process.stdin and not self.process.stdin.closed:
                with contextlib.suppress(OSError):
                    self.process.stdin.close()
            self.process.wait()
        else:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


# --- inside the zygote and the workers ---------------------------------------------------------


def zygote_main(store: KnowledgeStore, channel: socket.socket, memory_mib: int,
                copy: ReadOnlyCopy | None = None) -> None:
    """Fork workers and apply writes, one request at a time, until the server goes away.

    ``copy``: an on-disk store's checkpoint (``store`` is its handle), switched at each write."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    lock_out_network()  # before any worker exists: every worker inherits the lock
    conn = Connection(os.dup(channel.fileno()))
    me = os.getpid()
    ended: dict[int, int] = {}  # wait statuses of recently ended workers, for the server to ask
    while True:
        try:
            if copy is not None and copy.superseded() and not conn.poll(1.0):
                copy.prune()  # idle: remove the old checkpoints whose last workers have ended since
                continue
            request = conn.recv()
        except (EOFError, OSError):
            return
        _reap(ended)
        if request[0] == "status":
            conn.send(("status", _wait_for(request[1], ended)))
        elif request[0] == "fork":
            pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(request[1])]
            # Out of the garbage collector's sight: its passes write to every object they visit,
            # which would make each worker copy the whole Python heap it shares with the zygote.
            gc.freeze()
            pid = os.fork()
            if pid == 0:  # a query process
                try:
                    conn.close()
                    channel.close()
                    for ours, _ in pairs:
                        ours.close()
                    die_with(me)
                    worker_main(store, [theirs for _, theirs in pairs], memory_mib, copy_store=request[2])
                finally:
                    os._exit(0)
            for _, theirs in pairs:
                theirs.close()
            if copy is not None:
                copy.forked(pid)
            conn.send(("forked", pid))
            socket.send_fds(channel, [b"w"], [ours.fileno() for ours, _ in pairs])
            for ours, _ in pairs:
                ours.close()
        elif request[0] == "reader":
            _, fds, _, _ = socket.recv_fds(channel, 1, 8)
            from yokuryu.server.read_processes import import_what_readers_run
            # Imported here, once, so every reader shares the modules' memory (a zygote spawned for
            # an on-disk store has not imported them; a forked one has, and this costs nothing).
            import_what_readers_run(pickle.loads(request[1])["config"].http_server)
            gc.freeze()
            pid = os.fork()
            if pid == 0:  # a read process: it answers HTTP requests itself
                try:
                    conn.close()
                    channel.close()
                    die_with(me)
                    from yokuryu.server.read_processes import reader_main
                    reader_main(store, fds, request[1])
                finally:
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            conn.send(("forked", pid))
        elif request[0] == "apply":
            try:
                _, removed, added = request
                for quad in ox.parse(removed, format=NQUADS):
                    store.oxigraph.remove(quad)
                store.oxigraph.extend(ox.parse(added, format=NQUADS))
                conn.send(("applied",))
            except (SyntaxError, ValueError, OSError) as error:
                conn.send(("failed", str(error)))
        elif request[0] == "switch" and copy is not None:
            # Answered before the checkpoint is opened (~20 ms at 1M), so the write is answered
            # sooner: the server's next request (a fork) waits for it, so a read after the write
            # still sees it. If it cannot be opened, the zygote ends, and the server starts a new
            # one on a fresh checkpoint rather than let workers read the state before the write.
            conn.send(("applied",))
            try:
                store = copy.switch_to(Path(request[1]))
            except OSError as error:
                log.error("the query zygote cannot open the checkpoint %s (%s); it ends, to be replaced",
                          request[1], error)
                return


def _reap(ended: dict[int, int]) -> None:
    """Collect the statuses of ended workers (keeping the last few for the server to ask about)."""
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ended[pid] = code
        while len(ended) > 64:
            del ended[next(iter(ended))]


def _wait_for(pid: int, ended: dict[int, int]) -> int | None:
    """The wait status of worker ``pid``, which closed its socket and is ending (at most 2 s)."""
    deadline = time.monotonic() + 2
    while pid not in ended:
        try:
            done, code = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return code
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.005)
    return ended.pop(pid)


class _Timeline:
    """Where the time of one query went, from the server's call to its answer (``YOKURYU_QUERY_TIMELINE``).

    A diagnostic for the time a query waits beside its evaluation: one JSON line per answered
    query, in milliseconds (the monotonic clock is the same in every process): ``waited`` for a
    free slot, ``to_worker`` (sent until the worker thread began), ``evaluated`` (wall, and
    ``cpu`` of the worker thread: evaluation and serialisation), ``after`` (until the worker sent
    the answer), ``back`` (until this process saw it), ``received`` (reading it), ``total``.
    ``bench/query_timeline.py`` summarises the file.
    """

    def __init__(self, request):
        self.text = getattr(request, "text", "")
        self.arrived = time.monotonic()
        self.admitted = self.sending = self.answered = self.received = 0.0
        self.worker = None

    def write(self) -> None:
        if not self.worker:
            return
        began, ended, cpu, sent = self.worker

        def ms(seconds: float) -> float:
            return round(seconds * 1000, 3)

        line = {"query": self.text[-200:], "waited": ms(self.admitted - self.arrived),
                "to_worker": ms(began - self.sending), "evaluated": ms(ended - began), "cpu": ms(cpu),
                "after": ms(sent - ended), "back": ms(self.answered - sent),
                "received": ms(self.received - self.answered), "total": ms(self.received - self.arrived)}
        with _TIMELINE_LOCK:
            _TIMELINE.write(json.dumps(line) + "\n")
            _TIMELINE.flush()


# YOKURYU_QUERY_TIMELINE=FILE: append each query's timeline to FILE (a diagnostic; see _Timeline).
_TIMELINE = open(os.environ["YOKURYU_QUERY_TIMELINE"], "a") if os.environ.get("YOKURYU_QUERY_TIMELINE") else None
_TIMELINE_LOCK = threading.Lock()

_OUT_OF_MEMORY = 75  # a worker's exit status when Python itself ran out of memory
_MiB = 1024 * 1024


def worker_main(store: KnowledgeStore, channels: list[socket.socket], memory_mib: int,
                copy_store: bool = False) -> None:
    """Evaluate queries on this process's copy of the store, a thread per socket, until the server closes them.

    pyoxigraph releases the GIL while it evaluates, so the threads share the cores; and they share
    the pages this process copies from the zygote, so a scan's copy is paid once per process.
    ``copy_store`` (an in-memory store): once a query has made this process copy pages, a thread
    copies the rest of the store's pages in one go (server.shared_pages), beside the queries,
    instead of a page fault at a time inside them.
    """
    conns = [Connection(os.dup(channel.fileno())) for channel in channels]
    for channel in channels:
        channel.close()
    # Each further thread gets a stack and, on its first allocation, a malloc arena (64 MiB of
    # address space, mostly never touched): room for them on top of the queries' own memory.
    baseline = _limit_memory(memory_mib + (len(conns) - 1 + copy_store) * _PER_THREAD_MIB)
    state = _WorkerState(baseline, memory_mib, copy_store)
    threads = [threading.Thread(target=_serve, args=(store, conn, state), daemon=True) for conn in conns[1:]]
    for thread in threads:
        thread.start()
    _serve(store, conns[0], state)
    for thread in threads:
        thread.join()


_PER_THREAD_MIB = 72


def _serve(store: KnowledgeStore, conn: Connection, state: _WorkerState) -> None:
    """One evaluating thread: a query in, its answer out, until the server closes the socket."""
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        started, cpu = (time.monotonic(), time.thread_time()) if _TIMELINE is not None else (0.0, 0.0)
        faults = minor_faults()
        try:
            reply = ("ok", evaluate(store, request))
        except MemoryError:
            os._exit(_OUT_OF_MEMORY)  # the server answers 503, naming the limit
        except Exception as error:  # noqa: BLE001 - every failure goes back to the server to answer
            reply = ("error", _portable(error))
        # When timed: when it ended and the CPU it took (this thread's); with when it began, and was sent back.
        ended = (time.monotonic(), time.thread_time() - cpu) if _TIMELINE is not None else None
        heavy = state.grew_too_much()
        state.copy_store_if_scanning(minor_faults() - faults)
        try:
            conn.send((*reply, heavy, ended and (started, *ended, time.monotonic())))
        except MemoryError:
            os._exit(_OUT_OF_MEMORY)
        except OSError:
            return


class _WorkerState:
    """What a query process tells the server after each query (whether it grew too large to keep),
    and whether it has started copying the store's pages in one go."""

    def __init__(self, baseline: int, memory_mib: int, copy_store: bool = False):
        self._baseline = baseline
        self._memory_mib = memory_mib
        self._copy_store = copy_store
        self._copied = 0  # page faults so far of the queries that made many (copying the store)
        self._enough: int | None = None  # pages: a share of the store's heap, measured when first needed
        self._lock = threading.Lock()

    def grew_too_much(self) -> bool:
        return _peak_rss() - self._baseline > self._memory_mib * _MiB // 4

    def copy_store_if_scanning(self, faults: int) -> None:
        """After a query that made ``faults`` page faults in this process: once queries that copy
        have copied an eighth of the store's heap, copy the rest in one go, in a thread of its own
        (once per process). Not at the first copying query: after each write a fresh process
        would then copy all the store for the few pages a join needs."""
        if faults < COPYING_QUERY_FAULTS or not self._copy_store:
            return
        with self._lock:
            if not self._copy_store:
                return
            self._copied += faults
            if self._enough is None:
                self._enough = malloc_heap_pages() // COPIED_SHARE
            if self._copied < self._enough:
                return
            self._copy_store = False
        threading.Thread(target=copy_malloc_heaps, name="yokuryu-copy-store", daemon=True).start()


# Page faults during one query (the whole process's: its other threads' count too) that show it
# copying the store: a join at 1M quads makes ~2,500-3,800 in a fresh process, a lookup a few
# dozen (allocating much new memory makes them too). Once such queries have copied 1/COPIED_SHARE
# of the store's heap (at 1M ~3 joins), the rest is copied in one go: at most 8x what the
# queries copied themselves, about as much for a process that goes on scanning.
COPYING_QUERY_FAULTS = 256
COPIED_SHARE = 8


def _limit_memory(memory_mib: int) -> int:
    """Let this process's address space grow by at most ``memory_mib``; its resident size now."""
    import resource
    with contextlib.suppress(OSError, ValueError):
        size = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
        limit = size + memory_mib * _MiB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return _peak_rss()


def _peak_rss() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _portable(error: Exception) -> Exception:
    """``error`` itself when it survives pickling (the server maps its type to a status), else an OSError."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any unpicklable error becomes a plain message
        return OSError(f"{type(error).__name__}: {error}")


def _nquads(quads: set[ox.Quad]) -> bytes:
    out = io.BytesIO()
    ox.serialize(quads, out, format=NQUADS)
    return out.getvalue()


_LOAD_CHUNK = 8 * _MiB


def _spawned_zygote(fd: int, server: int, memory_mib: int, checkpoint: str | None = None) -> None:
    """A zygote as a new program: open ``checkpoint`` (an on-disk store), or load the store from
    the dump on stdin (a restarted in-memory zygote); then serve the server."""
    die_with(server)
    channel = socket.socket(fileno=fd)
    if checkpoint is not None:
        copy = ReadOnlyCopy(Path(checkpoint))
        Connection(os.dup(channel.fileno())).send(("ready",))
        zygote_main(copy.store, channel, memory_mib, copy)
        return
    store = KnowledgeStore(ox.Store())
    # The store's own loader, not a Python object per quad (at 1M quads 10 s of CPU became 3),
    # fed a chunk at a time so that it parses while the server is still writing the dump.
    pending = b""
    while chunk := sys.stdin.buffer.read(_LOAD_CHUNK):
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        load_nquads(store.oxigraph, pending[:cut], lenient=True)  # written by pyoxigraph itself
        pending = pending[cut:]
    load_nquads(store.oxigraph, pending, lenient=True)
    Connection(os.dup(channel.fileno())).send(("ready",))
    zygote_main(store, channel, memory_mib)


if __name__ == "__main__":
    _spawned_zygote(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:5])
