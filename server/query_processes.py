"""Queries that really stop at the time limit: evaluation in processes forked from a zygote.

pyoxigraph 0.5 cannot cancel a running query, so a query that must stop at ``--timeout`` has to
run in a process that can be killed; and a query that crashes the engine or fills memory must
take down only that process. ``yokuryu serve`` starts, before waitress starts any thread:

- the **zygote**: a process holding a copy of the store. For the in-memory store it is forked
  from the server (a copy-on-write copy); for an on-disk store (``--store``), whose RocksDB
  handle must not cross a ``fork``, it is a new program that opens a checkpoint of the store
  read-only (:mod:`yokuryu.server.checkpoints`: hard links, no copy in memory).
  It does two things, one at a time: fork a query worker on request, and apply a committed
  write to its copy (removed and added quads, as N-Quads; for an on-disk store, a fresh
  checkpoint to switch to). It locks itself out of the network
  first (:mod:`yokuryu.graph.offline`), so no query can make the server fetch anything;
- up to ``--workers`` **query workers**, forked by the zygote: each one receives a
  :class:`QueryRequest` over its socket and answers with the serialised results (or the error)
  evaluated on its own copy of the store. A fork shares the zygote's memory, so a new worker
  is ready in milliseconds, without reloading the graph.

At the time limit the client gets its 503, the worker is killed (SIGKILL: the CPU is really
freed) and a fresh one is forked. Every committed write is sent to the zygote before the write
is answered, and the workers forked before it are retired (idle ones at once, busy ones when
their query ends): a query sees the state before a write or after it, never a mixture, and a
client that reads after its write was answered sees that write. If the zygote dies, a new one
is started from a dump of the server's store (the only case that reloads the graph; on disk,
from a fresh checkpoint) and the event is logged. The zygote and workers die with the server (``PR_SET_PDEATHSIG`` on Linux, and
an end-of-file on their socket everywhere).

Each worker may grow by at most ``--query-memory`` MiB (``RLIMIT_AS`` above what it holds when
forked): a query that needs more ends its worker, the client gets a 503 naming the limit, and
a worker that grew by more than a quarter of the limit is replaced after answering, so its
memory goes back to the system. A worker killed by a segfault (the engine's stack overflowed
on a deeply nested query that the text check let through) is answered 400.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import pyoxigraph as ox

from yokuryu.graph.offline import lock_out_network
from yokuryu.graph.store import KnowledgeStore, load_nquads
from yokuryu.server.checkpoints import Checkpoints, ReadOnlyCopy
from yokuryu.server.errors import ProtocolError
from yokuryu.server.executor import QueryRequest, UpdateCheck, evaluate, out_of_memory, over_the_limit

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
NQUADS = ox.RdfFormat.N_QUADS


class QueryProcesses:
    """The server side: a pool of query workers and the zygote they are forked from."""

    holds_a_copy = True  # every committed write must be passed on (see writes.apply_update)

    def __init__(self, store: KnowledgeStore, workers: int, timeout: float, memory_mib: int = 1024):
        self.store = store
        self.timeout = timeout
        self.workers = max(1, workers)
        self.memory_mib = memory_mib
        self._zygote_lock = threading.Lock()  # one conversation with the zygote at a time
        self._pool = threading.Condition()  # guards the fields below
        self._idle: list[_Worker] = []
        self._alive = 0  # workers forked and not yet retired, idle or busy
        self._generation = 0  # bumped by every committed write: older workers hold an older state
        # An on-disk store's query processes read checkpoints of it (None: the in-memory store).
        self._checkpoints = Checkpoints(store) if store.is_persistent else None
        if store.is_persistent:
            with store.write_lock:
                self._zygote = _Zygote.spawn(store, memory_mib, self._checkpoints)
        else:
            self._zygote = _Zygote.fork(store, memory_mib)
        for _ in range(self.workers):
            self._idle.append(self._fork_worker())
            self._alive += 1
        self._stopping = threading.Event()
        threading.Thread(target=self._reclaim_copies, name="yokuryu-reclaim", daemon=True).start()

    # --- queries ---------------------------------------------------------------------------

    def run(self, request: QueryRequest) -> tuple[bytes, str]:
        """The evaluated ``request`` (body, media type), or a 503 once the time limit has passed."""
        return self._ask(request)

    def check_update(self, check: UpdateCheck) -> int:
        """Parse an update in a worker (on an empty store): a crash or a fetch happens there, not here.

        Returns the number of quads the update inserts into nothing (its data)."""
        return self._ask(check)

    def _ask(self, request):
        deadline = time.monotonic() + self.timeout
        for attempt in (1, 2):
            worker = self._take(deadline)
            try:
                worker.conn.send(request)
                if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                    self._kill(worker, f"its query ran past the {self.timeout:g} s limit")
                    raise over_the_limit(self.timeout, "stopped (its query process was killed)")
                status, value, heavy, copied = worker.conn.recv()
            except (EOFError, OSError):
                how = self._how_it_ended(worker)
                self._kill(worker, f"it ended while evaluating ({how})")
                if how == "a segfault":
                    raise ProtocolError(
                        "400 Bad Request: the request is too deeply nested for the SPARQL engine (its query "
                        "process crashed on it; the server is fine). Flatten it, or lower its nesting.") from None
                if how in ("an abort", "out of memory"):
                    raise out_of_memory(self.memory_mib) from None
                # Otherwise the worker died under us (its zygote died, or it was killed from
                # outside): a fresh worker gets the query once more.
                if attempt == 2 or time.monotonic() >= deadline:
                    raise ProtocolError("503 Service Unavailable: the query process ended unexpectedly "
                                        "while evaluating the query; try again", 503,
                                        headers={"Retry-After": "5"}) from None
                continue
            if heavy:
                self._replace(worker, "it grew large on its last query")
            else:
                worker.copied = worker.copied or copied
                self._give_back(worker)
            if status == "error":
                raise value
            return value
        raise AssertionError("unreachable")

    def _how_it_ended(self, worker: _Worker) -> str:
        """How a worker that closed its socket ended, as its zygote saw it."""
        with self._zygote_lock:
            try:
                code = self._zygote.exit_status(worker.pid)
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

    def _replace(self, worker: _Worker, why: str) -> None:
        """Retire a worker that answered, so its memory goes back to the system; a new one is forked on demand."""
        log.info("query process %d retired: %s", worker.pid, why)
        with self._pool:
            self._retire(worker)
            self._pool.notify()

    def _take(self, deadline: float) -> _Worker:
        """An idle worker holding the current state, a newly forked one, or a 503 at the deadline."""
        with self._pool:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.generation == self._generation:
                        return worker
                    self._retire(worker)
                if self._alive < self.workers:
                    self._alive += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise over_the_limit(self.timeout, "never started: every query process stayed busy")
                self._pool.wait(remaining)
        try:
            return self._fork_worker()
        except BaseException:
            with self._pool:
                self._alive -= 1
                self._pool.notify()
            raise

    def _give_back(self, worker: _Worker) -> None:
        worker.idle_since = time.monotonic()
        with self._pool:
            if worker.generation == self._generation:
                self._idle.append(worker)
            else:
                self._retire(worker)
            self._pool.notify()

    def _retire(self, worker: _Worker) -> None:
        """End an idle worker (it exits when its socket closes); the pool lock is held."""
        worker.conn.close()
        self._alive -= 1

    def _kill(self, worker: _Worker, why: str) -> None:
        """Stop a busy worker at once, and fork its replacement."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
        worker.conn.close()
        log.warning("query process %d killed and replaced: %s", worker.pid, why)
        try:
            replacement = self._fork_worker()
        except (EOFError, OSError) as error:
            log.error("could not fork a replacement query process: %s", error)
            replacement = None
        with self._pool:
            if replacement is not None:
                self._idle.append(replacement)
            else:
                self._alive -= 1
            self._pool.notify()

    def _fork_worker(self) -> _Worker:
        """A worker forked by the zygote, tagged with the state it holds; restarts a dead zygote."""
        for attempt in (1, 2):
            with self._zygote_lock:
                try:
                    pid, conn = self._zygote.fork_worker()
                    with self._pool:
                        return _Worker(pid, conn, self._generation)
                except (EOFError, OSError):
                    dead = self._zygote
            if attempt == 1:
                self._restart_zygote(dead)
        raise OSError("the query zygote cannot fork query processes")

    # --- writes ----------------------------------------------------------------------------

    def committed(self, removed: set[ox.Quad], added: set[ox.Quad]) -> None:
        """Pass a committed write to the zygote and retire the workers that predate it.

        Called with the store's write lock held, before the write is answered.
        """
        if not removed and not added:
            return  # the workers' state is still the store's
        if self._checkpoints is not None:
            checkpoint = self._checkpoints.take()  # an error here is the write hook's to log, not a dead zygote
        else:
            change = (_nquads(removed), _nquads(added))
        with self._zygote_lock:
            try:
                if self._checkpoints is not None:
                    self._zygote.switch_to(checkpoint)
                else:
                    self._zygote.apply(*change)
                dead = None
            except (EOFError, OSError):
                dead = self._zygote
        if dead is not None:
            self._restart_zygote(dead, write_lock_held=True)  # its dump includes this write
        with self._pool:
            self._generation += 1
            while self._idle:
                self._retire(self._idle.pop())
            self._pool.notify_all()

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
            with self._pool:
                self._generation += 1  # the old workers died with their zygote
                while self._idle:
                    self._retire(self._idle.pop())
            log.warning("the new query zygote (process %d) is ready", self._zygote.pid)

    def _reclaim_copies(self) -> None:
        """Retire workers that copied much of the store (a scan does) once they sit idle.

        Kept while queries keep coming (a second scan in the same worker copies nothing more,
        where a fresh fork would copy it all again: at 1M quads ~0.1 s of CPU per scan), their
        copies go back to the system after ``RECLAIM_AFTER`` seconds without a query.
        """
        while not self._stopping.wait(1.0):
            now = time.monotonic()
            with self._pool:
                for worker in [w for w in self._idle if w.copied and now - w.idle_since > RECLAIM_AFTER]:
                    self._idle.remove(worker)
                    self._retire(worker)
                    log.info("query process %d retired: idle, holding a copy of the store", worker.pid)
                    self._pool.notify()

    def shutdown(self) -> None:
        """Stop the workers and the zygote (the server is stopping)."""
        self._stopping.set()
        with self._pool:
            while self._idle:
                self._retire(self._idle.pop())
        with self._zygote_lock:
            self._zygote.close()
        if self._checkpoints is not None:
            self._checkpoints.close()


