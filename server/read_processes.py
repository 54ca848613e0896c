"""More than one process answering HTTP requests (``--read-processes N``), in memory or on disk.

A point lookup costs pyoxigraph ~0.07 ms; the rest of a request (HTTP, the WSGI bridge, the
protocol's checks) is Python under one GIL, so one process answers at most a few thousand a
second however many cores the machine has. ``yokuryu serve --read-processes N`` (in memory)
answers with N processes: this one (the **primary**) and N-1 **readers**.

- Each process listens on its own socket bound to the same address with ``SO_REUSEPORT``: the
  kernel spreads new connections over them (one shared socket let one process take all of a
  client's connections). The readers' sockets are made here, as the readers cannot open one:
  they are forked from the query zygote, which is locked out of the network
  (:mod:`yokuryu.graph.offline`); a reader inherits that lock, as a query process does.
- A reader is forked from the zygote (:mod:`yokuryu.server.query_processes`), so it shares the
  zygote's clean copy-on-write copy of the store, and runs the same HTTP server class and the same
  SPARQL fast path (:mod:`yokuryu.server.sparql_fast`) as the primary. It evaluates the queries
  :mod:`yokuryu.graph.bounded_query` proves cheap itself; every other query is passed to the
  primary (its executor: the killable query processes), and every other request (updates, the
  graph store protocol, pages, /health, whatever the fast path leaves to Flask) is passed whole
  to the primary's own WSGI app, so answers are the primary's. Both go over an abstract Unix
  socket (its name is listed in /proc/net/unix for every local user, so anyone may connect):
  a connection from another user is closed at once, and one that does not start with the secret
  the readers were forked with is closed before anything it sends is unpickled.
- Writes have one writer, the primary (journal, write lock, validation). Each committed write is
  sent, as removed and added N-Quads, to every reader (as to the zygote), under the write lock and
  before the write is answered; a reader applies it under a lock its own queries take to read.
  So a read answered anywhere after a write was acknowledged sees that write, and every read sees
  the state before or after each write, never a part. A reader that does not confirm a write is
  killed (and replaced) before the write is answered. A reader is forked under the write lock.
- pyoxigraph writes reference counts on the nodes a query walks, so a reader copies the store's
  pages it reads. A reader whose private memory grows by more than ``YOKURYU_READ_PROCESS_MEMORY``
  MiB (default 64; at 1M quads, looking up every internee once copies ~120 MB) over what it held once started is replaced by a fresh fork (the new one first, then the old one stops
  gracefully), so the copies go back to the system.
- Readers die with the server (``PR_SET_PDEATHSIG``, through the zygote); one that ends is
  replaced (with a growing pause if they keep ending). They run in their own process group: a
  Ctrl-C at the terminal reaches the primary, which stops them.

On disk (``--store``) the primary's RocksDB handle writes and must not cross a fork, and the
zygote's read-only checkpoint (:mod:`yokuryu.server.checkpoints`) may predate the latest writes:
so a reader reads a checkpoint of its own, ``Store.read_only`` on one the primary made (every
reader reads the same one). A committed write cannot be applied to a read-only handle, and a
checkpoint per write would cost each write a flush and fsyncs: instead each reader is told, under
the write lock and before the write is answered, that its checkpoint is behind, and from then on
passes every query on to the primary (whose in-process reads see the live store). Once writes
pause (``CATCH_UP_QUIET``; at most ``CATCH_UP_AT_MOST`` seconds into a stream of them) the
primary makes one checkpoint holding them, every reader opens it and switches to it under its
write lock, and the one they read before is removed. The bound of bounded queries is measured
after the start on disk; readers pass every query on until the primary sends it.
"""
from __future__ import annotations

import contextlib
import hmac
import io
import logging
import os
import pickle
import queue
import secrets
import select
import signal
import socket
import struct
import sys
import threading
import time
from multiprocessing.connection import Connection

from yokuryu.graph.store import KnowledgeStore
from yokuryu.server.errors import ProtocolError
from yokuryu.server.executor import InProcessReads, QueryRequest, UpdateCheck, evaluate_query
from yokuryu.server.own_memory import OwnMemoryGuard

log = logging.getLogger(__name__)

