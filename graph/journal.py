"""A write journal for the in-memory store (``yokuryu serve --journal PATH``).

The in-memory store is fast and forgets everything when the process ends. With a journal,
every committed write is appended to a file as the quads it removed and added, and the file
is flushed to disk (``fsync``) before the write is answered; at the next start the journal is
replayed over the same starting data, so no acknowledged write is lost.

The file is plain text, readable with any editor::

    # yokuryu journal 1 base=<digest of the build it applies to, or "empty"> [snapshot=<generation>]
    TX
    D <s> <p> <o> <g> .        quads removed (N-Quads after the "D ")
    A <s> <p> <o> <g> .        quads added
    TC

Only complete transactions (``TX`` … ``TC``) are replayed: a write interrupted by a crash was
never acknowledged, and its partial record is cut off at the next start.

**Snapshots.** When, at a start, the journal holds more than a quarter of what its snapshot
holds (and more than 1 MiB), the whole store is written to ``PATH.snapshot`` (N-Quads, first
line ``# yokuryu snapshot 1 base=… generation=N``) and the journal is started afresh with
``snapshot=N`` in its header: the next start loads the snapshot with pyoxigraph's own parser and
replays only the short tail. Both files are written beside the old ones, flushed, and renamed
into place, the snapshot first. A crash between the two renames leaves a new snapshot with the
old journal, which is still right: every record says absolutely which quads are present or
absent, so replaying a record whose effect the snapshot already holds changes nothing.

The snapshot is written while the server already answers (:meth:`Journal.compact_in_background`,
about 1.5 s at a million quads): by a forked child, which holds the store exactly as the journal
left it at the fork (offset ``X``) and shares its pages instead of copying them into the server
(a scan in the server would copy the pages it shares with the query processes). Writes go on
meanwhile, appended to the old journal. When the child has put the snapshot in place, the
journal is replaced, under its append lock, by a new one holding the records after ``X``; until
then the old journal, complete, lies beside the new snapshot, which is the crash case above.
"""
from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

import pyoxigraph as ox

from yokuryu.graph.offline import die_with
from yokuryu.graph.store import load_nquads

log = logging.getLogger(__name__)

HEADER = "# yokuryu journal 1 base="
SNAPSHOT_HEADER = "# yokuryu snapshot 1 base="
NQUADS = ox.RdfFormat.N_QUADS
COMPACT_ABOVE = 1024 * 1024  # a journal tail under this is replayed as it is, never compacted


class JournalError(RuntimeError):
    """The journal cannot be read, does not fit the store, or cannot be written."""