@dataclass
class _Worker:
    pid: int
    conn: Connection
    generation: int
    copied: bool = False  # it holds its own copy of much of the store (see _CopiedPages)
    idle_since: float = 0.0


RECLAIM_AFTER = 5.0  # seconds a worker holding a copy of the store may sit idle


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
                _die_with(server)
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

    def fork_worker(self) -> tuple[int, Connection]:
        self.conn.send(("fork",))
        reply = self.conn.recv()
        _, fds, _, _ = socket.recv_fds(self.channel, 1, 1)
        if reply[0] != "forked" or len(fds) != 1:
            raise OSError(f"unexpected answer from the query zygote: {reply!r}")
        return reply[1], Connection(fds[0])

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
        """Have the zygote fork its workers with ``checkpoint`` from now on."""
        self.conn.send(("switch", str(checkpoint)))
        reply = self.conn.recv()
        if reply[0] != "applied":
            raise OSError(f"the query zygote could not open a checkpoint of the store: {reply[1]}")

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
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            # Out of the garbage collector's sight: its passes write to every object they visit,
            # which would make each worker copy the whole Python heap it shares with the zygote.
            gc.freeze()
            pid = os.fork()
            if pid == 0:  # a worker
                try:
                    conn.close()
                    channel.close()
                    ours.close()
                    _die_with(me)
                    worker_main(store, theirs, memory_mib)
                finally:
                    os._exit(0)
            theirs.close()
            if copy is not None:
                copy.forked(pid)
            conn.send(("forked", pid))
            socket.send_fds(channel, [b"w"], [ours.fileno()])
            ours.close()
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
            try:
                store = copy.switch_to(Path(request[1]))
                conn.send(("applied",))
            except OSError as error:
                conn.send(("failed", str(error)))


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