# Seconds a reader may take to confirm a write before it is killed (the write waits for it).
APPLY_TIMEOUT = 10.0
# The relay: the secret a reader's connection starts with, and how long a peer has to send it.
SECRET_BYTES = 32
ADMIT_TIMEOUT = 5.0
STOP_GRACE = 3.0  # seconds a stopping reader has to finish its requests (its HTTP server's own is 2)
_CHECK_MEMORY_EVERY = 2.0
# On disk: seconds without a write before the readers get a checkpoint holding the writes (they
# pass every query on until then), and the longest a steady stream of writes delays it.
CATCH_UP_QUIET = 0.1
CATCH_UP_AT_MOST = 2.0


def supported(store: KnowledgeStore) -> bool:
    """Whether readers can serve ``store`` (in memory or on disk): on Linux (fork, SO_REUSEPORT, pidfds)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT") and hasattr(os, "pidfd_open")


def listening_socket(host: str, port: int) -> socket.socket:
    """The primary's listening socket: bound with ``SO_REUSEPORT`` so the readers can bind beside it."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock


def import_what_readers_run(http_server: str) -> None:
    """Import the modules a reader runs, before the zygote is forked: their code is then shared by
    every reader, not imported again into each one's private memory (~10 MB a reader)."""
    import importlib
    for name in ("yokuryu.server.sparql_fast", "yokuryu.server.run", "yokuryu.graph.bounded_query",
                 *(("granian.server", "granian.net", "granian.http", "granian.log", "granian.constants")
                   if http_server == "granian" else ("waitress.server",))):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


