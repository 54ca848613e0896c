"""OWL-RL reasoning and the SHACL-AF rules: what reaches the inferred graph, what is filtered
and why, contradictions, determinism, and that the rules are standard (pyshacl agrees)."""
from __future__ import annotations

import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, PROV, RDF, RDFS, SH, XSD

from conftest import run_cli
from yokuryu.graph.build import load_inputs
from yokuryu.graph.reasoning import (
    NOISE_REASONS,
    InconsistentData,
    RuleError,
    apply_rules,
    infer,
    noise_reason,
    owl_rl_closure,
)
from yokuryu.ontology import INFERRED_GRAPH, ONTOLOGY_GRAPH, RES, SHAPES_GRAPH, YK

INFERRED = str(INFERRED_GRAPH)


@pytest.fixture(scope="module")
def inputs():
    return load_inputs()


@pytest.fixture(scope="module")
def closure(inputs):
    return owl_rl_closure(inputs.graphs[ONTOLOGY_GRAPH], inputs.data_union())


def graph_of(result, name: str) -> set[tuple]:
    return {(q.subject, q.predicate, q.object) for q in result.quads if q.graph_name.value == name}


def test_inferred_graph_repeats_nothing_asserted(built):
    inferred = graph_of(built, INFERRED)
    assert inferred
    for name in {q.graph_name.value for q in built.quads} - {INFERRED}:
        assert not inferred & graph_of(built, name), name


@pytest.mark.slow
def test_rebuilding_gives_the_same_inferred_graph(built):
    from yokuryu.graph import build
    again = build()
    assert sorted(map(str, graph_of(again, INFERRED))) == sorted(map(str, graph_of(built, INFERRED)))


@pytest.mark.slow
def test_meaningful_inferences_are_kept(inputs):
    inferred = infer(inputs.graphs[ONTOLOGY_GRAPH], inputs.data_union(), inputs.graphs[SHAPES_GRAPH])
    soviet_union = RES["soviet-union"]
    assert (soviet_union, RDF.type, YK.Agent) in inferred                       # subclass
    assert (RES["potsdam-declaration"], YK.hasProvision, RES["potsdam-declaration-article-9"]) in inferred  # inverse
    assert (RES["potsdam-declaration-adherence-ussr"], PROV.wasDerivedFrom, RES["citation-e8"]) in inferred  # super-property
    assert (RES["internment-of-japanese-pows"], YK.carriedOutBy, soviet_union) in inferred
    violations = set(inferred.subjects(RDF.type, YK.TreatyViolation))
    assert violations
    for violation in violations:  # the rules' output gets its RDFS consequences too
        assert (violation, RDF.type, PROV.Entity) in inferred
        assert set(inferred.objects(violation, PROV.wasDerivedFrom)) == set(inferred.objects(violation, YK.evidence))


@pytest.mark.slow
def test_noise_filter_drops_exactly_the_documented_kinds(inputs, closure):
    ontology, data = inputs.graphs[ONTOLOGY_GRAPH], inputs.data_union()
    ontology_blank_nodes = {s for s in ontology.subjects() if isinstance(s, BNode)}
    data_resources = {s for s in data.subjects() if isinstance(s, URIRef)}
    dropped: dict[str, list] = {}
    for triple in closure:
        if triple in data or triple in ontology:
            continue
        reason = noise_reason(triple, ontology_blank_nodes)
        if reason is not None:
            assert reason in NOISE_REASONS
            dropped.setdefault(reason, []).append(triple)
    assert {"reflexive-same-as", "trivial-type", "vocabulary-term"} <= set(dropped)
    # Nothing meaningful is lost: about the resources of the data, only x sameAs x, the three
    # trivial types, and memberships in anonymous class expressions of the ontology are dropped.
    for reason, triples in dropped.items():
        for s, p, o in triples:
            if s in data_resources:
                assert (reason, p) in {("reflexive-same-as", OWL.sameAs), ("trivial-type", RDF.type),
                                       ("ontology-blank-node", RDF.type)}, (s, p, o)
                if reason == "trivial-type":
                    assert o in (OWL.Thing, RDFS.Resource, OWL.NamedIndividual)


@pytest.mark.parametrize("triple, reason", [
    ((RES.x, OWL.sameAs, RES.x), "reflexive-same-as"),
    ((RES.x, RDF.type, OWL.Thing), "trivial-type"),
    ((RES.x, RDF.type, OWL.NamedIndividual), "trivial-type"),
    ((YK.Treaty, RDFS.subClassOf, PROV.Entity), "vocabulary-term"),
    ((Literal("1945", datatype=XSD.gYear), RDF.type, XSD.gYear), "literal-subject"),
    ((RES.x, RDF.type, YK.Agent), None),
    ((RES.x, OWL.sameAs, RES.y), None),
    ((BNode("data-node"), RDF.type, YK.Agent), None),
])
def test_noise_reason_of_single_triples(triple, reason):
    assert noise_reason(triple) == reason


@pytest.mark.slow
def test_contradiction_fails_the_build_naming_the_resources(tmp_path):
    bad = tmp_path / "contradiction.ttl"
    bad.write_text("""@prefix owl: <http://www.w3.org/2002/07/owl#> .
        <https://w3id.org/yokuryu/resource/camp-a> owl:sameAs <https://w3id.org/yokuryu/resource/camp-b> ;
            owl:differentFrom <https://w3id.org/yokuryu/resource/camp-b> .""", encoding="utf-8")
    result = run_cli("build", bad)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "inconsistent" in err and "camp-a" in err and "camp-b" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_infer_raises_on_contradictory_types(inputs):
    data = Graph()
    data.add((RES.x, RDF.type, YK.Treaty))
    ontology = Graph()
    ontology.add((YK.Treaty, OWL.disjointWith, YK.Act))
    data.add((RES.x, RDF.type, YK.Act))
    with pytest.raises(InconsistentData, match="resource/x"):
        infer(ontology, data)


@pytest.mark.slow
def test_rules_give_what_pyshacl_gives(inputs, closure):
    """The rules are standard SHACL-AF: pyshacl's own rule engine derives the same violations."""
    from pyshacl import shacl_rules
    ours = apply_rules(inputs.graphs[SHAPES_GRAPH], closure)
    expanded = Graph()
    expanded += closure
    theirs = shacl_rules(expanded, shacl_graph=inputs.graphs[SHAPES_GRAPH], advanced=True, inference="none")
    derived_by_pyshacl = {t for t in theirs.triples((None, None, None))
                          if not isinstance(t[0], Literal) and t not in closure}
    assert set(ours) == derived_by_pyshacl
    assert len(set(ours.subjects(RDF.type, YK.TreatyViolation))) == 3


def test_a_rule_that_is_not_a_sparql_rule_is_refused():
    shapes = Graph()
    shape, rule = URIRef("https://example.org/shape"), URIRef("https://example.org/rule")
    shapes.add((shape, RDF.type, SH.NodeShape))
    shapes.add((shape, SH.rule, rule))
    shapes.add((rule, RDF.type, SH.TripleRule))
    with pytest.raises(RuleError, match="only sh:SPARQLRule"):
        apply_rules(shapes, Graph())


@pytest.mark.slow
def test_a_deactivated_rule_does_not_run(inputs, closure):
    shapes = Graph()
    shapes += inputs.graphs[SHAPES_GRAPH]
    shapes.add((URIRef("https://w3id.org/yokuryu/shapes#ProvisionBreachRule"), SH.deactivated, Literal(True)))
    assert len(apply_rules(shapes, closure)) == 0
