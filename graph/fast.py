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
from yokuryu.ontology import INFERRED_GRAPH, METADATA_GRAPH, ONTOLOGY_GRAPH, SHAPES_GRAPH

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
    """A :class:`yokuryu.graph.build.Derivation` made by the compiled engines, or None."""
    from yokuryu.graph.build import Derivation, describe_dataset, skolemize

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
    store = ox.Store()
    with progress.stage("load", unit="quads") as stage:
        store.bulk_extend(inputs.quads())
        stage.done(len(store))
    engine = LocalEngine(store)
    with progress.stage("validate") as stage:
        report = validator.validate(engine)
        stage.done(len(store))
    if locate is not None:
        report = with_files(report, locate)
    if not report.conforms:
        return Derivation(report, engine="fast")
    if reasoner is not None:
        with progress.stage("reason") as stage:
            reasoner.materialize(engine)
            stage.done(_count(store, INFERRED_GRAPH))
    with progress.stage("describe", unit="quads") as stage:
        counts = {URIRef(g.value): _count(store, g.value) for g in store.named_graphs()
                  if isinstance(g, ox.NamedNode) and g.value != str(METADATA_GRAPH)}
        ordered = {name: counts[name] for name in inputs.names() if name in counts}
        ordered.update(counts)
        quads = store_quads(store, schema={ONTOLOGY_GRAPH: ontology, SHAPES_GRAPH: shapes},
                            metadata=describe_dataset(ordered, digest), skolemize=skolemize)
        stage.done(len(quads))
    return Derivation(report, quads, engine="fast")


def store_quads(store: ox.Store, *, schema, metadata, skolemize) -> list[ox.Quad]:
    """The store's quads with the description added and blank nodes named as the build names them.

    RDFC-1.0 labels a blank node from the quads that mention blank nodes only, so only those
    quads (the schema's restrictions and lists, in practice) go through canonicalisation.
    """
    plain, with_blank = [], {}
    for quad in store:
        if isinstance(quad.subject, ox.BlankNode) or isinstance(quad.object, ox.BlankNode):
            with_blank.setdefault(URIRef(quad.graph_name.value), []).append(quad)
        else:
            plain.append(quad)
    graphs = {name: _triples_graph(quads) for name, quads in with_blank.items()}
    graphs[METADATA_GRAPH] = metadata
    named = skolemize(graphs)
    quads = plain + named
    quads.sort(key=lambda q: (str(q.graph_name), str(q.subject), str(q.predicate), str(q.object)))
    return quads


def with_files(report, locate):
    """The report with each violation's files filled in by ``locate`` where the validator left none."""
    from dataclasses import replace

    from rdflib import URIRef as Iri

    changed = []
    for violation in report.violations:
        if violation.files or not violation.focus or not violation.focus.startswith("<"):
            changed.append(violation)
            continue
        changed.append(replace(violation, files=tuple(locate(Iri(violation.focus[1:-1])))))
    report.violations = changed
    return report


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