class ReadProcesses:
    """The primary's side: the query executor it wraps, its readers, the relay they use, and writes passed on.

    Created before the app (it is part of the executor chain: ``InProcessReads(store, ReadProcesses(
    QueryProcesses…))``), started once the primary's socket is listening (:meth:`start`).
    """

    holds_a_copy = True  # every committed write must be passed on (see writes.apply_update)

    def __init__(self, queries, store: KnowledgeStore, readers: int):
        self.queries = queries  # the QueryProcesses: heavy queries, and the zygote readers are forked from
        self.store = store
        self.wanted = readers
        self._readers: list[_Reader] = []
        self._lock = threading.Lock()  # guards _readers
        self._stopping = threading.Event()
        self._relay: _RelayServer | None = None
        self._settings: dict = {}
        # On disk: the checkpoints of the store (the query processes'), and the one every reader
        # reads, holding every committed write (None until a reader needs one).
        self._checkpoints = getattr(queries, "checkpoints", None)
        self._current = None
        self._current_holds = 0  # the writes (counted by _written) the current checkpoint holds at least
        self._written = 0  # committed writes (write lock)
        self._catch_up = threading.Event()  # set by a write: the readers need a newer checkpoint
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()  # readers to start on the keeper thread
        self.front: InProcessReads | None = None  # the bounded reads in front of this (their bound)
        self._size = None
        self._bind_to = None
        self._failures = 0  # readers that ended soon after starting, in a row: the pause grows

    # --- the executor chain: queries go to the query processes --------------------------------

    def run(self, request: QueryRequest) -> tuple[bytes, str]:
        return self.queries.run(request)

    def check_update(self, check: UpdateCheck) -> int:
        return self.queries.check_update(check)

    def __getattr__(self, name):
        return getattr(self.queries, name)

    # --- starting --------------------------------------------------------------------------------

    def start(self, app, config, bind_to: tuple, size) -> None:
        """Fork the readers, each listening beside the primary (``bind_to``: its socket's family, type,
        protocol and address), serving as ``app`` does."""
        # A reader passes on a query it does not answer; on disk also a bounded one while its
        # checkpoint is behind, which the primary's own in-process reads answer (self.front).
        self._relay = _RelayServer(app, self.front if self.front is not None else self.queries)
        self._bind_to = bind_to
        self._size = size
        self._settings = {"config": config, "relay": self._relay.address, "server": os.getpid(),
                          "secret": self._relay.secret}
        threading.Thread(target=self._keep, name="yokuryu-reader-keeper", daemon=True).start()
        for _ in range(self.wanted):
            self._start_one()
        if self._checkpoints is not None:
            threading.Thread(target=self._catch_up_readers, name="yokuryu-reader-checkpoints", daemon=True).start()

    def _bound(self):
        """The bounded-query bound as it is now (raised by writes since the start), for a new reader."""
        return self.front.size if self.front is not None else self._size

    def measured(self, size) -> None:
        """The bound of an on-disk store was measured (after the start, write lock held): tell the readers,
        which pass every query on until then."""
        self._size = size
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            try:
                reader.control.send(("size", size))
            except OSError:
                reader.kill("it could not be sent the store's size")

    def _pids(self) -> set[int]:
        with self._lock:
            return {reader.pid for reader in self._readers}

    def _start_one(self) -> _Reader | None:
        """Fork one reader from the zygote, under the write lock (it holds every committed write)."""
        family, kind, proto, address = self._bind_to
        listener = socket.socket(family, kind, proto)
        control, control_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        events, events_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(address)
            listener.listen(1024)
            with self.store.write_lock:
                if self._stopping.is_set():
                    return None
                settings = dict(self._settings, size=self._bound())
                if self._checkpoints is not None:
                    # RocksDB handles must not cross a fork, and the zygote's checkpoint may predate
                    # the latest writes: the reader opens the readers' checkpoint, and passes every
                    # query on while that is behind the writes (until the next switch).
                    if self._current is None:
                        self._current, self._current_holds = self._checkpoints.take(), self._written
                        self._checkpoints.held.add(self._current)
                    settings.update(checkpoint=str(self._current), holds=self._current_holds,
                                    behind=self._written)
                pid = self.queries.fork_reader(
                    [listener.fileno(), control_theirs.fileno(), events_theirs.fileno()], pickle.dumps(settings))
                reader = _Reader(pid, Connection(control.detach()), events)
                with self._lock:
                    self._readers.append(reader)
        except (OSError, EOFError) as error:
            log.error("could not start a read process: %s", error)
            events.close()
            control.close()
            return None
        finally:
            listener.close()  # the reader has its own copy of each
            control_theirs.close()
            events_theirs.close()
        threading.Thread(target=self._watch, args=(reader,), name=f"yokuryu-reader-{pid}", daemon=True).start()
        log.info("read process %d started", pid)
        return reader

    # --- the readers' lives ---------------------------------------------------------------------

    def _watch(self, reader: _Reader) -> None:
        """Wait for what ``reader`` says (it grew too large), and for its end: replace it if needed."""
        while True:
            try:
                message = reader.events.recv(64)
            except OSError:
                message = b""
            if not message:
                break
            if message.startswith(b"grown") and not reader.retiring:
                log.info("read process %d is replaced: it holds %s MiB of its own (copies of the store's pages)",
                         reader.pid, message.split()[-1].decode())
                reader.retiring = True
                if self._replace() is not None or self._stopping.is_set():
                    reader.stop()
                else:
                    reader.retiring = False  # no replacement: it keeps serving
        reader.events.close()
        # Under the write lock: a write being passed on may be using its control socket, and a closed
        # socket's number is soon another's (a client's connection).
        with self.store.write_lock:
            with self._lock:
                if reader in self._readers:
                    self._readers.remove(reader)
            reader.control.close()
        reader.forget()
        if self._stopping.is_set() or reader.retiring:
            return
        lived = time.monotonic() - reader.started
        self._failures = self._failures + 1 if lived < 10 else 0
        pause = min(30.0, 0.5 * 2 ** self._failures) if self._failures else 0.0
        log.warning("read process %d ended after %.1f s; a new one starts%s", reader.pid, lived,
                    f" in {pause:g} s" if pause else "")
        if not self._stopping.wait(pause):
            self._replace()

    def _replace(self) -> _Reader | None:
        """:meth:`_start_one` on the keeper thread, which lives as long as the server: a zygote that
        has died is started again on the way, and PR_SET_PDEATHSIG ends a child when the *thread*
        that started it ends (a watching thread ends once its reader is replaced)."""
        done, result = threading.Event(), []
        self._jobs.put((done, result))
        done.wait()
        return result[0] if result else None

    def _keep(self) -> None:
        while (job := self._jobs.get()) is not None:
            done, result = job
            try:
                result.append(self._start_one())
            except Exception:  # noqa: BLE001 - logged; the watcher carries on without a replacement
                log.exception("could not start a read process")
            finally:
                done.set()

    # --- writes -----------------------------------------------------------------------------------

    def committed(self, removed, added) -> None:
        """Pass a committed write to the query processes and to every reader (write lock held),
        before the write is answered; a reader that does not confirm it is killed first."""
        self.queries.committed(removed, added)
        if not removed and not added:
            return
        from yokuryu.server.query_processes import _nquads
        if self._checkpoints is None:
            self._tell(("apply", _nquads(removed), _nquads(added)), "apply a write")
            return
        # On disk a reader cannot apply the write to its read-only handle, and a checkpoint holding
        # it costs the write ~40-120 ms (a flush and fsyncs): the readers only learn that their
        # checkpoint is behind (they pass every query on to this process, which reads the live
        # store), and a newer one is made after the write is answered (one for a burst of writes).
        self._written += 1
        self._tell(("behind", self._written), "take note of a write")
        self._catch_up.set()

    def _tell(self, message, what: str) -> None:
        """Send ``message`` to every reader and wait for each to confirm it; kill those that do not
        (write lock held: one conversation with the readers at a time)."""
        with self._lock:
            readers = list(self._readers)
        sent = []
        for reader in readers:
            try:
                reader.control.send(message)
                sent.append(reader)
            except OSError:
                reader.kill(f"it could not be sent a message ({what})")
        deadline = time.monotonic() + APPLY_TIMEOUT
        for reader in sent:
            try:
                if not reader.control.poll(max(0.0, deadline - time.monotonic())):
                    reader.kill(f"it did not {what} within {APPLY_TIMEOUT:g} s")
                elif reader.control.recv() != ("applied",):
                    reader.kill(f"it could not {what}")
            except (EOFError, OSError):
                reader.kill(f"it ended while asked to {what}")

    def _catch_up_readers(self) -> None:
        """On disk, after writes: a checkpoint holding them, which every reader switches to (then
        they answer bounded queries themselves again) and the one they read before removed."""
        while not self._stopping.is_set():
            self._catch_up.wait()
            self._catch_up.clear()
            # A burst of writes gets one checkpoint, made once they pause (or every CATCH_UP_AT_MOST
            # seconds): one made during writes doubled their time (its flush and the readers' open).
            first = time.monotonic()
            while self._catch_up.wait(CATCH_UP_QUIET) and time.monotonic() - first < CATCH_UP_AT_MOST:
                self._catch_up.clear()
            self._catch_up.clear()
            if self._stopping.is_set():
                return
            holds = self._written  # read before the checkpoint: it holds these writes at least
            try:
                checkpoint = self._checkpoints.take()
            except OSError as error:
                log.error("no checkpoint of the store could be made for the read processes (%s); they pass "
                          "every query on to the main process until one can", error)
                self._stopping.wait(5.0)
                self._catch_up.set()
                continue
            with self.store.write_lock:
                superseded = self._current
                self._checkpoints.held.add(checkpoint)
                self._current, self._current_holds = checkpoint, holds
                self._tell(("switch", str(checkpoint), holds, self._bound()), "open a checkpoint")
                if superseded is not None:  # every reader switched away from it, or was killed
                    self._checkpoints.release(superseded)

    # --- stopping ---------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the readers (gracefully, then at once), then the query processes."""
        self._stopping.set()
        self._catch_up.set()
        self._jobs.put(None)
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            reader.stop()
        deadline = time.monotonic() + STOP_GRACE
        for reader in readers:
            reader.wait(max(0.0, deadline - time.monotonic()))
        if self._relay is not None:
            self._relay.close()
        self.queries.shutdown()

    def describe(self) -> str:
        count = len(self._pids()) + 1
        return f"{count} processes answering requests" if count > 1 else "one process answering requests"


