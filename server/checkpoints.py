"""How the query processes of an on-disk store read it: RocksDB checkpoints, opened read-only.

The server holds the store open read-write, and a RocksDB handle that writes must not cross a
``fork`` (its background threads stay behind) nor be opened twice. So the query zygote reads a
**checkpoint** of the store instead: ``Store.backup`` into ``PATH/query-snapshots/N`` makes one
with hard links to the store's immutable files (at 1M quads ~15 ms, plus a flush of what the
last write left in memory), and ``Store.read_only`` opens it in ~20 ms without loading anything:
the zygote and its workers hold no copy of the store, they read its files through the page
cache. The zygote forks its workers with the read-only handle open: a read-only RocksDB does
no background work (no flush, no compaction), and every table file is opened when it opens,
so a worker reads the same files through its own descriptors.

After a committed write, the server makes a new checkpoint before it next asks the zygote for
a query process, and the zygote switches to it, so processes forked from then on see every
write answered before (a write's answer waits for no checkpoint, and writes with no fork
between them cost one: an update's check reads nothing of the store, so it runs in a process
forked from the older checkpoint and makes none); workers forked earlier keep reading the checkpoint they were forked with until they end
(a query sees the state before a write or after it). :class:`ReadOnlyCopy` removes a checkpoint
once it is superseded and no worker forked with it is alive. The server removes the whole
folder when it stops, and at start (left behind by a server that was killed: the store's own
lock says that no other server is using it).

The read processes (:mod:`yokuryu.server.read_processes`) read checkpoints made here too (one
once writes pause); those are the read processes' to remove (:attr:`Checkpoints.held`), and a
zygote restarted with ``only`` leaves them alone.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pyoxigraph as ox

from yokuryu.graph.store import KnowledgeStore

log = logging.getLogger(__name__)

FOLDER = "query-snapshots"  # inside the store's folder: same file system, so hard links work


class Checkpoints:
    """The server side: checkpoints of an on-disk store, one per state the query processes read."""

    def __init__(self, store: KnowledgeStore):
        if not store.is_persistent:
            raise ValueError("checkpoints are made of an on-disk store only")
        self.store = store
        self.root = Path(store.path) / FOLDER
        # Whatever is here was left by a server that did not stop cleanly: this process holds
        # the store's lock, so no other server reads these checkpoints.
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir()
        self._next = 0
        self._naming = threading.Lock()  # the query processes and the read processes both take checkpoints
        self.held: set[Path] = set()  # read by the read processes: theirs to remove (read_processes)

    def take(self, only: bool = False) -> Path:
        """A new checkpoint of the store as it is now (call it with the write lock held).

        ``only``: remove every older checkpoint the query processes read (they are gone); the ones
        the read processes hold stay.
        """
        older = sorted(set(self.root.iterdir()) - self.held) if only else []
        with self._naming:
            path = self.root / str(self._next)
            self._next += 1
        self.store.oxigraph.backup(str(path))
        for stale in older:
            shutil.rmtree(stale, ignore_errors=True)
        return path

    def release(self, path: Path) -> None:
        """Remove ``path``, held by the read processes until now (none reads it any more)."""
        self.held.discard(path)
        shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        """Remove every checkpoint (the server is stopping, its query processes with it)."""
        shutil.rmtree(self.root, ignore_errors=True)


class ReadOnlyCopy:
    """The zygote side: the checkpoint it forks workers with, and the older ones workers still read."""

    def __init__(self, path: Path):
        self.path = path
        self.store = _open(path)
        self._readers: dict[Path, set[int]] = {path: set()}  # checkpoint → pids of workers forked with it

    def switch_to(self, path: Path) -> KnowledgeStore:
        """Read ``path`` from now on (a committed write made it); the older checkpoint waits for its workers."""
        store = _open(path)  # before anything changes: a failure leaves the zygote on its old checkpoint
        self.path, self.store = path, store
        self._readers.setdefault(path, set())
        self.prune()
        return store

    def forked(self, pid: int) -> None:
        """Worker ``pid`` was forked with the current checkpoint."""
        self._readers[self.path].add(pid)
        self.prune()

    def superseded(self) -> bool:
        """Whether older checkpoints are still kept (for workers that may still read them)."""
        return len(self._readers) > 1

    def prune(self) -> None:
        """Remove the superseded checkpoints that no living worker reads."""
        for path, pids in list(self._readers.items()):
            pids -= {pid for pid in pids if _ended(pid)}
            if path != self.path and not pids:
                del self._readers[path]
                shutil.rmtree(path, ignore_errors=True)
                log.debug("query snapshot %s removed: no worker reads it", path)


def _open(path: Path) -> KnowledgeStore:
    return KnowledgeStore(ox.Store.read_only(str(path)))


def _ended(pid: int) -> bool:
    """Whether child ``pid`` has ended (a zombie or reaped), without reaping it (its exit status stays for the zygote)."""
    if not hasattr(os, "waitid"):  # macOS before Python 3.13: a zombie counts as alive until reaped
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True
