"""The fast engine of :func:`yokuryu.graph.build.derive`: compiled SHACL and OWL-RL on pyoxigraph.

The asserted quads go straight into a pyoxigraph store (never through rdflib); the shapes,
compiled to SPARQL (:mod:`yokuryu.graph.shacl_sparql`), validate them there; the OWL-RL rules
the ontology triggers, compiled to SPARQL (:mod:`yokuryu.graph.owlrl_sparql`), derive the
inferred graph there, the SHACL-AF rules included. The result is the same quads as the
reference engines' (tested in ``tests/test_write_sequences.py`` and by the compilers' own
differential tests).

:func:`derive_fast` answers ``None`` when the compilers are not installed or say that a shape or
an axiom is beyond them (an ``Unsupported…`` error): the caller then runs the reference engines.
"""
from __future__ import annotations

import logging

import pyoxigraph as ox
from rdflib import URIRef

from yokuryu.graph.progress import Progress
from yokuryu.graph.sparql_engine import LocalEngine
from yokuryu.ontology import GRAPH, INFERRED_GRAPH, METADATA_GRAPH, ONTOLOGY_GRAPH, SHAPES_GRAPH

# Where the compiled reasoner keeps its own graphs (yokuryu.graph.owlrl_sparql.REASONER_PREFIX).
REASONER_GRAPHS = str(GRAPH) + "reasoner/"

log = logging.getLogger(__name__)


def unsupported(error: BaseException) -> bool:
    """True for the compilers' "this is beyond me" errors (``UnsupportedShape``, ``UnsupportedAxiom``…)."""
    return any(cls.__name__.startswith("Unsupported") for cls in type(error).__mro__)


def compilers():
    """The compiled shapes and reasoner classes, or None while they are not available."""
    try:
        from yokuryu.graph.owlrl_sparql import CompiledReasoner
        from yokuryu.graph.shacl_sparql import CompiledShapes
    except ImportError:
        return None
    return CompiledShapes, CompiledReasoner


def derive_fast(inputs, *, digest: str, locate=None, reason: bool = True, progress: Progress | None = None):
    """A :class:`yokuryu.graph.build.Derivation` made by the compiled engines, or None.

    It works in the store the inputs were parsed into (taken over, not copied) and leaves in it
    exactly the quads to store, so nothing of the data goes through Python objects.
    """
    from yokuryu.graph.build import Derivation

    progress = progress or Progress()
    found = compilers()
    if found is None:
        return None
    compiled_shapes, compiled_reasoner = found
    graphs = inputs.graphs_for_schema()
    ontology, shapes = graphs[ONTOLOGY_GRAPH], graphs[SHAPES_GRAPH]
    try:
        validator = compiled_shapes.compile(shapes, ontology)
        reasoner = compiled_reasoner.compile(ontology, shapes) if reason else None
    except Exception as error:  # noqa: BLE001 - only the compilers' own "unsupported" errors fall back
        if unsupported(error):
            log.info("fast engine unavailable: %s", error)
            return None
        raise
    asserted = inputs.triple_count()
    with progress.stage("load", unit="quads") as stage:
        store = inputs.take_store()  # the parsed files are in it already: this adds the schema and sources
        stage.done(asserted)
    engine = LocalEngine(store)
    data_graphs = [str(name) for name in inputs.names() if name not in (SHAPES_GRAPH,)]
    with progress.stage("validate") as stage:
        report = with_results_graph(validator.validate(engine, data_graphs=data_graphs).to_validation_report(locate))
        stage.done(asserted)
    if not report.conforms:
        return Derivation(report, engine="fast")
    if reasoner is not None:
        try:
            with progress.stage("reason") as stage:
                reasoner.materialize(engine)
                stage.done(_count(store, str(INFERRED_GRAPH)))
        except Exception as error:  # noqa: BLE001 - data the compiled rules do not cover (owl:sameAs…)
            if unsupported(error):
                log.info("fast engine cannot reason over this data: %s", error)
                inputs.give_back(store)  # the reference engines read the asserted graphs from it
                return None
            raise
    with progress.stage("describe", unit="quads") as stage:
        count = finish_store(store, order=inputs.names(), digest=digest)
        stage.done(count)
    return Derivation(report, engine="fast", dataset=store, count=count)


