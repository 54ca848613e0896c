"""A write journal for the in-memory store (``yokuryu serve --journal PATH``).

The in-memory store is fast and forgets everything when the process ends. With a journal,
every committed write is appended to a file as the quads it removed and added, and the file
is flushed to disk (``fsync``) before the write is answered; at the next start the journal is
replayed over the same starting data, so no acknowledged write is lost.

The file is plain text, readable with any editor::

    # yokuryu journal 1 base=<digest of the build it applies to, or "empty">
    TX
    D <s> <p> <o> <g> .        quads removed (N-Quads after the "D ")
    A <s> <p> <o> <g> .        quads added
    TC

Only complete transactions (``TX`` … ``TC``) are replayed: a write interrupted by a crash was
never acknowledged, and its partial record is cut off at the next start.
"""
from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import pyoxigraph as ox

log = logging.getLogger(__name__)

HEADER = "# yokuryu journal 1 base="
NQUADS = ox.RdfFormat.N_QUADS


class JournalError(RuntimeError):
    """The journal cannot be read, does not fit the store, or cannot be written."""


class Journal:
    """An append-only, fsynced log of committed writes."""

    def __init__(self, path: Path, handle):
        self.path = path
        self._handle = handle

    @classmethod
    def open(cls, path: str | Path, base: str) -> tuple[Journal, list[tuple[list[ox.Quad], list[ox.Quad]]]]:
        """Open (or create) the journal at ``path`` for a store that starts from ``base``.

        Returns the journal, ready to append, and the complete transactions it already holds,
        in order, to replay.
        """
        path = Path(path)
        if path.is_dir():
            raise JournalError(f"--journal {path}: is a directory; give a file name, e.g. {path / 'writes.journal'}")
        transactions: list[tuple[list[ox.Quad], list[ox.Quad]]] = []
        if path.exists() and path.stat().st_size:
            transactions, valid_length = _read(path, base)
            if valid_length < path.stat().st_size:
                log.warning("%s: cutting off an unfinished write at the end (it was never acknowledged)", path)
                with open(path, "r+b") as handle:
                    handle.truncate(valid_length)
                    handle.flush()
                    os.fsync(handle.fileno())
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as handle:
                    handle.write(f"{HEADER}{base}\n".encode())
                    handle.flush()
                    os.fsync(handle.fileno())
                _fsync_directory(path.parent)
            except OSError as error:
                raise JournalError(f"cannot create the journal {path}: {error.strerror}") from error
        try:
            handle = open(path, "ab")
        except OSError as error:
            raise JournalError(f"cannot open the journal {path} for writing: {error.strerror}") from error
        return cls(path, handle), transactions

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


def replay(store: ox.Store, transactions) -> None:
    """Apply journalled transactions to ``store`` in order."""
    for removed, added in transactions:
        for quad in removed:
            store.remove(quad)
        store.extend(added)


def _read(path: Path, base: str) -> tuple[list[tuple[list[ox.Quad], list[ox.Quad]]], int]:
    """The complete transactions of the journal and the length of the file they fill."""
    data = path.read_bytes()
    first_line, _, _ = data.partition(b"\n")
    header = first_line.decode("utf-8", "replace")
    if not header.startswith(HEADER):
        raise JournalError(f"{path} is not a Yokuryū journal (its first line is {header[:60]!r})")
    written_over = header[len(HEADER):].strip()
    if written_over != base:
        raise JournalError(
            f"{path} records writes made over other starting data (base={written_over}) than this store "
            f"(base={base}): the bundled data or the build changed since. Start with the data the journal "
            "was written over, or move the journal away (its writes are in it as N-Quads after 'A ').")
    # Whole blocks at a time (the writer puts every "D " line before every "A " line), so a
    # journal of a million quads is read at the parser's speed, not line by line in Python.
    transactions = []
    position = valid = len(first_line) + 1
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
            transactions.append((_parse(body[:split], b"D "), _parse(body[split:], b"A ")))
        except (SyntaxError, ValueError) as error:
            raise JournalError(f"{path}: a recorded write near byte {position} cannot be read ({error}); "
                               "was the file changed by hand?") from error
        position = valid = close + 3
    return transactions, valid


def _parse(part: bytes, tag: bytes) -> list[ox.Quad]:
    """The quads of a block's lines that all start with ``tag``."""
    if not part:
        return []
    if not part.startswith(tag):
        raise ValueError(f"a line does not start with {tag.decode()!r}")
    return list(ox.parse(part[len(tag):].replace(b"\n" + tag, b"\n"), format=NQUADS))


def _nquads(quads: Iterable[ox.Quad]) -> bytes:
    out = io.BytesIO()
    ox.serialize(quads, out, format=NQUADS)
    return out.getvalue()


def _fsync_directory(folder: Path) -> None:
    """Make the journal's creation itself durable (its directory entry)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
