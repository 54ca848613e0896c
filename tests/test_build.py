"""The build pipeline through its Python API: named graphs, reasoning, determinism, packaging."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from yokuryu.graph import build
from yokuryu.ontology import EXTERNAL_GRAPH, INFERRED_GRAPH, ONTOLOGY_GRAPH, SHAPES_GRAPH, source_graph

ROOT = Path(__file__).resolve().parent.parent
SEED = str(source_graph("japanese-pows-in-the-soviet-union"))


def test_bundled_build_conforms(built):
    assert built.ok, built.report.as_text()


def test_inferred_graph_is_separate_and_not_empty(built):
    counts = built.triple_counts()
    assert counts[str(INFERRED_GRAPH)] > 0
    inferred = {(q.subject, q.predicate, q.object) for q in built.quads if q.graph_name.value == str(INFERRED_GRAPH)}
    asserted = {(q.subject, q.predicate, q.object) for q in built.quads if q.graph_name.value != str(INFERRED_GRAPH)}
    assert not inferred & asserted, "the inferred graph repeats asserted triples"


def test_reasoning_adds_nothing_to_asserted_graphs(built):
    unreasoned = build(reason=False)
    def graph(result, name):
        return {(q.subject, q.predicate, q.object) for q in result.quads if q.graph_name.value == name}
    for name in (SEED, str(EXTERNAL_GRAPH), str(ONTOLOGY_GRAPH), str(SHAPES_GRAPH)):
        assert graph(built, name) == graph(unreasoned, name)


def test_every_asserted_graph_has_a_licence(store):
    result = store.query("""
        SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } FILTER NOT EXISTS {
            GRAPH ykg:metadata { ?g dcterms:license <https://creativecommons.org/licenses/by-sa/4.0/> } } }
        GROUP BY ?g""", union_default_graph=False)
    assert [s["g"].value for s in result] == []


@pytest.mark.slow
def test_same_inputs_give_the_same_quads(built):
    again = build()
    assert [str(q) for q in again.quads] == [str(q) for q in built.quads]


def test_no_blank_nodes_are_stored(built):
    import pyoxigraph as ox
    assert not any(isinstance(t, ox.BlankNode) for q in built.quads for t in (q.subject, q.object))


@pytest.mark.slow
def test_wheel_ships_every_data_file(tmp_path):
    """`pip install .` (not -e) must carry the ontology, shapes, data, sources, queries, templates."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("yokuryu-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    mapping = {"ontology": "yokuryu/ontology", "shapes": "yokuryu/shapes", "graph": "yokuryu/graph",
               "server": "yokuryu/server", "yokuryu": "yokuryu"}
    expected = []
    for folder, package in mapping.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                expected.append(f"{package}/{path.relative_to(ROOT / folder).as_posix()}")
    missing = [name for name in expected if name not in names]
    assert not missing, f"files missing from the wheel: {missing}"