class _Reader:
    """A read process as the primary sees it."""

    def __init__(self, pid: int, control: Connection, events: socket.socket):
        self.pid = pid
        self.control = control  # the primary asks (apply a write), the reader answers
        self.events = events  # the reader tells (grown too large); closed when it ends
        self.started = time.monotonic()
        self.retiring = False
        self._ended = threading.Lock()  # guards _pidfd: closed once the reader has ended
        try:
            self._pidfd = os.pidfd_open(pid)
        except OSError:
            self._pidfd = None  # already gone

    def stop(self) -> None:
        """End gracefully: its HTTP server finishes the requests in flight (SIGTERM)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def kill(self, why: str) -> None:
        """End it at once, and wait until it has: it must answer nothing more."""
        log.warning("read process %d killed: %s", self.pid, why)
        self.retiring = False  # a replacement is wanted
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.wait(5.0)

    def wait(self, seconds: float) -> bool:
        """Wait for the process to end (at most ``seconds``, then SIGKILL); True if it has."""
        with self._ended:
            if self._pidfd is None:
                return True
            ready, _, _ = select.select([self._pidfd], [], [], seconds)
            if not ready:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                ready, _, _ = select.select([self._pidfd], [], [], 2.0)
            return bool(ready)

    def forget(self) -> None:
        """It has ended: let go of its process handle."""
        with self._ended:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None


class _RelayServer:
    """The primary's end of the readers' requests: queries to its executor, other requests to its app.

    Listens on an abstract Unix socket (no file to clean up), which any local process can find and
    connect to. A reader proves itself with a secret it was forked with, the first bytes it sends;
    the accepting loop never waits on a peer (a stranger that sends nothing must not hold up the
    readers), and nothing is unpickled before the secret matched (unpickling runs code). A peer
    of another user is closed at once. A thread per connection, each one request at a time.
    """

    def __init__(self, app, queries):
        self.app = app
        self.queries = queries  # a reader sends only the queries it cannot answer itself
        self.secret = secrets.token_bytes(SECRET_BYTES)
        self.address = f"\0yokuryu-relay-{os.getpid()}-{secrets.token_hex(8)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.address)
        self.sock.listen(64)
        threading.Thread(target=self._accept, name="yokuryu-relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed: the server is stopping
            pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                              struct.calcsize("3i")))
            if uid != os.geteuid():
                log.warning("refused a connection to the readers' relay from process %d of user %d", pid, uid)
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, pid), name="yokuryu-relayed", daemon=True).start()

    def _admitted(self, conn: socket.socket, pid: int) -> bool:
        """Whether the peer sent the readers' secret first (within ADMIT_TIMEOUT seconds)."""
        conn.settimeout(ADMIT_TIMEOUT)
        sent = b""
        try:
            while len(sent) < SECRET_BYTES:
                chunk = conn.recv(SECRET_BYTES - len(sent))
                if not chunk:
                    break
                sent += chunk
        except OSError:
            pass
        if len(sent) == SECRET_BYTES and hmac.compare_digest(sent, self.secret):
            conn.settimeout(None)
            return True
        log.warning("refused a connection to the readers' relay from process %d: it is not a reader's", pid)
        conn.close()
        return False

    def _serve(self, sock: socket.socket, pid: int) -> None:
        from yokuryu.server.query_processes import _portable
        if not self._admitted(sock, pid):
            return
        conn = Connection(sock.detach())
        executor = self.queries
        while True:
            try:
                kind, *rest = conn.recv()
            except (EOFError, OSError):
                conn.close()
                return
            try:
                if kind == "query":
                    reply = ("ok", executor.run(rest[0]))
                elif kind == "check":
                    reply = ("ok", executor.check_update(rest[0]))
                else:
                    reply = ("ok", self._http(*rest))
            except Exception as error:  # noqa: BLE001 - the reader answers it as the primary would
                reply = ("error", _portable(error))
            try:
                conn.send(reply)
            except OSError:
                conn.close()
                return

    def _http(self, plain: dict, body: bytes) -> tuple[str, list, bytes]:
        """The primary app's answer to a request a reader received (its environ's plain values, its body)."""
        environ = dict(plain)
        environ.update({"wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
                        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False})
        answer: dict = {}
        written: list[bytes] = []

        def start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, list(headers)
            return written.append

        result = self.app(environ, start_response)
        try:
            for chunk in result:
                written.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return answer["status"], answer["headers"], b"".join(written)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


