"""Writes (SPARQL Update and graph store PUT/POST/DELETE): one serialised, all-or-nothing step.

Every write is SPARQL Update text, so one path handles both protocols.

- Plain mode (``yokuryu serve --empty``): the update runs on the store in one pyoxigraph
  transaction.
- Knowledge-graph mode: the update runs on a copy of the store (the candidate). The candidate's
  asserted graphs are then validated with the shapes and reasoned over exactly as
  ``yokuryu build`` does (same ``validate``, ``infer``, VoID description and Skolem IRIs); if
  they do not conform, the write is refused with the report and nothing is applied. Otherwise
  the difference between the store and the candidate — asserted triples, the new inferred graph
  and the recounted metadata — is committed in one pyoxigraph transaction, so readers see the
  old state or the new one, never a mixture.

Trade-off, measured on the bundled graph: validation and OWL-RL reasoning run over the whole
asserted data on every write (well under a second today), not over the neighbourhood of what
changed. An OWL-RL closure is not local in general (one new ``owl:sameAs`` or subclass axiom
can change inferences anywhere) and shape targets reach across resources, so a neighbourhood
shortcut would risk committing an unchecked graph; the whole-graph check is always right, and
its cost grows with the graph (owlrl ≈ 700 triples/s), not with the write.
"""
from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from functools import lru_cache

import pyoxigraph as ox
from flask import current_app, has_app_context
from rdflib import Graph, URIRef

from yokuryu.graph.build import describe_dataset, skolemize
from yokuryu.graph.reasoning import InconsistentData, infer
from yokuryu.graph.store import KnowledgeStore
from yokuryu.graph.terms import to_rdflib
from yokuryu.graph.validation import ValidationReport, validate
from yokuryu.ontology import (
    GENID,
    INFERRED_GRAPH,
    METADATA_GRAPH,
    ONTOLOGY_GRAPH,
    PREFIXES,
    SHAPES_GRAPH,
    load_ontology,
)
from yokuryu.server.config import ServerConfig
from yokuryu.server.errors import ProtocolError
from yokuryu.server.negotiation import choose_report
from yokuryu.server.sparql_text import with_update_dataset
from yokuryu.shapes import load_shapes

log = logging.getLogger(__name__)

# Graphs a write may never change: the schema, and what the server derives itself.
PROTECTED_GRAPHS = {
    str(ONTOLOGY_GRAPH): "the ontology (it is built from ontology/*.ttl)",
    str(SHAPES_GRAPH): "the shapes (they are built from shapes/*.ttl)",
    str(INFERRED_GRAPH): "the inferred graph (the server recomputes it after every write)",
    str(METADATA_GRAPH): "the dataset description (the server recomputes it after every write)",
}


@dataclass
class WriteOutcome:
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


def apply_update(store: KnowledgeStore, config: ServerConfig, update: str, *,
                 base_iri: str | None = None) -> WriteOutcome:
    """Run ``update`` as one transaction, validated and reasoned over in knowledge-graph mode."""
    started = time.monotonic()
    with store.write_lock:
        if config.empty:
            executor = _executor_to_tell()
            before = set(store.oxigraph) if executor else len(store)
            _run(store.oxigraph, update, base_iri, None)
            store.touch()
            if not executor:
                after = len(store)
                return WriteOutcome(max(0, after - before), max(0, before - after), time.monotonic() - started)
            # Query processes hold a copy of the store: they get the change itself, as quads, because
            # running the update text again could differ (NOW(), RAND(), UUID(), fresh blank nodes).
            after = set(store.oxigraph)
            removed, added = before - after, after - before
            executor.committed(removed, added)
            return WriteOutcome(len(added), len(removed), time.monotonic() - started)
        candidate = ox.Store()
        candidate.extend(store.oxigraph)
        graphs = [g.value for g in store.oxigraph.named_graphs() if isinstance(g, ox.NamedNode)]
        # The knowledge graph's default graph is the union of its graphs: let WHERE see it too.
        rewritten = with_update_dataset(update, graphs, graphs, protocol=False) if config.union_default_graph else update
        _run(candidate, rewritten, base_iri, PREFIXES)
        _refuse_protected_changes(store.oxigraph, candidate)
        if set(candidate) == set(store.oxigraph):
            return WriteOutcome(0, 0, time.monotonic() - started)  # nothing changed: nothing to check
        new_quads = rebuild(candidate, store.built_digest() or "")
        removed, added = _commit(store, set(new_quads))
        executor = _executor_to_tell()
        if executor:
            executor.committed(removed, added)
    return WriteOutcome(len(added), len(removed), time.monotonic() - started, checked=True)


