"""The compiled reasoner (OWL 2 RL rules as SPARQL on pyoxigraph) against the reference path
(owlrl + the noise filter + the SHACL-AF rules): the same inferred graph, triple for triple, after
a full materialisation and after every incremental change."""
from __future__ import annotations

import random

import pyoxigraph as ox
import pytest
from rdflib import Graph

from yokuryu.graph.build import load_inputs
from yokuryu.graph.owlrl_sparql import (
    INFERRED,
    CompiledReasoner,
    NeedsFullRederivation,
    UnsupportedAxiom,
    UnsupportedData,
    infer_compiled,
)
from yokuryu.graph.reasoning import InconsistentData, infer
from yokuryu.graph.sparql_engine import LocalEngine
from yokuryu.graph.terms import rdflib_triples_to_quads
from yokuryu.ontology import GRAPH, ONTOLOGY_GRAPH, SHAPES_GRAPH

DATA_GRAPH = GRAPH["test-data"]


@pytest.fixture(scope="module")
def inputs():
    return load_inputs()


@pytest.fixture(scope="module")
def schema(inputs):
    return inputs.graphs[ONTOLOGY_GRAPH], inputs.graphs[SHAPES_GRAPH]


@pytest.fixture(scope="module")
def reasoner(schema):
    return CompiledReasoner.compile(*schema)


@pytest.fixture(scope="module")
def reference(inputs, schema):
    """The reference inferred graph of the bundled data (owlrl, the noise filter, the rules)."""
    ontology, shapes = schema
    return as_stored(infer(ontology, inputs.data_union(), shapes))


def as_stored(triples) -> set[ox.Triple]:
    """Triples as pyoxigraph stores them (it normalises some literals, e.g. xsd:positiveInteger)."""
    store = ox.Store()
    store.extend(rdflib_triples_to_quads(triples, None))
    return {ox.Triple(q.subject, q.predicate, q.object) for q in store}


def inferred_of(store: ox.Store) -> set[ox.Triple]:
    return {ox.Triple(q.subject, q.predicate, q.object)
            for q in store.quads_for_pattern(None, None, None, ox.NamedNode(INFERRED))}


def engine_with(ontology: Graph, data: Graph) -> tuple[ox.Store, LocalEngine]:
    store = ox.Store()
    store.extend(rdflib_triples_to_quads(ontology, ONTOLOGY_GRAPH))
    store.extend(rdflib_triples_to_quads(data, DATA_GRAPH))
    return store, LocalEngine(store)


def test_bundled_graph_equals_the_reference(inputs, schema, reasoner, reference):
    ontology, shapes = schema
    store, engine = engine_with(ontology, inputs.data_union())
    stats = reasoner.materialize(engine)
    fast = inferred_of(store)
    assert fast == reference
    assert stats.inferred == len(reference)
    assert any(t.object.value.endswith("#TreatyViolation") for t in fast)  # the rules ran too


def test_drop_in_infer_equals_the_reference(inputs, schema, reference):
    ontology, shapes = schema
    assert as_stored(infer_compiled(ontology, inputs.data_union(), shapes)) == reference
