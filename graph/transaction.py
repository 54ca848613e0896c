"""The write transaction: one change to a store, checked and committed all at once or not at all.

Every write goes through :func:`update` — SPARQL Update on the endpoint, the graph store
protocol, ``yokuryu update`` and the tests — so they all refuse the same things with the same
kinds of error (:class:`WriteError`, each kind with the HTTP status the server answers), and
they all derive what a build derives (:func:`yokuryu.graph.build.derive`, the same step).

A write is, in order:

1. **the change** — the asserted quads it adds and removes. An update made only of
   ``INSERT DATA``, ``DELETE DATA``, ``DROP``/``CLEAR GRAPH`` and ``CREATE GRAPH`` (everything
   the graph store protocol sends) is read directly, without copying the store; any other
   update (``DELETE/INSERT … WHERE``) runs on a copy of the store, and the change is the
   difference. Blank nodes written get Skolem IRIs, as the build's do;
2. **what may not change** — the ontology, the shapes, the inferred graph and the dataset
   description (403), and in the knowledge graph the default graph, which is the union (400);
3. **derive** — validate with the shapes, reason, describe and skolemise, exactly as a build
   does, over the asserted graphs after the change. Data that breaks a shape, or a closure that
   is inconsistent, refuses the write (422, with the report);
4. **commit** — the difference between the store and the derived quads is applied in one
   pyoxigraph transaction (readers see the old state or the new one), then ``on_commit`` is told
   the quads removed and added (the server's query processes hold a copy and must follow).

In plain mode (``yokuryu serve --empty``) only 1 and 4 happen: the update runs as it is.
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import pyoxigraph as ox
from rdflib import Graph, URIRef

from yokuryu.graph.offline import run_offline
from yokuryu.graph.query_guard import (
    SparqlLimits,
    SparqlRefused,
    check_sparql,
    is_network_refusal,
    network_refused_message,
)
from yokuryu.graph.sparql_mistakes import explain_syntax_error
from yokuryu.graph.sparql_text import operations, with_update_dataset
from yokuryu.graph.store import KnowledgeStore
from yokuryu.graph.terms import to_rdflib
from yokuryu.ontology import (
    DATASET_IRI,
    GENID,
    GRAPH,
    INFERRED_GRAPH,
    METADATA_GRAPH,
    ONTOLOGY_GRAPH,
    PREFIXES,
    SHAPES_GRAPH,
    load_ontology,
)
from yokuryu.shapes import load_shapes

if TYPE_CHECKING:
    from yokuryu.graph.validation import ValidationReport

# The build's derivation (yokuryu.graph.build, .reasoning, .validation: rdflib's SPARQL, pyshacl,
# owlrl, over a second to import) is imported by the first write, not by every server's start.

# Graphs a write may never change: the schema, and what is derived from the data.
PROTECTED_GRAPHS = {
    str(ONTOLOGY_GRAPH): "the ontology (it is built from ontology/*.ttl)",
    str(SHAPES_GRAPH): "the shapes (they are built from shapes/*.ttl)",
    str(INFERRED_GRAPH): "the inferred graph (it is recomputed after every write)",
    str(METADATA_GRAPH): "the dataset description (it is recomputed after every write)",
}


# The compiled reasoner's own graphs (support, rule output, scratch) in its working copy.
REASONER_GRAPHS = str(GRAPH) + "reasoner/"


# --- errors: one kind per way a write can fail, each with its HTTP status -------------------------


class WriteError(Exception):
    """A write that was not applied; nothing of it reached the store."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UpdateSyntaxError(WriteError):
    """The update text is not SPARQL 1.1 Update."""

    status = 400


class TooLargeWrite(WriteError):
    """The change adds more quads than one write may (``max_added``): refused before it is derived over."""

    status = 413


class UnusableWrite(WriteError):
    """The update is well formed but cannot be applied (the union default graph, a bad IRI…)."""

    status = 400


class ProtectedGraphWrite(WriteError):
    """The update would change the ontology, the shapes or a derived graph."""

    status = 403


class RefusedWrite(WriteError):
    """The data after the write breaks a shape or contradicts the ontology; ``report`` says how."""

    status = 422

    def __init__(self, message: str, report: ValidationReport | None = None):
        super().__init__(message)
        self.report = report