# --- inside a reader ---------------------------------------------------------------------------------


def reader_main(store: KnowledgeStore, fds: list[int], settings: bytes) -> None:
    """Serve HTTP on the listening socket ``fds[0]`` until stopped, applying the writes sent on ``fds[1]``."""
    os.setpgid(0, 0)  # a terminal's Ctrl-C goes to the server, which stops its readers itself
    listener, control, events = fds
    settings = pickle.loads(settings)
    config = settings["config"]
    if "checkpoint" in settings:  # on disk: not the zygote's handle, which may predate the latest writes
        try:
            store = _open_checkpoint(settings["checkpoint"])
        except OSError as error:
            log.error("read process %d cannot open the checkpoint %s: %s", os.getpid(), settings["checkpoint"], error)
            os._exit(1)  # the primary replaces it
    lock = _ReadWriteLock()
    relay = _Relay(settings["relay"], settings["secret"])
    reads = _ReaderReads(store, relay, settings["size"], lock)
    reads.holds, reads.behind = settings.get("holds", 0), settings.get("behind", 0)
    events_socket = socket.socket(fileno=events)
    growth = config.read_process_memory * 1024 * 1024
    threading.Thread(target=_apply_writes, args=(reads, Connection(control), events_socket, lock, growth),
                     name="yokuryu-reader-writes", daemon=True).start()

    from yokuryu.server.run import HTTP_SERVERS
    from yokuryu.server.sparql_fast import SparqlFastPath
    # The fast path in front of the relay, without a Flask app of its own: what the fast path leaves
    # to Flask is the primary's app's to answer, and a reader's own heap stays small (every page of
    # it is private to the reader; a whole app here cost ~15 MB more per reader).
    app = SparqlFastPath(_FastPathSettings(config, reads), _RelayedRequests(relay, config.max_body_bytes))
    http = HTTP_SERVERS[config.http_server](app, None, 0, config, sock=socket.socket(fileno=listener))
    http.run()