_OUT_OF_MEMORY = 75  # a worker's exit status when Python itself ran out of memory
_MiB = 1024 * 1024


def worker_main(store: KnowledgeStore, channel: socket.socket, memory_mib: int) -> None:
    """Evaluate queries on this process's copy of the store until the server closes the socket."""
    conn = Connection(os.dup(channel.fileno()))
    channel.close()
    baseline = _limit_memory(memory_mib)
    copied = _CopiedPages()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", evaluate(store, request))
        except MemoryError:
            os._exit(_OUT_OF_MEMORY)  # the server answers 503, naming the limit
        except Exception as error:  # noqa: BLE001 - every failure goes back to the server to answer
            reply = ("error", _portable(error))
        heavy = _peak_rss() - baseline > memory_mib * _MiB // 4
        copies = copied.too_many()
        try:
            conn.send((*reply, heavy, copies))
        except MemoryError:
            os._exit(_OUT_OF_MEMORY)
        except OSError:
            return


class _CopiedPages:
    """Whether this worker now holds too much memory of its own, most of it copies of the store.

    A worker shares the zygote's memory until it writes to a page, and pyoxigraph's in-memory
    store writes to the nodes a scan walks (reference counts): one query over all quads makes
    the worker copy most of the store, although its resident size hardly moves. Such a worker
    is retired once it sits idle (:meth:`QueryProcesses._reclaim_copies`), so the copy goes back
    to the system instead of staying in every worker that ever ran a scan. Measured cheaply first (minor page faults, one system call per
    query), then, when enough pages were touched, exactly (the private pages, from the kernel).
    """

    KEEP = 32 * _MiB  # private memory a worker may keep between queries (its Python heap's share)

    def __init__(self):
        self._checked_at = self._faults()

    def too_many(self) -> bool:
        faults = self._faults()
        if (faults - self._checked_at) * _PAGE < self.KEEP // 2:
            return False
        self._checked_at = faults
        private = _private_bytes()
        return private is None or private > self.KEEP  # no /proc: the faults alone decide

    @staticmethod
    def _faults() -> int:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _private_bytes() -> int | None:
    """Memory only this process holds (copied or its own), from the kernel; None without /proc."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        if line.startswith(("Private_Dirty:", "Private_Clean:")):
            total += int(line.split()[1]) * 1024
    return total


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


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


def _die_with(parent: int) -> None:
    """Be killed when ``parent`` dies (Linux), and exit now if it is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def _nquads(quads: set[ox.Quad]) -> bytes:
    out = io.BytesIO()
    ox.serialize(quads, out, format=NQUADS)
    return out.getvalue()


_LOAD_CHUNK = 8 * _MiB


def _spawned_zygote(fd: int, server: int, memory_mib: int, checkpoint: str | None = None) -> None:
    """A zygote as a new program: open ``checkpoint`` (an on-disk store), or load the store from
    the dump on stdin (a restarted in-memory zygote); then serve the server."""
    _die_with(server)
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