class RemoteAccess(WriteError):
    """The update tried to fetch from the network (SERVICE, LOAD), which evaluation cannot do."""

    status = 403


class StoreFailure(WriteError):
    """The store itself failed (disk full, I/O error)."""

    status = 500


# --- the change and the outcome --------------------------------------------------------------------


@dataclass
class Change:
    """Quads to remove, then quads to add (the asserted data only)."""

    removed: set[ox.Quad] = field(default_factory=set)
    added: set[ox.Quad] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.removed or self.added)


@dataclass
class WriteOutcome:
    """What a committed write did to the store (derived quads included)."""

    added: int
    removed: int
    seconds: float
    checked: bool = False  # validated and reasoned over before commit (knowledge-graph mode)

    def describe(self) -> str:
        if self.checked:
            how = ", validated and reasoned over"
        elif self.added or self.removed:
            how = ""
        else:
            how = "; nothing changed, so nothing needed checking"
        return f"Update applied: {self.added} quads added, {self.removed} removed ({self.seconds:.2f} s{how})."


Committed = Callable[[set[ox.Quad], set[ox.Quad]], None]


def update(store: KnowledgeStore, change: str | Change, *, plain: bool = False,
           union_default_graph: bool = True, base_iri: str | None = None,
           on_commit: Committed | None = None, max_added: int | None = None,
           engine: str = "reference", limits: SparqlLimits = SparqlLimits()) -> WriteOutcome:
    """Apply ``change`` (SPARQL Update text, or a :class:`Change`) to ``store`` as one transaction.

    ``plain`` runs the update as it is (no schema, no checks: ``serve --empty``). Otherwise the
    store holds a build, and the write is checked and derived over as described in the module
    docstring. ``on_commit(removed, added)`` is called with every quad the commit changed,
    under the store's write lock (so in commit order) and before this function returns.
    ``max_added`` bounds the quads a checked write may add (an ``INSERT … WHERE`` over a cross
    product would otherwise be validated and reasoned over for minutes under the write lock).
    ``limits`` bound the nesting and length of update text before pyoxigraph parses it (its
    parser is recursive: 10,000 nested brackets in an INSERT DATA kill the process), for every
    caller alike — the endpoint passes its configured limits, ``yokuryu update`` the defaults.
    Raises a :class:`WriteError`; then nothing was applied.
    """
    started = time.monotonic()
    if isinstance(change, str):
        _refuse_unparseable(change, limits)
    with store.write_lock:
        if plain:
            return _plain_update(store, change, base_iri, on_commit, started)
        if isinstance(change, str):
            change = _change_of(store, change, base_iri=base_iri, union_default_graph=union_default_graph)
        else:
            change = Change({_skolem(q) for q in change.removed}, {_skolem(q) for q in change.added})
            _refuse_forbidden(change)
        if not change:
            return WriteOutcome(0, 0, time.monotonic() - started)  # nothing changed: nothing to check
        if max_added is not None and len(change.added) > max_added:
            raise TooLargeWrite(f"the update would add {len(change.added)} quads, more than the {max_added} one write "
                                "may add; split it into several updates, or raise the limit with --max-write-quads "
                                "or YOKURYU_MAX_WRITE_QUADS. Nothing was applied.")
        incremental = _incremental(store, change) if engine == "fast" else None
        if incremental is not None:
            removed, added = incremental
            try:
                apply_in_one_transaction(store, removed, added)
            except StoreFailure:
                store.incremental = None  # the working copy is ahead of the store now
                raise
        else:
            removed, added = _commit(store, _derive_after(store, change, engine))
        if on_commit is not None:
            try:
                on_commit(removed, added)
            except BaseException:
                store.incremental = None  # the hook may have undone the commit: the working copy is stale
                raise
        store.graph_counts_change(removed, added)  # under the lock: see KnowledgeStore.graph_count
    return WriteOutcome(len(added), len(removed), time.monotonic() - started, checked=True)