class _FastPathSettings:
    """What the SPARQL fast path reads of its app: the settings and the executor."""

    def __init__(self, config, executor):
        self.config = {"YOKURYU": config}
        self.extensions = {"yokuryu.executor": executor}


class _ReaderReads(InProcessReads):
    """A reader's executor: bounded queries here (while no write is being applied), the rest to the primary."""

    def __init__(self, store, relay: _Relay, size, lock: _ReadWriteLock):
        super().__init__(store, relay, size)
        self.lock = lock
        # On disk: the writes (numbered by the primary) the checkpoint read here holds at least, and
        # the last write committed. While behind, every query goes to the primary, which reads the
        # live store (read-your-writes without a checkpoint per write).
        self.holds = self.behind = 0

    def run(self, request):
        if self.holds < self.behind:
            return self.executor.run(request)
        return super().run(request)

    def evaluate_here(self, request: QueryRequest) -> tuple[bytes, str]:
        with self.lock.reading:
            return evaluate_query(self.store, request)

    def committed(self, removed, added) -> None:
        super().committed(removed, added)  # raises the bounds (the relay has nothing to pass on)


def _open_checkpoint(path: str) -> KnowledgeStore:
    import pyoxigraph as ox
    return KnowledgeStore(ox.Store.read_only(path))


def _apply_writes(reads: _ReaderReads, control: Connection, events: socket.socket,
                  lock: _ReadWriteLock, growth: int) -> None:
    """Apply each write the primary sends, as one step for the reader's queries; and say when grown too large.

    In memory a write comes as its quads (applied to the reader's copy); on disk as a checkpoint
    holding it (switched to), with its quads for the bound."""
    import pyoxigraph as ox

    from yokuryu.server.query_processes import NQUADS
    # Growth since the first reading (once the app is built); told once, then the primary replaces it.
    memory, told = OwnMemoryGuard(growth, step=growth, growth=True), False
    checked = time.monotonic()
    while True:
        try:
            if not told and time.monotonic() - checked >= _CHECK_MEMORY_EVERY:  # idle or not: writes grow it too
                checked = time.monotonic()
                if memory.check():
                    told = True
                    events.sendall(f"grown {memory.private // (1024 * 1024)}".encode())
            if not control.poll(_CHECK_MEMORY_EVERY):
                continue
            request = control.recv()
        except (EOFError, OSError):
            os._exit(0)  # the primary is gone, or dropped this reader
        if request[0] == "size":  # an on-disk store's bound, measured after the start
            reads.size = request[1]
            continue
        try:
            if request[0] == "behind":  # on disk: a write was committed; queries go to the primary
                reads.behind = max(reads.behind, request[1])
                control.send(("applied",))
                continue
            if request[0] == "switch":  # on disk: a checkpoint holding the writes up to request[2]
                _, path, holds, size = request
                switched = _open_checkpoint(path)  # before queries wait
                with lock.writing():
                    reads.store = switched  # the old handle closes once dropped: no query reads it now
                    if size is not None:
                        reads.size = size  # the primary's, raised by every write it holds
                    reads.holds = max(reads.holds, holds)
                del switched
                control.send(("applied",))
                continue
            if request[0] != "apply":
                continue
            _, removed, added = request
            removed_quads = list(ox.parse(removed, format=NQUADS))
            added_quads = list(ox.parse(added, format=NQUADS))
            with lock.writing():
                for quad in removed_quads:
                    reads.store.oxigraph.remove(quad)
                reads.store.oxigraph.extend(added_quads)
            reads.committed(set(removed_quads), set(added_quads))
            control.send(("applied",))
        except (SyntaxError, ValueError, OSError) as error:
            log.error("read process %d could not apply a write: %s", os.getpid(), error)
            os._exit(1)  # the primary replaces it


