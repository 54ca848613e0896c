"""bench/registry.py: a deterministic synthetic registry that passes the shapes, and whose
deliberate faults are exactly what the validator (pyshacl, the reference engine) reports."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph
from rdflib.namespace import SH

from yokuryu.graph.validation import validate
from yokuryu.ontology import load_ontology
from yokuryu.shapes import load_shapes

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "registry.py"


def _load_registry_module():
    spec = importlib.util.spec_from_file_location("registry_generator", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


registry = _load_registry_module()
YK = "https://w3id.org/yokuryu/ontology#"


def run_script(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_same_seed_same_registry_other_seed_other_registry():
    first = registry.generate(60, seed=7, faults=5)
    again = registry.generate(60, seed=7, faults=5)
    other = registry.generate(60, seed=8, faults=5)
    assert first.turtle() == again.turtle() and first.faults == again.faults
    assert first.turtle() != other.turtle()


def test_script_writes_what_the_function_generates(tmp_path):
    out = tmp_path / "registry.ttl"
    result = run_script("--persons", 40, "--seed", 3, "--faults", 2, "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == registry.generate(40, seed=3, faults=2).turtle()
    assert "40 persons" in result.stderr and "2 faults" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("size, low, high", [("10k", 9_000, 11_000), ("100k", 90_000, 110_000)])
def test_sizes_give_about_that_many_triples(size, low, high):
    made = registry.generate(registry.persons_for_size(size), seed=1)
    parsed = list(ox.parse(made.turtle().encode(), format=ox.RdfFormat.TURTLE))
    assert len(parsed) == made.triple_count
    assert low <= made.triple_count <= high


def test_trig_holds_the_same_triples_in_one_named_graph(tmp_path):
    made = registry.generate(30, seed=2)
    out = tmp_path / "registry.trig"
    made.write(out)
    quads = list(ox.parse(path=str(out), format=ox.RdfFormat.TRIG))
    assert {q.graph_name for q in quads} == {ox.NamedNode(registry.GRAPH_IRI)}
    turtle = {q.triple for q in ox.parse(made.turtle().encode(), format=ox.RdfFormat.TURTLE)}
    assert {q.triple for q in quads} == turtle


def test_registry_exercises_what_the_reasoner_and_shapes_do():
    store = ox.Store()
    store.load(registry.generate(200, seed=1).turtle().encode(), format=ox.RdfFormat.TURTLE,
               to_graph=ox.DefaultGraph())

    def ask(pattern: str) -> bool:
        return bool(store.query(f"PREFIX yk: <{YK}> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> ASK {{ {pattern} }}"))

    assert ask("?camp a yk:LabourCamp ; yk:locatedIn/yk:locatedIn/yk:locatedIn ?country . ?country a yk:Country")
    assert ask("?unit yk:subOrganisationOf ?division ; yk:armedForceOf ?state")
    assert ask("?stay yk:heldIn ?camp ; yk:before ?next . ?next a yk:Internment")
    assert ask("?death yk:deceased ?p . ?p yk:deathDate ?d")
    assert ask("?trip a yk:RepatriationEvent ; yk:fromPlace ?a ; yk:toPlace ?b ; yk:date ?d")
    assert ask("?e yk:competesWith ?f . ?f yk:minimumValue ?lo ; yk:maximumValue ?hi")
    assert ask("?toll yk:component ?part . ?part yk:estimatedValue ?n")
    assert ask('?p a yk:Person ; rdfs:label ?ja FILTER(lang(?ja) = "ja")')
    assert ask('?p a yk:Person ; rdfs:label ?latin FILTER(langMatches(lang(?latin), "ja-Latn"))')


def test_list_faults_prints_one_line_per_fault():
    result = run_script("--persons", 185, "--faults", 12, "--list-faults")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 12
    assert {line.split("\t")[0] for line in lines} == set(registry.FAULT_KINDS)


def test_too_many_faults_is_refused_with_a_message():
    result = run_script("--persons", 2, "--faults", 1000, "--list-faults")
    assert result.returncode == 2
    assert "more than this registry has nodes to break" in result.stderr


def _pyshacl_results(made) -> tuple[bool, set]:
    """What the reference validator reports, each result as (focus, node shape, component, path)."""
    shapes = load_shapes()
    report = validate(Graph().parse(data=made.turtle(), format="turtle"), shapes=shapes, ontology=load_ontology())
    results = set()
    for result in report.graph.subjects(SH.resultSeverity, None):
        source = report.graph.value(result, SH.sourceShape)
        # A property shape's result is credited to the node shape that holds it.
        node_shape = shapes.value(None, SH.property, source) or source
        path = report.graph.value(result, SH.resultPath)
        results.add((str(report.graph.value(result, SH.focusNode)), str(node_shape),
                     str(report.graph.value(result, SH.sourceConstraintComponent)), str(path) if path else None))
    return report.conforms, results


@pytest.mark.slow
def test_a_clean_10k_registry_conforms_to_the_shapes():
    conforms, results = _pyshacl_results(registry.generate(registry.persons_for_size("10k"), seed=1))
    assert conforms and not results


@pytest.mark.slow
def test_the_faults_are_exactly_what_pyshacl_reports():
    made = registry.generate(registry.persons_for_size("10k"), seed=1, faults=12)
    assert {f.kind for f in made.faults} == set(registry.FAULT_KINDS)
    conforms, results = _pyshacl_results(made)
    assert not conforms
    assert results == {(f.focus, f.shape, f.component, f.path) for f in made.faults}


@pytest.mark.slow
def test_every_cited_sentence_and_source_exists_across_volumes():
    # 1,860 persons fill four register volumes; every reference must land on a described node.
    store = ox.Store()
    store.load(registry.generate(registry.persons_for_size("100k"), seed=1).turtle().encode(),
               format=ox.RdfFormat.TURTLE, to_graph=ox.DefaultGraph())
    assert not store.query(f"PREFIX yk: <{YK}> ASK {{ ?x yk:statedIn|yk:mentionedIn ?s "
                           "FILTER NOT EXISTS { ?s yk:sentenceText ?t ; yk:inDocument ?d } }")
    assert not store.query(f"PREFIX yk: <{YK}> ASK {{ ?x yk:citation|yk:heldBy|yk:heldIn|yk:memberOf ?o "
                           "FILTER NOT EXISTS { ?o a ?type } }")