def asserted_graphs(store: KnowledgeStore) -> dict[URIRef, Graph]:
    """The store's asserted graphs as rdflib graphs, with the build's ontology and shapes.

    The schema comes from its files, not from the store: stored, its blank nodes (restrictions,
    property paths, lists) are Skolem IRIs, which would change what the shapes and axioms mean.
    """
    ontology, shapes = schema()
    graphs: dict[URIRef, Graph] = {ONTOLOGY_GRAPH: ontology, SHAPES_GRAPH: shapes}
    for quad in store.oxigraph:
        if isinstance(quad.graph_name, ox.DefaultGraph):
            continue
        name = quad.graph_name.value
        if name in PROTECTED_GRAPHS:
            continue
        graphs.setdefault(URIRef(name), Graph()).add(
            (to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object)))
    return graphs


@lru_cache(maxsize=1)
def schema() -> tuple[Graph, Graph]:
    """The ontology and the shapes a build uses (parsed once; writes may not change them)."""
    return load_ontology(), load_shapes()


def rebuild_quads(store: KnowledgeStore, *, engine: str = "reference") -> list[ox.Quad]:
    """The quads a full rebuild from the store's asserted data gives (what every write must equal)."""
    return _derived(store, asserted_graphs(store), engine, "the stored data does not conform to the shapes")


def prepare(store: KnowledgeStore, *, engine: str = "fast") -> bool:
    """Make the fast engine's working copy now (one reasoning pass over the store), so that the
    first write does not pay for it; a server calls this in a background thread at start.
    Holds the write lock meanwhile (a write arriving then waits for the copy instead of making
    its own). True when the copy is ready; False for the reference engine or data the compiled
    engines do not cover (writes then re-derive everything, as they would anyway)."""
    if engine != "fast":
        return False
    from yokuryu.graph.fast import IncrementalState

    with store.write_lock:
        if store.incremental is None and store.is_built:
            store.incremental = IncrementalState.of(store.oxigraph, *schema())
        return store.incremental is not None


# --- 1. the change ---------------------------------------------------------------------------------


def _change_of(store: KnowledgeStore, text: str, *, base_iri: str | None, union_default_graph: bool) -> Change:
    direct = _data_change(store, text, base_iri)
    if direct is None:
        direct = _change_by_running(store, text, base_iri, union_default_graph)
    _refuse_forbidden(direct)
    return direct


# Operations whose effect can be read from their text alone (no WHERE to evaluate).
_DIRECT_VERBS = {"INSERT", "DELETE", "DROP", "CLEAR", "CREATE"}


def _data_change(store: KnowledgeStore, text: str, base_iri: str | None) -> Change | None:
    """The change of an update made only of DATA and graph-management operations; else None.

    Each ``INSERT DATA``/``DELETE DATA`` block is parsed by running it as ``INSERT DATA`` on an
    empty scratch store (pyoxigraph's own parser: prefixes, base, escapes and blank nodes exactly
    as the real run would see them); ``DROP``/``CLEAR GRAPH <g>`` removes the graph's quads.
    """
    change = Change()
    live = store.oxigraph
    for op, top, i, prologue in _operations_after_prologue(text):
        verb = top[i].keyword
        if verb not in _DIRECT_VERBS:
            return None
        words = [t.keyword or t.text for t in top[i:]]
        if verb in ("INSERT", "DELETE"):
            if len(words) < 2 or words[1] != "DATA":
                return None
            body_start = top[i + 1].start + len(top[i + 1].text)
            body = text[body_start:op.tokens[-1].start + len(op.tokens[-1].text)]
            quads = _parse_data("\n".join(prologue) + "\nINSERT DATA " + body, base_iri)
            _look_up(live, quads)
            for quad in quads:
                (_insert if verb == "INSERT" else _delete)(change, live, quad)
        elif verb == "CREATE":
            continue  # an empty graph has no quads: nothing to store (a knowledge graph keeps no empty graphs)
        else:  # DROP / CLEAR [SILENT] (GRAPH <g> | DEFAULT | NAMED | ALL)
            silent = "SILENT" in words[1:2]
            rest = [w for w in words[1:] if w != "SILENT"]
            if rest == ["DEFAULT"]:
                graph = ox.DefaultGraph()
            elif len(rest) == 2 and rest[0] == "GRAPH" and rest[1].startswith("<"):
                try:
                    graph = ox.NamedNode(_resolve(rest[1][1:-1], base_iri))
                except ValueError:
                    return None
            else:
                return None  # NAMED/ALL, prefixed names: let the engine decide
            present = list(live.quads_for_pattern(None, None, None, graph)) + \
                [q for q in change.added if q.graph_name == graph]
            if not present and not silent and isinstance(graph, ox.NamedNode) \
                    and not live.contains_named_graph(graph):
                raise UnusableWrite(f"{verb} GRAPH <{graph.value}>: the store has no such graph "
                                    f"(add SILENT to ignore a missing graph)")
            for quad in present:
                _delete(change, live, quad)
    return change


