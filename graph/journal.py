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
"""
from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pyoxigraph as ox

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

    def __init__(self, path: Path, handle):
        self.path = path
        self._handle = handle

    @classmethod
    def open(cls, path: str | Path, base: str, store: ox.Store) -> tuple[Journal, int]:
        """Open (or create) the journal at ``path`` and bring ``store`` up to date with it.

        ``store`` holds the starting data ``base`` names (a build's digest, or ``"empty"``). A
        snapshot, if there is one, replaces that content; then the journal's complete
        transactions are applied in order, and the journal is compacted into a new snapshot
        when it has grown long. Returns the journal, ready to append, and the number of
        transactions replayed. A JournalError before anything is applied leaves ``store`` as it
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
        tail = valid - (len(data.partition(b"\n")[0]) + 1) if valid else 0
        del data
        if tail > max(COMPACT_ABOVE, (snapshot.stat().st_size if generation else 0) // 4):
            _compact(path, base, store, generation + 1)
        elif not valid:
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
        return cls(path, handle), replayed

    def append(self, removed: Iterable[ox.Quad], added: Iterable[ox.Quad]) -> None:
        """Record one committed write and force it to disk before returning."""
        record = io.BytesIO()
        record.write(b"TX\n")
        for tag, quads in ((b"D ", removed), (b"A ", added)):
            for line in _nquads(quads).splitlines(keepends=True):
                record.write(tag + line)
        record.write(b"TC\n")
        try:
            self._handle.write(record.getvalue())
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as error:
            raise JournalError(f"cannot write the journal {self.path}: {error.strerror}") from error

    def close(self) -> None:
        self._handle.close()


def snapshot_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".snapshot")


# --- reading ------------------------------------------------------------------------------------


def _check_header(path: Path, data: bytes, base: str) -> int:
    """The snapshot generation the journal continues (0: the starting data itself)."""
    first_line = data.partition(b"\n")[0].decode("utf-8", "replace")
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
    position = valid = len(data.partition(b"\n")[0]) + 1
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


def _compact(path: Path, base: str, store: ox.Store, generation: int) -> None:
    """Write the store as the snapshot ``generation`` and start the journal afresh after it."""
    snapshot = snapshot_path(path)
    log.info("compacting %s into the snapshot %s (generation %d)", path, snapshot, generation)

    def write_snapshot(out) -> None:
        out.write(f"{SNAPSHOT_HEADER}{base} generation={generation}\n".encode())
        store.dump(out, format=NQUADS)

    _write_durably(snapshot, write_snapshot)  # first: until the journal is replaced, both are right
    _write_durably(path, lambda out: out.write(_header(base, generation)))


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