def finish_store(store: ox.Store, *, order, digest: str) -> int:
    """Turn the working store into the build: the reasoner's own graphs dropped, the dataset
    description (VoID: each graph's licence and triple count) added, blank nodes named.

    Everything here but the blank-node quads runs inside pyoxigraph: the counts are one query,
    the private graphs are dropped whole. Only the quads that mention a blank node (the schema's
    restrictions and lists, in practice) become Python objects, to be named by RDFC-1.0.
    Returns the number of quads in the store (counting a large store costs a scan).
    """
    from yokuryu.graph.build import describe_dataset, skolemize

    for graph in list(store.named_graphs()):
        if isinstance(graph, ox.NamedNode) and is_private(graph.value):
            store.remove_graph(graph)
    rows = store.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
    counts = {URIRef(row["g"].value): int(row["n"].value) for row in rows if isinstance(row["g"], ox.NamedNode)}
    ordered = {name: counts[name] for name in order if name in counts}
    ordered.update(counts)
    with_blank = list(store.query(
        "SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o FILTER(isBlank(?s) || isBlank(?o)) } }"))
    blank_quads = [ox.Quad(row["s"], row["p"], row["o"], row["g"]) for row in with_blank]
    graphs: dict[URIRef, list[ox.Quad]] = {}
    for quad in blank_quads:
        graphs.setdefault(URIRef(quad.graph_name.value), []).append(quad)
    named = {name: _triples_graph(quads) for name, quads in graphs.items()}
    named[METADATA_GRAPH] = describe_dataset(ordered, digest)
    for quad in blank_quads:
        store.remove(quad)
    skolemized = skolemize(named)
    store.bulk_extend(skolemized)
    return sum(counts.values()) - len(blank_quads) + len(skolemized)  # the quads now in the store


def is_private(graph: str) -> bool:
    """Graphs the compiled reasoner keeps for itself (support, rule output, scratch): never stored."""
    return graph.startswith(REASONER_GRAPHS) or graph == str(METADATA_GRAPH)


def _triples_graph(quads):
    from rdflib import Graph

    from yokuryu.graph.terms import to_rdflib
    graph = Graph()
    for q in quads:
        graph.add((to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)))
    return graph


def _count(store: ox.Store, graph: str) -> int:
    rows = store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
    return int(next(iter(rows))["n"].value)



# --- incremental writes ------------------------------------------------------------------------