def _parse_data(text: str, base_iri: str | None) -> list[ox.Quad]:
    scratch = ox.Store()
    _run(scratch, text, base_iri, PREFIXES)
    return [_skolem(quad) for quad in scratch]


def _resolve(iri: str, base_iri: str | None) -> str:
    if "://" in iri or iri.startswith("urn:") or base_iri is None:
        return ox.NamedNode(iri).value
    from urllib.parse import urljoin
    return urljoin(base_iri, iri)


def _look_up(live, quads) -> None:
    """Let a store that answers ``quad in store`` by a request (a remote one) ask for all at once."""
    look_up = getattr(live, "look_up", None)
    if look_up is not None:
        look_up(quads)


def _insert(change: Change, live: ox.Store, quad: ox.Quad) -> None:
    if quad in change.removed:
        change.removed.discard(quad)
    elif quad not in live:
        change.added.add(quad)


def _delete(change: Change, live: ox.Store, quad: ox.Quad) -> None:
    if quad in change.added:
        change.added.discard(quad)
    elif quad in live:
        change.removed.add(quad)


def _change_by_running(store: KnowledgeStore, text: str, base_iri: str | None, union_default_graph: bool) -> Change:
    """Run a general update on a copy of the store; the change is the difference."""
    candidate = ox.Store()
    candidate.extend(store.oxigraph)
    if union_default_graph:
        # The knowledge graph's default graph is the union of its graphs: let WHERE see it too.
        graphs = [g.value for g in store.oxigraph.named_graphs() if isinstance(g, ox.NamedNode)]
        text = with_update_dataset(text, graphs, graphs, protocol=False)
    _run(candidate, text, base_iri, PREFIXES)
    before, after = set(store.oxigraph), set(candidate)
    return Change({_skolem(q) for q in before - after}, {_skolem(q) for q in after - before})


# --- 2. what may not change ----------------------------------------------------------------------


def _refuse_forbidden(change: Change) -> None:
    for quad in (*change.removed, *change.added):
        if isinstance(quad.graph_name, ox.DefaultGraph):
            raise UnusableWrite(
                "in the knowledge graph the default graph is the union of all graphs and holds nothing "
                "of its own; write your triples into a named graph, e.g. "
                "INSERT DATA { GRAPH <https://w3id.org/yokuryu/graph/user/my-notes> { … } }")
        name = quad.graph_name.value
        if name in PROTECTED_GRAPHS:
            raise ProtectedGraphWrite(f"writes may not change <{name}>, {PROTECTED_GRAPHS[name]}. Nothing was applied.")
        if name.startswith(REASONER_GRAPHS):
            raise ProtectedGraphWrite(f"writes may not change <{name}>: graphs under <{REASONER_GRAPHS}> are the "
                                      "compiled reasoner's own. Nothing was applied.")


# --- 3. derive -------------------------------------------------------------------------------------


def _derive_after(store: KnowledgeStore, change: Change, engine: str) -> list[ox.Quad]:
    graphs = asserted_graphs(store)
    for quad in change.removed:
        graph = graphs.get(URIRef(quad.graph_name.value))
        if graph is not None:
            graph.remove(_triple(quad))
    for quad in change.added:
        graphs.setdefault(URIRef(quad.graph_name.value), Graph()).add(_triple(quad))
    graphs = {name: graph for name, graph in graphs.items() if len(graph) or name in (ONTOLOGY_GRAPH, SHAPES_GRAPH)}
    return _derived(store, graphs, engine, "the write was refused and nothing was applied.")