def rebuild(candidate: ox.Store, digest: str) -> list[ox.Quad]:
    """Validate and reason over the candidate's asserted graphs as the build does; its quads."""
    graphs: dict[URIRef, Graph] = {}
    for quad in candidate:
        if isinstance(quad.graph_name, ox.DefaultGraph):
            raise ProtocolError(
                "400 Bad Request: in the knowledge graph the default graph is the union of all graphs "
                "and holds nothing of its own; write your triples into a named graph, e.g. "
                "INSERT DATA { GRAPH <https://w3id.org/yokuryu/graph/user/my-notes> { … } }")
        name = quad.graph_name.value
        if name in PROTECTED_GRAPHS:
            continue
        graphs.setdefault(URIRef(name), Graph()).add(
            (_skolem(quad.subject), to_rdflib(quad.predicate), _skolem(quad.object)))
    ontology, shapes = _schema()
    data = Graph()
    for graph in graphs.values():
        data += graph
    report = validate(data, shapes=shapes, ontology=ontology,
                      locate=lambda node: [f"graph <{name}>" for name, g in graphs.items() if (node, None, None) in g])
    if not report.conforms:
        raise refusal(report)
    try:
        inferred = infer(ontology, data, shapes)
    except InconsistentData as error:
        raise ProtocolError(f"422 Unprocessable Content: the write was refused and nothing was applied: {error}",
                            422) from error
    everything = {ONTOLOGY_GRAPH: ontology, SHAPES_GRAPH: shapes, **graphs, INFERRED_GRAPH: inferred}
    everything[METADATA_GRAPH] = describe_dataset(everything, digest)
    return skolemize(everything)


def refusal(report: ValidationReport) -> ProtocolError:
    """A 422 carrying the validation report as text, or as Turtle/JSON when the client asks."""
    head = "422 Unprocessable Content: the write was refused and nothing was applied.\n\n"
    # Plain text unless the client names Turtle or JSON itself (a bare */* gets the text).
    best = choose_report(("text/plain", "text/turtle", "application/json"))
    if best == "text/turtle":
        return ProtocolError(head, 422, body=report.graph.serialize(format="turtle").encode(),
                             media_type="text/turtle")
    if best == "application/json":
        import json
        body = json.dumps({"conforms": False, "applied": False,
                           "results": [v.as_dict() for v in report.violations]}, indent=2)
        return ProtocolError(head, 422, body=body.encode(), media_type="application/json")
    return ProtocolError(head + report.as_text(), 422)


# --- graph store writes, as SPARQL Update text ---------------------------------------------


def insert_data(graph: str | None, triples: list[ox.Triple]) -> str:
    """``INSERT DATA`` for ``triples`` into ``graph`` (``None``: the default graph)."""
    if not triples:
        return ""
    body = _ntriples(triples)
    return f"INSERT DATA {{ GRAPH <{graph}> {{\n{body}}} }}" if graph else f"INSERT DATA {{\n{body}}}"


def drop(graph: str | None) -> str:
    return f"DROP SILENT GRAPH <{graph}>" if graph else "DROP SILENT DEFAULT"


# --- internals -------------------------------------------------------------------------------


def _run(target: ox.Store, update: str, base_iri: str | None, prefixes: dict | None) -> None:
    try:
        target.update(update, base_iri=base_iri, prefixes=prefixes)
    except SyntaxError as error:
        raise ProtocolError(f"400 Bad Request: SPARQL update syntax error: {error}") from error
    except ValueError as error:
        raise ProtocolError(f"400 Bad Request: the update cannot be applied: {error}") from error
    except OSError as error:
        raise ProtocolError(f"500 Internal Server Error: the store could not apply the update: {error}",
                            500) from error


def _refuse_protected_changes(live: ox.Store, candidate: ox.Store) -> None:
    for name, what in PROTECTED_GRAPHS.items():
        graph = ox.NamedNode(name)
        before = set(live.quads_for_pattern(None, None, None, graph))
        after = set(candidate.quads_for_pattern(None, None, None, graph))
        if before != after:
            raise ProtocolError(f"403 Forbidden: writes may not change <{name}>, {what}. Nothing was applied.", 403)


def _commit(store: KnowledgeStore, new: set[ox.Quad]) -> tuple[set[ox.Quad], set[ox.Quad]]:
    """Turn the store into ``new`` in one transaction; the quads removed and added."""
    old = set(store.oxigraph)
    removed, added = old - new, new - old
    parts = []
    if removed:
        parts.append("DELETE DATA {\n" + _quads_text(removed) + "}")
    if added:
        parts.append("INSERT DATA {\n" + _quads_text(added) + "}")
    if parts:
        store.oxigraph.update(" ;\n".join(parts))
        if store.is_persistent:
            store.oxigraph.flush()
        store.touch()
    return removed, added


def _executor_to_tell():
    """The query executor when it holds its own copy of the store and must get every committed change.

    Called under the write lock, so the copy receives changes in commit order, and before the
    write is answered, so a client that reads after its write sees it.
    """
    if not has_app_context():
        return None
    executor = current_app.extensions.get("yokuryu.executor")
    return executor if getattr(executor, "holds_a_copy", False) else None


def _quads_text(quads) -> str:
    by_graph: dict[str, list[ox.Triple]] = {}
    for quad in quads:
        by_graph.setdefault(quad.graph_name.value, []).append(ox.Triple(quad.subject, quad.predicate, quad.object))
    return "".join(f"GRAPH <{name}> {{\n{_ntriples(triples)}}}\n" for name, triples in sorted(by_graph.items()))


def _ntriples(triples) -> str:
    out = io.BytesIO()
    ox.serialize(triples, out, format=ox.RdfFormat.N_TRIPLES)
    return out.getvalue().decode("utf-8")


def _skolem(term):
    """Blank nodes written into the knowledge graph get Skolem IRIs, like those of the build."""
    if isinstance(term, ox.BlankNode):
        return URIRef(str(GENID) + "write-" + term.value)
    return to_rdflib(term)


@lru_cache(maxsize=1)
def _schema() -> tuple[Graph, Graph]:
    """The ontology and shapes the build used (parsed once; writes may not change them)."""
    return load_ontology(), load_shapes()