class IncrementalState:
    """A private working copy of a built store, with the compiled reasoner's own graphs, for writes.

    The live store holds what readers see; this copy also holds what the reasoner needs to
    extend or retract its closure (``…/graph/reasoner/…``). A write is tried here first:
    the change is applied, the focus nodes it can reach are validated, the closure is updated
    from the change; only then does the live store get the difference, in one transaction.
    Anything that fails half-way drops the copy (the next write makes a new one), so the copy
    never drifts from the live store.
    """

    def __init__(self, store: ox.Store, validator, reasoner, data_graphs: set[str]):
        self.store = store
        self.engine = LocalEngine(store)
        self.validator = validator
        self.reasoner = reasoner
        self.data_graphs = data_graphs

    @classmethod
    def of(cls, live: ox.Store, ontology, shapes) -> IncrementalState | None:
        """Copy ``live`` and materialise the reasoner's graphs on it (the cost of one reasoning pass)."""
        found = compilers()
        if found is None:
            return None
        compiled_shapes, compiled_reasoner = found
        try:
            validator = compiled_shapes.compile(shapes, ontology)
            reasoner = compiled_reasoner.compile(ontology, shapes)
        except Exception as error:  # noqa: BLE001
            if unsupported(error):
                return None
            raise
        store = ox.Store()
        store.bulk_extend(q for q in live if not is_private(q.graph_name.value)
                          and q.graph_name != ox.NamedNode(str(ONTOLOGY_GRAPH)))
        # The ontology as parsed (blank nodes, not the stored Skolem IRIs): the rules read its axioms.
        from yokuryu.graph.terms import rdflib_triples_to_quads
        store.bulk_extend(rdflib_triples_to_quads(ontology, ONTOLOGY_GRAPH))
        try:
            reasoner.materialize(LocalEngine(store))
        except Exception as error:  # noqa: BLE001
            if unsupported(error):
                return None
            raise
        # A store that has just taken a whole materialisation (a hundred updates, a million
        # inserts and deletes) answers the small lookups of later writes several times slower
        # than a fresh copy of the same quads (a 10-triple addition: 0.05 s against 0.01 s CPU
        # at 100k, 1 s against 0.02 s at 1M), so the working copy is a fresh copy.
        compact = ox.Store()
        compact.bulk_extend(store)
        del store
        state = cls(compact, validator, reasoner, set())
        state.data_graphs = state._asserted_graphs()
        reasoner._fact_graphs(state.engine, fresh=True)  # list the graphs now, not in the first write
        return state

    def _asserted_graphs(self) -> set[str]:
        return {g.value for g in self.store.named_graphs() if isinstance(g, ox.NamedNode)
                and not is_private(g.value) and g.value not in (str(INFERRED_GRAPH), str(SHAPES_GRAPH))}

    def try_change(self, removed: set[ox.Quad], added: set[ox.Quad], locate=None):
        """Validate and reason over a change here; the report if refused, else the inferred delta.

        Returns ``(report, None)`` when the data after the change breaks a shape (this copy is
        back as it was), or ``(report, touched)``: the inferred triples the change may have
        added or removed (this copy now holds the new state).
        """
        store = self.store
        for q in removed:
            store.remove(q)
        for q in added:
            store.add(q)
        graphs = sorted(self.data_graphs | {q.graph_name.value for q in added})
        focus = self.validator.affected_focus_nodes(self.engine, added=added, removed=removed, data_graphs=graphs)
        report = with_results_graph(
            self.validator.validate(self.engine, data_graphs=graphs, focus=focus).to_validation_report(locate))
        # Back to the old state: the reasoner applies the change itself, from there.
        for q in added:
            store.remove(q)
        for q in removed:
            store.add(q)
        if not report.conforms:
            return report, None
        # The reasoner's deltas name every inferred triple the change may have touched; the
        # caller compares each with the live store, so a superset is harmless.
        touched: set[ox.Triple] = set()
        for change, call in ((removed, self.reasoner.remove), (added, self.reasoner.add)):
            if change:
                delta = call(self.engine, change)
                touched |= delta.added | delta.removed | delta.rederived
        self.data_graphs = self._asserted_graphs()
        return report, touched



def with_results_graph(report):
    """The report with a SHACL results graph (``sh:ValidationReport``) built from its violations,
    for the clients that ask for the report in Turtle; the compiled validator reports rows only."""
    from rdflib import BNode, Graph, Literal
    from rdflib.namespace import RDF, SH
    from rdflib.util import from_n3

    if len(report.graph):
        return report
    graph = Graph()
    graph.bind("sh", SH)
    root = BNode()
    graph.add((root, RDF.type, SH.ValidationReport))
    graph.add((root, SH.conforms, Literal(report.conforms)))
    for violation in report.violations:
        result = BNode()
        graph.add((root, SH.result, result))
        graph.add((result, RDF.type, SH.ValidationResult))
        graph.add((result, SH.resultSeverity, SH[violation.severity]))
        graph.add((result, SH.resultMessage, Literal(violation.message)))
        for predicate, text in ((SH.focusNode, violation.focus), (SH.resultPath, violation.path),
                                (SH.value, violation.value), (SH.sourceShape, violation.shape)):
            if text and not text.startswith("["):  # "[blank node]", "[complex path]": nothing to name
                try:
                    graph.add((result, predicate, from_n3(text)))
                except Exception:  # noqa: BLE001 - a term that does not read back is left out
                    continue
    report.graph = graph
    return report