def _derived(store: KnowledgeStore, graphs: dict[URIRef, Graph], engine: str, refusal: str) -> list[ox.Quad]:
    """The quads a build derives from ``graphs``; ``RefusedWrite`` (saying ``refusal``) when the
    data breaks a shape or contradicts the ontology."""
    from yokuryu.graph.build import Inputs, derive
    from yokuryu.graph.reasoning import InconsistentData

    try:
        derivation = derive(Inputs.of(graphs), digest=store.built_digest() or "", locate=_locator(graphs),
                            engine=engine)
    except InconsistentData as error:
        raise RefusedWrite(f"{refusal.rstrip('.')}: {error}") from error
    if not derivation.report.conforms:
        raise RefusedWrite(refusal, derivation.report)
    return derivation.quads


def _incremental(store: KnowledgeStore, change: Change) -> tuple[set[ox.Quad], set[ox.Quad]] | None:
    """The quads to remove and add for ``change``, worked out from the change alone; None when the
    fast engine cannot do it (no compilers, data they do not cover): then ``derive`` re-derives all.

    The working copy (:class:`yokuryu.graph.fast.IncrementalState`) validates the focus nodes the
    change can reach and extends or retracts the closure from it; the inferred triples it says
    were touched are compared with the live store, and the VoID counts are adjusted by the
    change, so nothing here is proportional to the size of the store.
    """
    from yokuryu.graph.fast import IncrementalState, unsupported
    from yokuryu.graph.reasoning import InconsistentData

    if store.incremental is None:
        store.incremental = IncrementalState.of(store.oxigraph, *schema())
    state = store.incremental
    if state is None:
        return None
    live = store.oxigraph
    try:
        report, touched = state.try_change(change.removed, change.added, locate=_graph_locator(live, change.added))
    except InconsistentData as error:
        store.incremental = None  # half-applied there: make a fresh copy next time
        raise RefusedWrite(f"the write was refused and nothing was applied: {error}") from error
    except Exception as error:
        store.incremental = None
        if unsupported(error) or type(error).__name__ == "NeedsFullRederivation":
            return None
        raise
    if touched is None:
        raise RefusedWrite("the write was refused and nothing was applied.", report)
    inferred = ox.NamedNode(str(INFERRED_GRAPH))
    removed, added = set(change.removed), set(change.added)
    _look_up(live, [ox.Quad(t.subject, t.predicate, t.object, inferred) for t in touched])
    for triple in touched:
        quad = ox.Quad(triple.subject, triple.predicate, triple.object, inferred)
        now, before = quad in state.store, quad in live
        if now and not before:
            added.add(quad)
        elif before and not now:
            removed.add(quad)
    meta_removed, meta_added = _recounted_description(store, removed, added)
    return removed | meta_removed, added | meta_added


def _recounted_description(store: KnowledgeStore, removed: set[ox.Quad], added: set[ox.Quad]):
    """The metadata graph's change: each graph's count moved by the change (graphs left empty vanish)."""
    from rdflib.namespace import VOID

    from yokuryu.graph.build import describe_dataset
    from yokuryu.graph.terms import rdflib_triples_to_quads

    meta = ox.NamedNode(str(METADATA_GRAPH))
    counts: dict[URIRef, int] = {}
    for quad in store.oxigraph.quads_for_pattern(None, ox.NamedNode(str(VOID.triples)), None, meta):
        if quad.subject.value != DATASET_IRI and quad.subject != meta:
            counts[URIRef(quad.subject.value)] = int(quad.object.value)
    for sign, quads in ((-1, removed), (1, added)):
        for quad in quads:
            name = URIRef(quad.graph_name.value)
            counts[name] = counts.get(name, 0) + sign
    counts = {name: n for name, n in counts.items() if n > 0}
    new = set(rdflib_triples_to_quads(describe_dataset(counts, store.built_digest() or ""), METADATA_GRAPH))
    old = set(store.oxigraph.quads_for_pattern(None, None, None, meta))
    return old - new, new - old