class Journal:
    """An append-only, fsynced log of committed writes."""

    def __init__(self, path: Path, handle, base: str = "empty", compaction: tuple[int, int] | None = None):
        self.path = path
        self._handle = handle
        self._base = base
        # (the snapshot generation to write, the journal's length it covers): due, not yet done
        self._compaction = compaction
        self._lock = threading.Lock()  # an append, or the swap to the compacted journal
        self._compacting: threading.Thread | None = None

    @property
    def compaction_due(self) -> bool:
        return self._compaction is not None

    @classmethod
    def open(cls, path: str | Path, base: str, store: ox.Store) -> tuple[Journal, int]:
        """Open (or create) the journal at ``path`` and bring ``store`` up to date with it.

        ``store`` holds the starting data ``base`` names (a build's digest, or ``"empty"``). A
        snapshot, if there is one, replaces that content; then the journal's complete
        transactions are applied in order. When the journal has grown long, its compaction into
        a new snapshot is due: :meth:`compact_in_background` (or :meth:`compact`) does it.
        Returns the journal, ready to append, and the number of transactions replayed. A JournalError before anything is applied leaves ``store`` as it
        was; one raised by a damaged record may leave it part-way (the caller stops).
        """
        path = Path(path)
        if path.is_dir():
            raise JournalError(f"--journal {path}: is a directory; give a file name, e.g. {path / 'writes.journal'}")
        snapshot = snapshot_path(path)
        try:
            data = path.read_bytes() if path.exists() else b""
        except OSError as error:
            raise JournalError(f"cannot read the journal {path}: {error.strerror}") from error
        continues = _check_header(path, data, base) if data else None
        generation = _check_snapshot(snapshot, base, continues) if snapshot.exists() else 0
        if continues and not generation:
            raise JournalError(f"{path} continues the snapshot {snapshot}, which is missing: put it back "
                               "(the writes before the snapshot are only there)")
        if generation:
            store.clear()
            load_nquads(store, snapshot.read_bytes(), lenient=True)  # written by pyoxigraph itself
            log.info("loaded the snapshot %s (generation %d)", snapshot, generation)
        replayed, valid = _replay(path, data, store) if data else (0, 0)
        tail = valid - _first_line_length(data) if valid else 0
        del data
        due = tail > max(COMPACT_ABOVE, (snapshot.stat().st_size if generation else 0) // 4)
        if not valid:
            _create(path, base, generation)
        elif valid < path.stat().st_size:
            log.warning("%s: cutting off an unfinished write at the end (it was never acknowledged)", path)
            try:
                with open(path, "r+b") as handle:
                    handle.truncate(valid)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as error:
                raise JournalError(f"cannot cut the unfinished write off {path}: {error.strerror}") from error
        try:
            handle = open(path, "ab")
        except OSError as error:
            raise JournalError(f"cannot open the journal {path} for writing: {error.strerror}") from error
        return cls(path, handle, base, (generation + 1, valid) if due else None), replayed

    def compact(self, store: ox.Store) -> None:
        """Write the due snapshot now, from ``store`` as the journal left it (no write since)."""
        if self._compaction is None:
            return
        generation, _ = self._compaction
        _write_snapshot(self.path, self._base, store, generation)
        self._swap_to_compacted()

    def compact_in_background(self, store: ox.Store) -> None:
        """Start the due compaction, if any, and return at once (see the module's docstring).

        Call it before any write is made and before the process starts threads that may hold
        locks (the child is forked): where the query processes are forked from.
        """
        if self._compaction is None:
            return
        if not hasattr(os, "fork"):
            self.compact(store)
            return
        generation, _ = self._compaction
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        child = os.fork()
        if child == 0:  # the child: write the snapshot from its copy of the store, and nothing else
            status = 1
            try:
                die_with(parent)
                _write_snapshot(self.path, self._base, store, generation)
                status = 0
            except BaseException as error:  # noqa: BLE001 - told to the operator; the parent goes on
                print(f"yokuryu: could not compact the journal {self.path}: {error}", file=sys.stderr, flush=True)
            finally:
                os._exit(status)
        self._compacting = threading.Thread(target=self._finish, args=(child,), name="yokuryu-compaction",
                                            daemon=True)
        self._compacting.start()

    def _finish(self, child: int) -> None:
        try:
            _, status = os.waitpid(child, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                log.error("the journal %s was not compacted (the snapshot's writer failed); it keeps growing "
                          "and is compacted at the next start", self.path)
                return
            self._swap_to_compacted()
        except Exception:  # noqa: BLE001 - the old journal, complete, is still beside the new snapshot
            log.exception("the journal %s was not compacted; it is still complete and right", self.path)

    def _swap_to_compacted(self) -> None:
        """Replace the journal by the snapshot's header and the records written since it was taken."""
        generation, covered = self._compaction
        with self._lock:  # no append in between: every record after ``covered`` is copied
            with open(self.path, "rb") as old:
                old.seek(covered)
                since = old.read()
            _write_durably(self.path, lambda out: (out.write(_header(self._base, generation)), out.write(since)))
            try:
                handle = open(self.path, "ab")
            except OSError as error:
                raise JournalError(f"cannot open the journal {self.path} for writing: {error.strerror}") from error
            self._handle.close()
            self._handle = handle
            self._compaction = None
        log.info("compacted %s into the snapshot %s (generation %d)", self.path, snapshot_path(self.path), generation)

    def wait_for_compaction(self, timeout: float | None = None) -> None:
        """Until the compaction in the background, if one runs, is done (or ``timeout`` passes)."""
        if self._compacting is not None:
            self._compacting.join(timeout)

    def append(self, removed: Iterable[ox.Quad], added: Iterable[ox.Quad]) -> None:
        """Record one committed write and force it to disk before returning."""
        record = io.BytesIO()
        record.write(b"TX\n")
        for tag, quads in ((b"D ", removed), (b"A ", added)):
            for line in _nquads(quads).splitlines(keepends=True):
                record.write(tag + line)
        record.write(b"TC\n")
        with self._lock:
            try:
                self._handle.write(record.getvalue())
                self._handle.flush()
                os.fsync(self._handle.fileno())
            except OSError as error:
                raise JournalError(f"cannot write the journal {self.path}: {error.strerror}") from error

    def close(self) -> None:
        self.wait_for_compaction()
        self._handle.close()


def snapshot_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".snapshot")


# --- reading ------------------------------------------------------------------------------------


def _check_header(path: Path, data: bytes, base: str) -> int:
    """The snapshot generation the journal continues (0: the starting data itself)."""
    first_line = data[:_first_line_length(data)].decode("utf-8", "replace").rstrip("\n")
    if not first_line.startswith(HEADER):
        raise JournalError(f"{path} is not a Yokuryū journal (its first line is {first_line[:60]!r})")
    fields = first_line[len(HEADER):].split()
    written_over = fields[0] if fields else ""
    if written_over != base:
        raise JournalError(
            f"{path} records writes made over other starting data (base={written_over}) than this store "
            f"(base={base}): the bundled data or the build changed since. Start with the data the journal "
            "was written over, or move the journal away (its writes are in it as N-Quads after 'A ').")
    found = re.fullmatch(r"snapshot=(\d+)", fields[1]) if len(fields) > 1 else None
    if len(fields) > 1 and not found:
        raise JournalError(f"{path}: its first line is damaged ({first_line[:80]!r})")
    return int(found.group(1)) if found else 0


def _check_snapshot(snapshot: Path, base: str, continues: int | None) -> int:
    """The generation of the snapshot beside the journal, after checking that it fits."""
    try:
        with open(snapshot, "rb") as handle:
            first_line = handle.readline(500).decode("utf-8", "replace").rstrip("\n")
    except OSError as error:
        raise JournalError(f"cannot read the snapshot {snapshot}: {error.strerror}") from error
    found = re.fullmatch(re.escape(SNAPSHOT_HEADER) + r"(\S*) generation=(\d+)", first_line)
    if not found:
        raise JournalError(f"{snapshot} is not a Yokuryū snapshot (its first line is {first_line[:60]!r}); "
                           "move it away if it is not")
    if found.group(1) != base:
        raise JournalError(
            f"{snapshot} holds a store built from other starting data (base={found.group(1)}) than this one "
            f"(base={base}): the bundled data or the build changed since. Start with the data it was written "
            "over, or move it and the journal away.")
    generation = int(found.group(2))
    if continues is not None and generation < continues:
        raise JournalError(f"the journal continues snapshot generation {continues}, but {snapshot} is the older "
                           f"generation {generation}: put back the snapshot the journal was written after")
    return generation


def _replay(path: Path, data: bytes, store: ox.Store) -> tuple[int, int]:
    """Apply the journal's complete transactions to ``store``; (how many, the length they fill)."""
    # Whole blocks at a time (the writer puts every "D " line before every "A " line), and the
    # added quads straight into the store with its own parser: a journal of a million quads is
    # read at the parser's speed, without a Python object per quad.
    replayed = 0
    position = valid = _first_line_length(data)
    while position < len(data):
        if not data.startswith(b"TX\n", position):
            if b"\n" not in data[position:]:
                break  # a partial last line: the write was never acknowledged
            line = data[position:data.index(b"\n", position) + 1]
            raise JournalError(f"{path}: unexpected line at byte {position}: {line[:80]!r}")
        close = data.find(b"TC\n", position + 3)
        if close < 0:
            break  # an unfinished transaction: never acknowledged
        if data[close - 1:close] != b"\n" and close != position + 3:
            raise JournalError(f"{path}: a record near byte {position} is damaged")
        body = data[position + 3:close]
        split = 0 if body.startswith(b"A ") else (body.find(b"\nA ") + 1 or len(body))
        try:
            for quad in list(ox.parse(_untagged(body[:split], b"D "), format=NQUADS)):
                store.remove(quad)
            load_nquads(store, _untagged(body[split:], b"A "))
        except (SyntaxError, ValueError) as error:
            raise JournalError(f"{path}: a recorded write near byte {position} cannot be read ({error}); "
                               "was the file changed by hand?") from error
        except OSError as error:
            raise JournalError(f"{path}: a recorded write near byte {position} cannot be applied ({error})") from error
        replayed += 1
        position = valid = close + 3
    return replayed, valid


def _first_line_length(data: bytes) -> int:
    """The length of the first line with its newline (not ``partition``: it copies the rest)."""
    end = data.find(b"\n", 0, 4096)
    return end + 1 if end >= 0 else min(len(data), 4096) + 1


def _untagged(part: bytes, tag: bytes) -> bytes:
    """The N-Quads of a block's lines that all start with ``tag``."""
    if not part:
        return b""
    if not part.startswith(tag):
        raise ValueError(f"a line does not start with {tag.decode()!r}")
    return part[len(tag):].replace(b"\n" + tag, b"\n")


# --- writing ------------------------------------------------------------------------------------


def _create(path: Path, base: str, generation: int) -> None:
    """A journal holding no write yet, made durable (its directory entry too)."""
    _write_durably(path, lambda out: out.write(_header(base, generation)))


def _write_snapshot(path: Path, base: str, store: ox.Store, generation: int) -> None:
    """Write the store as the snapshot ``generation`` of the journal ``path`` (the journal is
    replaced after it: until then, the old journal and the new snapshot are right together)."""
    snapshot = snapshot_path(path)
    log.info("compacting %s into the snapshot %s (generation %d)", path, snapshot, generation)

    def write_snapshot(out) -> None:
        out.write(f"{SNAPSHOT_HEADER}{base} generation={generation}\n".encode())
        store.dump(out, format=NQUADS)

    _write_durably(snapshot, write_snapshot)


def _header(base: str, generation: int) -> bytes:
    return f"{HEADER}{base}{f' snapshot={generation}' if generation else ''}\n".encode()


def _write_durably(path: Path, write) -> None:
    """Write a file beside ``path``, force it to disk, and rename it over ``path``."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as error:
        raise JournalError(f"cannot write {path}: {error.strerror or error}") from error
    _fsync_directory(path.parent)


def _nquads(quads: Iterable[ox.Quad]) -> bytes:
    out = io.BytesIO()
    ox.serialize(quads, out, format=NQUADS)
    return out.getvalue()


def _fsync_directory(folder: Path) -> None:
    """Make a file's creation or renaming itself durable (its directory entry)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
