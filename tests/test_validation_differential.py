"""Compiled SHACL (SPARQL on pyoxigraph) against the reference, pyshacl: the same report.

Every report is compared result by result: focus node, path, value, constraint component,
severity, message, source shape and the files the focus node came from. The intended
differences (docs/validation.md) have their own tests at the end.
"""
from __future__ import annotations

import importlib.util
import random
import re
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import BNode, Graph
from rdflib.namespace import SH

from yokuryu.graph.build import load_inputs
from yokuryu.graph import shacl_sparql
from yokuryu.graph.shacl_sparql import CompiledShapes, UnsupportedShapes
from yokuryu.graph.sparql_engine import LocalEngine
from yokuryu.graph.terms import rdflib_triples_to_quads
from yokuryu.graph.validation import validate
from yokuryu.ontology import ONTOLOGY_GRAPH, SHAPES_GRAPH, load_ontology
from yokuryu.shapes import load_shapes

# Differential checks against the reference implementation: seconds to minutes each.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "data" / "shapes"
YK = "https://w3id.org/yokuryu/ontology#"
REG = "https://example.org/yokuryu-registry/"


def _registry_module():
    spec = importlib.util.spec_from_file_location("registry_generator", ROOT / "bench" / "registry.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


registry = _registry_module()


@pytest.fixture(scope="module")
def compiled() -> CompiledShapes:
    return CompiledShapes.compile(load_shapes(), load_ontology())


def _store(inputs) -> ox.Store:
    store = ox.Store()
    for name, graph in inputs.graphs.items():
        store.extend(rdflib_triples_to_quads(graph, name))
    return store


def _rows(report) -> list[tuple]:
    """A report's results as comparable rows; language tags lower-cased (the store does that)."""
    def value(text):
        return re.sub(r"@([A-Za-z0-9-]+)$", lambda m: "@" + m.group(1).lower(), text) if text else text
    return sorted(((v.focus, v.path, value(v.value), v.severity, v.message, v.shape, v.files, v.inferred_type)
                   for v in report.violations), key=repr)  # repr: None and text in one order


def _both(extra_files, compiled):
    inputs = load_inputs(extra_files)
    reference = validate(inputs.data_union(), shapes=inputs.graphs[SHAPES_GRAPH],
                         ontology=inputs.graphs[ONTOLOGY_GRAPH], locate=inputs.files_mentioning)
    fast = compiled.validate(LocalEngine(_store(inputs)))
    return inputs, reference, fast


def _components(reference_graph) -> list[tuple]:
    """(focus, component, path) of each pyshacl result, the report rows leave the component out."""
    rows = []
    for result in reference_graph.subjects(SH.resultSeverity, None):
        focus = reference_graph.value(result, SH.focusNode)
        path = reference_graph.value(result, SH.resultPath)
        rows.append(("[blank node]" if isinstance(focus, BNode) else str(focus),
                     str(reference_graph.value(result, SH.sourceConstraintComponent)),
                     None if path is None else ("[path]" if isinstance(path, BNode) else str(path))))
    return sorted(rows)


def _fast_components(report) -> list[tuple]:
    return sorted(("[blank node]" if isinstance(r.focus, ox.BlankNode) else r.focus.value, r.component,
                   None if r.path is None else ("[path]" if isinstance(r.path, BNode) else str(r.path)))
                  for r in report.results)


def assert_same(inputs, reference, fast):
    assert fast.conforms == reference.conforms
    assert _rows(fast.to_validation_report(locate=inputs.files_mentioning)) == _rows(reference)
    assert _fast_components(fast) == _components(reference.graph)


def test_bundled_graph_same_report(compiled):
    inputs, reference, fast = _both([], compiled)
    assert reference.conforms and fast.conforms
    assert_same(inputs, reference, fast)


@pytest.mark.parametrize("fixture", sorted(p.stem for p in BROKEN.glob("*.ttl")))
def test_each_shape_fault_same_report(fixture, compiled):
    inputs, reference, fast = _both([BROKEN / f"{fixture}.ttl"], compiled)
    assert not reference.conforms
    assert_same(inputs, reference, fast)


@pytest.mark.parametrize("anchor_limit", [0, 10**9], ids=["joins", "anchored"])
def test_every_registry_fault_kind_same_report(tmp_path, compiled, monkeypatch, anchor_limit):
    # Both query plans: shapes with many focus nodes are checked by joins, few by anchored queries.
    monkeypatch.setattr(shacl_sparql, "_ANCHOR_LIMIT", anchor_limit)
    made = registry.generate(60, seed=2, faults=len(registry.FAULT_KINDS))
    path = tmp_path / "registry.ttl"
    made.write(path)
    inputs, reference, fast = _both([path], compiled)
    assert_same(inputs, reference, fast)
    assert {(f.focus, f.component, f.path) for f in made.faults} == set(_fast_components(fast))


@pytest.mark.slow
def test_10k_registry_with_faults_same_report(tmp_path, compiled):
    made = registry.generate(registry.persons_for_size("10k"), seed=5, faults=24)
    path = tmp_path / "registry.trig"
    made.write(path)
    inputs, reference, fast = _both([path], compiled)
    assert len(fast.results) == 24
    assert_same(inputs, reference, fast)


def test_ill_typed_dates_and_odd_values_same_report(tmp_path, compiled):
    path = tmp_path / "odd.ttl"
    path.write_text(f"""
        @prefix yk: <{YK}> . @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
        @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
        <https://example.org/e1> a yk:Event ; rdfs:label "e1"@en ; yk:date "1945-xx"^^xsd:date .
        <https://example.org/e2> a yk:Event ; rdfs:label "e2"@en ; yk:startDate "1945-08"^^xsd:gYearMonth ;
            yk:endDate "1945"^^xsd:gYear, "1946"^^xsd:gYear .
        <https://example.org/est> a yk:Estimate ; yk:minimumValue 10 ; yk:maximumValue "ten" ;
            yk:heldBy <https://example.org/e1> ; yk:basis "b"@en ; yk:statedIn <https://example.org/s> .
        <https://example.org/p> a yk:Person ; rdfs:label "no language" ; yk:occupation yk:Soldier, "a soldier" .
        <https://example.org/w> a yk:Novel ; rdfs:label "w"@en ; yk:author <https://example.org/p> ;
            yk:genre yk:Poetry ; yk:year "1976" .
        [] a yk:Event ; rdfs:label "an event with no IRI"@en ; yk:date "1945-yy"^^xsd:date, "1946"^^xsd:gYear .
    """, encoding="utf-8")
    inputs, reference, fast = _both([path], compiled)
    assert not reference.conforms
    assert_same(inputs, reference, fast)
    # A literal where the range says "a yk:Occupation" fails sh:class; a blank focus node's bad
    # date and second date are found although the node cannot be named in a query.
    found = {(r.focus.value if isinstance(r.focus, ox.NamedNode) else "[blank]", r.component.rsplit("#")[-1])
             for r in fast.results}
    assert {("https://example.org/p", "ClassConstraintComponent"), ("[blank]", "OrConstraintComponent"),
            ("[blank]", "MaxCountConstraintComponent"), ("[blank]", "NodeKindConstraintComponent")} <= found


# -- focus-restricted and incremental validation -----------------------------------------------

@pytest.fixture(scope="module")
def registry_store(tmp_path_factory):
    made = registry.generate(registry.persons_for_size("10k"), seed=9, faults=12)
    path = tmp_path_factory.mktemp("registry") / "registry.ttl"
    made.write(path)
    return made, _store(load_inputs([path]))


def test_focus_restricted_equals_full_restricted(registry_store, compiled):
    made, store = registry_store
    engine = LocalEngine(store)
    full = compiled.validate(engine)
    rng = random.Random(4)
    faulty = [ox.NamedNode(f.focus) for f in made.faults]
    clean = [ox.NamedNode(f"{REG}person-{i}") for i in rng.sample(range(made.persons), 20)]
    focus = set(rng.sample(faulty, 6) + clean + [ox.NamedNode(f"{REG}camp-0")])
    restricted = compiled.validate(engine, focus=focus)
    assert restricted.results == [r for r in full.results if r.focus in focus]
    assert len(restricted.results) >= 6


def test_joined_and_anchored_plans_give_the_same_results(registry_store, compiled, monkeypatch):
    _, store = registry_store
    engine = LocalEngine(store)
    monkeypatch.setattr(shacl_sparql, "_ANCHOR_LIMIT", 0)
    joined = compiled.validate(engine)
    monkeypatch.setattr(shacl_sparql, "_ANCHOR_LIMIT", 10**9)
    anchored = compiled.validate(engine)
    assert joined.results == anchored.results and len(joined.results) == 12


def _changes():
    """Edits of a clean registry, each as (added, removed) triples: the kinds of writes users make."""
    def n(local):
        return ox.NamedNode(REG + local)

    def yk(local):
        return ox.NamedNode(YK + local)
    label = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
    gyear = ox.NamedNode("http://www.w3.org/2001/XMLSchema#gYear")
    return [
        ([], "person-3", label),                                   # remove a person's names
        ([ox.Triple(n("person-4"), yk("birthDate"), ox.Literal("1901", datatype=gyear))], None, None),
        ([ox.Triple(n("camp-2"), yk("operatedBy"), n("new-operator"))], None, None),
        ([], "estimate-camp-1-a", yk("basis")),                   # an estimate loses its basis
        ([], "camp-1", yk("location")),                           # a camp loses its location
        ([ox.Triple(n("toll-region-0"), yk("component"), n("estimate-camp-0-a"))], None, None),  # sum changes
        ([ox.Triple(n("new-death"), ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                    yk("Death")), ox.Triple(n("new-death"), label, ox.Literal("a death", language="en"))], None, None),
        ([], "register-volume-0", None),                          # a source document loses everything
        ([ox.Triple(n("stay-5-0"), yk("heldIn"), ox.Literal("not a camp"))], None, None),
        ([ox.Triple(n("person-6"), yk("memberOf"), n("unit-0"))], None, None),
        ([ox.Triple(n("person-7"), yk("occupation"), n("person-8"))], None, None),
    ]


@pytest.mark.parametrize("case", range(len(_changes())))
def test_incremental_validation_after_a_change_equals_full(case, compiled):
    # A clean registry: the store conforms before the change, so the results after it are all
    # results the change caused, and the affected focus nodes must find every one of them.
    made = registry.generate(120, seed=11)
    store = ox.Store()
    graph = ox.NamedNode("https://w3id.org/yokuryu/graph/user/registry")
    store.load(made.turtle().encode(), format=ox.RdfFormat.TURTLE, to_graph=graph)
    store.extend(rdflib_triples_to_quads(load_ontology(), ONTOLOGY_GRAPH))
    engine = LocalEngine(store)
    assert compiled.validate(engine).conforms
    added, subject, predicate = _changes()[case]
    removed = []
    if subject is not None:
        removed = [q.triple for q in store.quads_for_pattern(ox.NamedNode(REG + subject), predicate, None, graph)]
        assert removed
    for triple in removed:
        store.remove(ox.Quad(triple.subject, triple.predicate, triple.object, graph))
    for triple in added:
        store.add(ox.Quad(triple.subject, triple.predicate, triple.object, graph))
    affected = compiled.affected_focus_nodes(engine, added, removed)
    full = compiled.validate(engine)
    assert compiled.validate(engine, focus=affected).results == full.results


def test_a_schema_change_asks_for_full_validation(compiled):
    engine = LocalEngine(ox.Store())
    sub = ox.Triple(ox.NamedNode(YK + "Camp"), ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf"),
                    ox.NamedNode(YK + "Place"))
    assert compiled.affected_focus_nodes(engine, [sub], []) is None


# -- what the compiler refuses ------------------------------------------------------------------

@pytest.mark.parametrize("constraint", [
    "sh:closed true",
    "sh:property [ sh:path yk:memberOf ; sh:qualifiedValueShape [ sh:class yk:Agent ] ; sh:qualifiedMinCount 1 ]",
    "sh:property [ sh:path [ sh:zeroOrMorePath yk:locatedIn ] ; sh:minCount 1 ]",
    "sh:property [ sh:path rdf:type ; sh:minCount 1 ]",
    "sh:sparql [ sh:select \"SELECT $this WHERE { $this <https://w3id.org/yokuryu/ontology#location> ?x }\" ]",
])
def test_unsupported_constructs_raise_at_compile_time(constraint):
    shapes = Graph().parse(data=f"""
        @prefix sh: <http://www.w3.org/ns/shacl#> . @prefix yk: <{YK}> .
        @prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
        <https://example.org/S> a sh:NodeShape ; sh:targetClass yk:Person ; {constraint} .
    """, format="turtle")
    with pytest.raises(UnsupportedShapes):
        CompiledShapes.compile(shapes, load_ontology())


def test_queries_are_plain_sparql_a_generic_parser_reads(compiled):
    # Engine-neutral: rdflib's own SPARQL 1.1 parser accepts every compiled query.
    from rdflib.plugins.sparql import prepareQuery
    for check in compiled.checks:
        prepareQuery(check.query.replace("#DATASET#", " FROM <https://example.org/g>").replace("#FOCUS#", ""))