class _ReadWriteLock:
    """Many queries at once, or one write and no query; a waiting write goes before new queries.

    Taken by every query a reader answers (``with lock.reading:``), so kept lean: a plain lock,
    no generator, and a wake-up only when a write waits."""

    def __init__(self):
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._reading = 0
        self._writes = 0  # writing or waiting to
        self.reading = _Reading(self)

    @contextlib.contextmanager
    def writing(self):
        with self._changed:
            self._writes += 1
            while self._reading:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._writes -= 1
                self._changed.notify_all()


class _Reading:
    """``with lock.reading:`` — one query's share of a :class:`_ReadWriteLock`."""

    __slots__ = ("rw",)

    def __init__(self, rw: _ReadWriteLock):
        self.rw = rw

    def __enter__(self) -> None:
        rw = self.rw
        with rw._lock:
            while rw._writes:
                rw._changed.wait()
            rw._reading += 1

    def __exit__(self, *exc) -> None:
        rw = self.rw
        with rw._lock:
            rw._reading -= 1
            if not rw._reading and rw._writes:
                rw._changed.notify_all()


class _Relay:
    """A reader's way to the primary: connections to its relay, kept for reuse (one per request in flight)."""

    def __init__(self, address: str, secret: bytes):
        self.address = address
        self.secret = secret
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def ask(self, message):
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(self.address)
                    sock.sendall(self.secret)  # who it is: the relay reads this before anything else
                except OSError:
                    sock.close()
                    raise
                conn = Connection(sock.detach())
            conn.send(message)
            status, value = conn.recv()
        except (EOFError, OSError) as error:
            if conn is not None:
                conn.close()
            raise ProtocolError("503 Service Unavailable: the server's main process did not answer this request "
                                f"({error or 'it closed the connection'}); try again", 503,
                                headers={"Retry-After": "5"}) from None
        with self._lock:
            self._idle.append(conn)
        if status == "error":
            raise value
        return value

    # As an executor (behind _ReaderReads): queries that are not bounded run where they can be killed.
    def run(self, request: QueryRequest) -> tuple[bytes, str]:
        return self.ask(("query", request))

    def check_update(self, check: UpdateCheck) -> int:
        return self.ask(("check", check))

    def shutdown(self) -> None:
        pass


class _RelayedRequests:
    """The WSGI app behind a reader's fast path: the primary's app answers (same status, headers, body)."""

    def __init__(self, relay: _Relay, max_body_bytes: int):
        self.relay = relay
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ, start_response):
        body = _body(environ, self.max_body_bytes)
        plain = {key: value for key, value in environ.items()
                 if isinstance(value, str) and not key.startswith("wsgi.")}
        plain["wsgi.url_scheme"] = environ.get("wsgi.url_scheme", "http")
        if environ.get("wsgi.input_terminated"):
            plain["wsgi.input_terminated"] = True
        try:
            status, headers, data = self.relay.ask(("http", plain, body))
        except ProtocolError as error:
            from yokuryu.server.sparql_fast import _failure
            status, headers, data = _failure(error)
        start_response(status, headers)
        return [data]


def _body(environ, max_body_bytes: int) -> bytes:
    """The request's body, up to one byte over the limit (the primary answers 413 past it)."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length > max_body_bytes:
        return b""  # the length alone gets the 413; the body is not read
    from yokuryu.server.slow_bodies import read_body
    return read_body(stream, length, max_body_bytes)