def _graph_locator(live: ox.Store, added: set[ox.Quad]):
    """Where a focus node is described, for a write's report: its graphs in the store or the write."""
    def locate(node):
        if not isinstance(node, URIRef):
            return []
        term = ox.NamedNode(str(node))
        quads = [*live.quads_for_pattern(term, None, None), *(q for q in added if q.subject == term)]
        return sorted({f"graph <{q.graph_name.value}>" for q in quads if q.graph_name.value not in PROTECTED_GRAPHS})
    return locate


def _locator(graphs: dict[URIRef, Graph]):
    return lambda node: [f"graph <{name}>" for name, g in graphs.items() if (node, None, None) in g]


def _triple(quad: ox.Quad):
    return to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object)


# --- 4. commit -------------------------------------------------------------------------------------


def _commit(store: KnowledgeStore, quads: Iterable[ox.Quad]) -> tuple[set[ox.Quad], set[ox.Quad]]:
    """Turn the store into ``quads`` in one transaction; the quads removed and added."""
    new, old = set(quads), set(store.oxigraph)
    removed, added = old - new, new - old
    apply_in_one_transaction(store, removed, added)
    return removed, added


def apply_in_one_transaction(store: KnowledgeStore, removed: Iterable[ox.Quad], added: Iterable[ox.Quad]) -> None:
    """Remove then add quads as one SPARQL update: readers see the store before or after, never between."""
    parts = []
    removed, added = list(removed), list(added)
    if removed:
        parts.append("DELETE DATA {\n" + _quads_text(removed) + "}")
    if added:
        parts.append("INSERT DATA {\n" + _quads_text(added) + "}")
    if not parts:
        return
    try:
        store.oxigraph.update(" ;\n".join(parts))
        if store.is_persistent:
            store.oxigraph.flush()
    except OSError as error:
        raise StoreFailure(f"the store could not apply the write: {error}") from error


# --- plain mode ------------------------------------------------------------------------------------


def _plain_update(store: KnowledgeStore, change: str | Change, base_iri, on_commit, started) -> WriteOutcome:
    if isinstance(change, Change):
        removed = {q for q in change.removed if q in store.oxigraph and q not in change.added}
        added = {q for q in change.added if q not in store.oxigraph}
        apply_in_one_transaction(store, removed, added)
        if on_commit is not None:
            on_commit(removed, added)
        store.graph_counts_change(removed, added)
        return WriteOutcome(len(added), len(removed), time.monotonic() - started)
    if on_commit is None:
        before = len(store)
        _run(store.oxigraph, change, base_iri, None)
        after = len(store)
        store.graph_counts_change(None, None)  # which graphs changed is not known here: count again
        return WriteOutcome(max(0, after - before), max(0, before - after), time.monotonic() - started)
    # Whoever holds a copy gets the change itself, as quads, because running the update text
    # again could differ (NOW(), RAND(), UUID(), fresh blank nodes).
    direct = _plain_data_change(store, change, base_iri)
    if direct is not None:
        parts = [f"{verb} DATA {{\n{_quad_data(quads)}}}" for verb, quads in
                 (("DELETE", direct.removed), ("INSERT", direct.added)) if quads]
        if parts:
            _run(store.oxigraph, " ;\n".join(parts), None, None)  # one update: readers see before or after
        on_commit(direct.removed, direct.added)
        store.graph_counts_change(direct.removed, direct.added)
        return WriteOutcome(len(direct.added), len(direct.removed), time.monotonic() - started)
    before = set(store.oxigraph)
    _run(store.oxigraph, change, base_iri, None)
    after = set(store.oxigraph)
    removed, added = before - after, after - before
    on_commit(removed, added)
    store.graph_counts_change(removed, added)
    return WriteOutcome(len(added), len(removed), time.monotonic() - started)


