"""The embedded store: a pyoxigraph Store, in memory or on disk, behind one small class.

pyoxigraph evaluates SPARQL (fast, and it releases the GIL while it works); this class adds
what Yokuryū needs around it: loading a build, knowing whether a store is already built,
dumps per named graph, and one lock that serialises writers.
"""
from __future__ import annotations

import io
import logging
import threading
import time
from pathlib import Path

import pyoxigraph as ox

from yokuryu.graph.formats import RdfSyntax
from yokuryu.ontology import DATASET_IRI, METADATA_GRAPH, PREFIXES, YK

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store could not be opened or written; the message says what to do."""


class KnowledgeStore:
    """A pyoxigraph store holding a built Yokuryū dataset (or any quads, in plain mode)."""

    def __init__(self, store: ox.Store, path: Path | None = None):
        self.oxigraph = store
        self.path = path
        # One writer at a time; readers never wait for it (pyoxigraph reads a snapshot).
        self.write_lock = threading.Lock()
        self.changed_at = time.time()  # for Last-Modified: when the content last changed
        # The fast engine's working copy for incremental writes (yokuryu.graph.fast.IncrementalState),
        # made by the first write that needs it.
        self.incremental = None
        # The number of quads, kept by the writes that go through the server (see count_change):
        # counting an in-memory store walks all of it, which costs time and, in a process that
        # shares the store with forked query processes, makes this process copy the pages it walks.
        self._quads: int | None = None
        # Triples per graph (None: the default graph), for the home page and VoID: each counted the
        # first time it is asked for, then kept by the write transactions (graph_counts_change).
        self._graph_counts: dict[str | None, int] = {}

    # --- state -------------------------------------------------------------

    @property
    def is_persistent(self) -> bool:
        return self.path is not None

    def built_digest(self) -> str | None:
        """The input digest recorded by the build that filled this store, if any."""
        quads = self.oxigraph.quads_for_pattern(
            ox.NamedNode(DATASET_IRI), ox.NamedNode(str(YK.buildDigest)), None,
            ox.NamedNode(str(METADATA_GRAPH)))
        for quad in quads:
            return quad.object.value
        return None

    @property
    def is_built(self) -> bool:
        return self.built_digest() is not None

    def __len__(self) -> int:
        return len(self.oxigraph)

    def quad_count(self) -> int:
        """The number of quads, counted once and then kept up to date by :meth:`count_change`."""
        if self._quads is None:
            self._quads = len(self.oxigraph)
        return self._quads

    def count_change(self, removed: int | None, added: int | None) -> None:
        """A committed write removed and added that many quads (None: unknown, count again when asked)."""
        if removed is None or added is None:
            self._graph_counts = {}  # which graphs changed is not known either
        if removed is None or added is None or self._quads is None:
            self._quads = None
        else:
            self._quads += added - removed

    def graph_counts_change(self, removed=None, added=None) -> None:
        """A write committed under the write lock removed and added these quads (None: unknown).

        Called by the transaction while it still holds the write lock, as :meth:`graph_count`
        counts a graph for the first time, so no commit falls between a count and the changes
        applied to it.
        """
        if removed is None or added is None:
            self._graph_counts = {}
            return
        counts = self._graph_counts
        for quads, sign in ((removed, -1), (added, 1)):
            for quad in quads:
                name = None if isinstance(quad.graph_name, ox.DefaultGraph) else quad.graph_name.value
                if name in counts:
                    counts[name] += sign

    def graph_names(self) -> list[str]:
        return sorted(g.value for g in self.oxigraph.named_graphs() if isinstance(g, ox.NamedNode))

    def graph_count(self, name: str | None) -> int:
        """Number of triples in one named graph (``None``: the default graph).

        Counted once and then kept by the writes (:meth:`graph_counts_change`): a count walks the graph,
        seconds at a million quads, and in a server whose in-memory store is shared with forked
        query processes the walk makes the server copy the pages it reads.
        """
        counts = self._graph_counts
        if name in counts:
            return counts[name]
        # Counted by the engine: 25× less CPU than a walk that makes a Python object of every quad.
        pattern = "{ ?s ?p ?o }" if name is None else f"{{ GRAPH {ox.NamedNode(name)} {{ ?s ?p ?o }} }}"
        # Kept only if counted under the write lock, so no commit's change is missed or counted
        # twice; while a write holds the lock, count without keeping (readers never wait).
        keep = self.write_lock.acquire(blocking=False)
        try:
            count = int(next(iter(self.oxigraph.query(f"SELECT (COUNT(*) AS ?n) WHERE {pattern}")))["n"].value)
            if keep and self._graph_counts is counts:
                counts[name] = count
            return count
        finally:
            if keep:
                self.write_lock.release()

    # --- writing -------------------------------------------------------------

    def touch(self) -> None:
        """Record that the content changed (pages answer Last-Modified from it)."""
        self.changed_at = time.time()

    def load_quads(self, quads: list[ox.Quad]) -> None:
        """Replace the whole content of the store by ``quads``."""
        with self.write_lock:
            self.incremental = None  # a working copy of the old content is of no use any more
            self.oxigraph.clear()
            self.oxigraph.extend(quads)
            self._quads = None
            self._graph_counts = {}
            if self.is_persistent:
                self.oxigraph.flush()
            self.touch()

    def load_build(self, result) -> None:
        """Store a successful build (a :class:`yokuryu.graph.build.BuildResult`)."""
        if not result.ok:
            raise StoreError("refusing to store a build whose data does not conform to the shapes")
        self.load_quads(result.quads)

    # --- reading ---------------------------------------------------------------

    def query(self, sparql: str, *, union_default_graph: bool = True, default_graph=None,
              named_graphs=None, base_iri: str | None = None, predeclared_prefixes: bool = True):
        """Evaluate a SPARQL query; returns pyoxigraph results (lazy for SELECT/CONSTRUCT).

        ``predeclared_prefixes`` lets queries use rdfs:, yk:, res: … without declaring them.
        """
        kwargs = {"base_iri": base_iri, "prefixes": PREFIXES if predeclared_prefixes else None}
        if default_graph is not None:
            kwargs["default_graph"] = default_graph
        elif union_default_graph:
            kwargs["use_default_graph_as_union"] = True
        if named_graphs is not None:
            kwargs["named_graphs"] = named_graphs
        return self.oxigraph.query(sparql, **kwargs)

    def dump(self, syntax: RdfSyntax, graph: str | None = None) -> bytes:
        """Serialise the whole dataset (``graph=None``) or one named graph."""
        out = io.BytesIO()
        if graph is None:
            if syntax.is_dataset:
                self.oxigraph.dump(out, format=syntax.oxigraph)
            else:
                # A triples-only syntax cannot keep graph names: write the union, as the default graph is served.
                triples = {(q.subject, q.predicate, q.object) for q in self.oxigraph}
                ox.serialize((ox.Triple(*t) for t in sorted(triples, key=str)), out, format=syntax.oxigraph)
        else:
            name = ox.NamedNode(graph)
            if syntax.name in ("trig", "nquads"):  # keep the graph name where the syntax has a place for it
                quads = self.oxigraph.quads_for_pattern(None, None, None, name)
                ox.serialize(quads, out, format=syntax.oxigraph)
            else:
                self.oxigraph.dump(out, format=syntax.oxigraph, from_graph=name)
        return out.getvalue()

    def compact(self) -> None:
        """After a bulk fill of an on-disk store, merge its files into their final layout.

        RocksDB would merge them in the background once the store is open for writing, but the
        query processes of ``yokuryu serve`` read a checkpoint made at start, which keeps the
        files it was made with until the next write: over a freshly loaded 1M store a join cost
        them 20-40 % more CPU than over a merged one. At 1M quads ~3 s (1.4 s of CPU).
        Nothing to do in memory.
        """
        if self.is_persistent:
            self.oxigraph.optimize()

    def close(self) -> None:
        if self.is_persistent:
            self.oxigraph.flush()


def open_store(path: str | Path | None) -> KnowledgeStore:
    """Open an on-disk store at ``path`` (created if missing), or an in-memory one for ``None``."""
    if path is None:
        return KnowledgeStore(ox.Store())
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StoreError(f"--store {path}: exists and is not a directory; give a directory for the on-disk store")
    if not path.exists():
        try:
            path.mkdir(parents=True)
        except OSError as error:
            raise StoreError(f"--store {path}: cannot create the folder ({error.strerror}); "
                             "give a folder you can write to") from error
    try:
        return KnowledgeStore(ox.Store(str(path)), path)
    except OSError as error:
        if "lock" in str(error).lower():
            raise StoreError(f"--store {path}: another yokuryu process has this store open (one process at "
                             "a time may open it); stop that process, or query it through its server") from error
        raise StoreError(f"--store {path}: cannot open the store ({error})") from error


def load_nquads(store: ox.Store, nquads: bytes, lenient: bool = False) -> None:
    """Add N-Quads to ``store``, keeping blank node labels (its loader would rename them).

    Lines without a blank node go through the store's own loader (fast, no Python objects);
    only lines that may hold one are parsed into quads here.
    """
    if not nquads:
        return
    if b"_:" not in nquads:
        store.load(nquads, format=ox.RdfFormat.N_QUADS, lenient=lenient)
        return
    plain, blank = [], []
    for line in nquads.split(b"\n"):
        (blank if b"_:" in line else plain).append(line)
    if plain:
        store.load(b"\n".join(plain), format=ox.RdfFormat.N_QUADS, lenient=lenient)
    store.extend(list(ox.parse(b"\n".join(blank), format=ox.RdfFormat.N_QUADS)))