def _plain_data_change(store: KnowledgeStore, text: str, base_iri: str | None) -> Change | None:
    """The change of a plain-mode update made only of INSERT DATA / DELETE DATA; else None.

    Without it, the change is found by comparing the whole store before and after the update:
    at a million quads that is seconds of CPU and two million Python objects per write, and the
    walk makes the server copy the in-memory store it shares with the query processes. Blank
    nodes, quoted triples and anything the scratch run refuses go the general way.
    """
    change = Change()
    for op, top, i, prologue in _operations_after_prologue(text):
        verb = top[i].keyword
        if verb not in ("INSERT", "DELETE") or i + 1 >= len(top) or top[i + 1].keyword != "DATA":
            return None
        body = text[top[i + 1].start + len(top[i + 1].text):op.tokens[-1].start + len(op.tokens[-1].text)]
        scratch = ox.Store()
        try:
            _run(scratch, "\n".join(prologue) + "\nINSERT DATA " + body, base_iri, None)
        except WriteError:
            return None  # the real run gives the answer
        for quad in scratch:
            if not all(isinstance(term, (ox.NamedNode, ox.Literal, ox.DefaultGraph))
                       for term in (quad.subject, quad.object, quad.graph_name)):
                return None
            (_insert if verb == "INSERT" else _delete)(change, store.oxigraph, quad)
    return change


def _quad_data(quads) -> str:
    """Quads (IRIs and literals only) as the body of INSERT DATA / DELETE DATA."""
    return "".join(f"{q.subject} {q.predicate} {q.object} .\n" if isinstance(q.graph_name, ox.DefaultGraph) else
                   f"GRAPH {q.graph_name} {{ {q.subject} {q.predicate} {q.object} }}\n" for q in quads)


# --- internals -------------------------------------------------------------------------------------


def _operations_after_prologue(text: str):
    """Each operation of an update with its top-level tokens, the index of its verb and the
    PREFIX/BASE declarations seen so far (they carry over to later operations, as in SPARQL)."""
    prologue: list[str] = []
    for op in operations(text):
        if not op.tokens:
            continue
        top = [t for t in op.tokens if t.depth == 0]
        i = 0
        while i < len(top) and top[i].keyword in ("PREFIX", "BASE"):
            width = 3 if top[i].keyword == "PREFIX" else 2
            prologue.append(" ".join(t.text for t in top[i:i + width]))
            i += width
        if i < len(top):
            yield op, top, i, prologue


def _run(target: ox.Store, text: str, base_iri: str | None, prefixes: dict | None) -> None:
    try:
        # Offline: an update's SERVICE or LOAD cannot reach the network (yokuryu.graph.offline).
        run_offline(target.update, text, base_iri=base_iri, prefixes=prefixes)
    except SyntaxError as error:
        raise UpdateSyntaxError("SPARQL update syntax error: "
                                f"{explain_syntax_error(text, str(error), 'update', prefixes or ())}") from error
    except OSError as error:
        if is_network_refusal(error):
            raise RemoteAccess(network_refused_message("update")) from error
        raise StoreFailure(f"the store could not apply the update: {error}") from error
    except (ValueError, RuntimeError) as error:  # pyoxigraph: "The graph <g> does not exist"…
        raise UnusableWrite(f"the update cannot be applied: {error}") from error


def _refuse_unparseable(text: str, limits: SparqlLimits) -> None:
    try:
        check_sparql(text, "update", limits)
    except SparqlRefused as error:
        raise (RemoteAccess if error.status == 403 else UpdateSyntaxError)(error.message) from None


def _skolem(quad: ox.Quad) -> ox.Quad:
    """Blank nodes written into the knowledge graph get Skolem IRIs, like those of the build."""
    def named(term):
        return ox.NamedNode(str(GENID) + "write-" + term.value) if isinstance(term, ox.BlankNode) else term
    if not isinstance(quad.subject, ox.BlankNode) and not isinstance(quad.object, ox.BlankNode):
        return quad
    return ox.Quad(named(quad.subject), quad.predicate, named(quad.object), quad.graph_name)


def _quads_text(quads) -> str:
    by_graph: dict[str, list[ox.Triple]] = {}
    for quad in quads:
        by_graph.setdefault(quad.graph_name.value, []).append(ox.Triple(quad.subject, quad.predicate, quad.object))
    return "".join(f"GRAPH <{name}> {{\n{ntriples(triples)}}}\n" for name, triples in sorted(by_graph.items()))


def ntriples(triples) -> str:
    """N-Triples text of ``triples`` (also the body of an INSERT DATA block)."""
    out = io.BytesIO()
    ox.serialize(triples, out, format=ox.RdfFormat.N_TRIPLES)
    return out.getvalue().decode("utf-8")
