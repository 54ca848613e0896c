"""Random write sequences (seeded): after every write the store equals a full rebuild from the
same asserted data, and every refused write changed nothing — through the Python API and
through ``yokuryu update``."""
from __future__ import annotations

import gc
import random

import pyoxigraph as ox
import pytest

from conftest import run_cli
from yokuryu.graph import open_store
from yokuryu.graph.transaction import (
    ProtectedGraphWrite,
    RefusedWrite,
    UnusableWrite,
    UpdateSyntaxError,
    WriteError,
    prepare,
    rebuild_quads,
    update,
)

USER = "https://w3id.org/yokuryu/graph/user/"
PREFIXES = """PREFIX yk: <https://w3id.org/yokuryu/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""


def estimate(n: int) -> str:
    """The triples of one valid estimate (a holder, a basis, a citation)."""
    e, c = f"<https://example.org/archive/estimate-{n}>", f"<https://example.org/archive/citation-{n}>"
    return (f"{e} a yk:Estimate ; rdfs:label \"estimate {n}\"@en ; yk:estimatedValue {1000 + n} ; "
            f"yk:heldBy <https://example.org/archive> ; yk:basis \"register {n}\"@en ; yk:citation {c} .\n"
            f"{c} a yk:Citation ; rdfs:label \"folder {n}\"@en ; yk:confidence yk:MediumConfidence ; "
            f"<http://purl.org/dc/terms/source> <https://example.org/archive/folder-{n}> .\n")


BROKEN = ("<https://example.org/bad-estimate> a yk:Estimate ; rdfs:label \"an impossible range\"@en ; "
          "yk:minimumValue 900000 ; yk:maximumValue 100000 ; yk:basis \"invented\"@en .\n")


class Writer:
    """Draws writes at random: valid and invalid inserts and deletes, protected and broken ones."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)
        self.inserted: dict[int, str] = {}  # estimate number → its graph
        self.next = 0

    def draw(self) -> tuple[str, str]:
        """(kind, SPARQL update text)."""
        kinds = ["insert", "insert", "delete", "delete-part", "broken", "protected", "syntax",
                 "drop", "where", "insert-delete"]
        kind = self.random.choice(kinds)
        graph = USER + f"g{self.random.randrange(3)}"
        if kind in ("delete", "delete-part", "where", "drop") and not self.inserted:
            kind = "insert"
        if kind == "insert":
            n, self.next = self.next, self.next + 1
            self.inserted[n] = graph
            return kind, PREFIXES + f"INSERT DATA {{ GRAPH <{graph}> {{ {estimate(n)} }} }}"
        if kind == "insert-delete":  # one request: add an estimate and take it away again
            n, self.next = self.next, self.next + 1
            body = f"GRAPH <{graph}> {{ {estimate(n)} }}"
            return kind, PREFIXES + f"INSERT DATA {{ {body} }} ; DELETE DATA {{ {body} }}"
        if kind == "delete":
            n = self.random.choice(sorted(self.inserted))
            return kind, PREFIXES + f"DELETE DATA {{ GRAPH <{self.inserted.pop(n)}> {{ {estimate(n)} }} }}"
        if kind == "delete-part":  # the holder is required: refused while the estimate stays
            n = self.random.choice(sorted(self.inserted))
            return kind, PREFIXES + (f"DELETE DATA {{ GRAPH <{self.inserted[n]}> {{ <https://example.org/archive/"
                                     f"estimate-{n}> yk:heldBy <https://example.org/archive> }} }}")
        if kind == "broken":
            return kind, PREFIXES + f"INSERT DATA {{ GRAPH <{graph}> {{ {BROKEN} }} }}"
        if kind == "protected":
            return kind, PREFIXES + "INSERT DATA { GRAPH <https://w3id.org/yokuryu/graph/inferred> { <urn:x:a> rdfs:label 'x' } }"
        if kind == "syntax":
            return kind, "INSERT DATA { GRAPH <urn:x:g> { <urn:x:a> <urn:x:p> "
        if kind == "drop":
            graph = self.random.choice(sorted(set(self.inserted.values())))
            self.inserted = {n: g for n, g in self.inserted.items() if g != graph}
            return kind, f"DROP GRAPH <{graph}>"
        # A general update with a WHERE clause: relabel every estimate of the archive.
        return kind, PREFIXES + ("DELETE { GRAPH ?g { ?e rdfs:label ?l } } INSERT { GRAPH ?g { ?e rdfs:label "
                                 "\"relabelled\"@en } } WHERE { GRAPH ?g { ?e yk:heldBy <https://example.org/archive> ; "
                                 "rdfs:label ?l } }")


def graphs_counted_right(store) -> None:
    """The store's kept per-graph counts (the home page's, VoID's) are those of a walk."""
    for name in store.graph_names():
        walked = sum(1 for _ in store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(name)))
        assert store.graph_count(name) == walked, name


EXPECTED_ERROR = {"broken": RefusedWrite, "delete-part": RefusedWrite, "protected": ProtectedGraphWrite,
                  "syntax": UpdateSyntaxError}


@pytest.mark.slow
@pytest.mark.parametrize("seed, engines", [(7, ("reference", "fast")), (2026, ("fast",))],
                         ids=["7-reference-and-fast", "2026-fast"])
def test_random_writes_through_the_python_api(built, seed, engines):
    """Each engine's store takes the same writes; after each applied write every store equals one
    full rebuild from the asserted data (a rebuild costs ~3 s: one per step, not one per engine)."""
    stores = {}
    for engine in engines:
        stores[engine] = open_store(None)
        stores[engine].load_build(built)
        graphs_counted_right(stores[engine])
    writer = Writer(seed)
    outcomes = {"applied": 0, "refused": 0}
    for step in range(10):
        kind, text = writer.draw()
        rebuilt = None
        for engine, store in stores.items():
            before = set(store.oxigraph)
            try:
                update(store, text, engine=engine)
            except WriteError as error:
                assert kind in EXPECTED_ERROR, f"step {step}: {kind} refused by the {engine} engine: {error.message}"
                assert isinstance(error, EXPECTED_ERROR[kind]), (kind, engine, error)
                assert set(store.oxigraph) == before, f"step {step}: a refused {kind} changed the {engine} store"
                graphs_counted_right(store)
                outcomes["refused"] += 1
                continue
            assert kind not in EXPECTED_ERROR, f"step {step}: {kind} was applied by the {engine} engine"
            if rebuilt is None:
                rebuilt = set(rebuild_quads(store))
            assert set(store.oxigraph) == rebuilt, f"step {step}: {kind} by the {engine} engine differs from a rebuild"
            graphs_counted_right(store)
            outcomes["applied"] += 1
    assert outcomes["applied"] and outcomes["refused"], outcomes


@pytest.mark.slow
def test_a_working_copy_made_ahead_serves_the_next_writes(built):
    # What `yokuryu serve` does at start, in a background thread: the first write then finds it ready.
    store = open_store(None)
    store.load_build(built)
    assert prepare(store, engine="reference") is False and store.incremental is None
    assert prepare(store, engine="fast") is True and store.incremental is not None
    copy = store.incremental
    update(store, PREFIXES + f"INSERT DATA {{ GRAPH <{USER}g0> {{ {estimate(1)} {estimate(2)} }} }}", engine="fast")
    assert store.incremental is copy, "the write made its own working copy"
    assert set(store.oxigraph) == set(rebuild_quads(store))
    before = set(store.oxigraph)
    with pytest.raises(RefusedWrite):
        update(store, PREFIXES + f"INSERT DATA {{ GRAPH <{USER}g1> {{ {BROKEN} }} }}", engine="fast")
    assert set(store.oxigraph) == before
    update(store, PREFIXES + f"DELETE DATA {{ GRAPH <{USER}g0> {{ {estimate(1)} }} }}", engine="fast")
    assert set(store.oxigraph) == set(rebuild_quads(store))


@pytest.mark.slow
def test_error_kinds_carry_their_http_status(built):
    store = open_store(None)
    store.load_build(built)
    cases = [("INSERT DATA { GRAPH <urn:x:g> { <urn:x:a> ", UpdateSyntaxError, 400),
             ("INSERT DATA { <urn:x:a> <urn:x:p> 1 }", UnusableWrite, 400),
             ("INSERT DATA { GRAPH <https://w3id.org/yokuryu/graph/ontology> { <urn:x:a> <urn:x:p> 1 } }",
              ProtectedGraphWrite, 403),
             (PREFIXES + f"INSERT DATA {{ GRAPH <{USER}g> {{ {BROKEN} }} }}", RefusedWrite, 422)]
    before = set(store.oxigraph)
    for text, kind, status in cases:
        with pytest.raises(kind) as caught:
            update(store, text)
        assert caught.value.status == status
        assert set(store.oxigraph) == before
    assert caught.value.report is not None and not caught.value.report.conforms


@pytest.mark.slow
def test_random_writes_through_yokuryu_update(tmp_path):
    path = tmp_path / "store"
    assert run_cli("build", "--store", path).returncode == 0
    writer = Writer(11)
    exits = []
    for step in range(6):
        kind, text = writer.draw()
        before = _quads(path)
        done = run_cli("update", "--store", path, text)
        exits.append(done.returncode)
        if kind in EXPECTED_ERROR:
            assert done.returncode in (1, 2), (kind, done.stdout, done.stderr)
            assert b"nothing was applied" in done.stderr or b"syntax error" in done.stderr, done.stderr
            assert _quads(path) == before, f"step {step}: a refused {kind} changed the store"
        else:
            assert done.returncode == 0, (kind, done.stderr.decode())
            assert done.stdout.startswith(b"Update applied: ")
            store = open_store(path)
            try:
                assert set(store.oxigraph) == set(rebuild_quads(store)), f"step {step}: {kind} differs from a rebuild"
            finally:
                del store
                gc.collect()  # one process at a time may open an on-disk store
    assert 0 in exits


def _quads(path) -> set[ox.Quad]:
    store = open_store(path)
    try:
        return set(store.oxigraph)
    finally:
        del store
        gc.collect()


def test_plain_writes_keep_the_per_graph_counts_right():
    """Plain mode (``serve --empty``): data writes keep the counts from their quads; a general
    update, whose quads the transaction does not find without a hook, has them counted again."""
    store = open_store(None)
    graph = "urn:x:g"
    assert store.graph_count(graph) == 0 and store.graph_count(None) == 0
    update(store, f"INSERT DATA {{ GRAPH <{graph}> {{ <urn:x:a> <urn:x:p> 1, 2 }} <urn:x:a> <urn:x:p> 3 }}", plain=True)
    assert store.graph_count(graph) == 2 and store.graph_count(None) == 1
    update(store, f"DELETE DATA {{ GRAPH <{graph}> {{ <urn:x:a> <urn:x:p> 1, 9 }} }}", plain=True)
    assert store.graph_count(graph) == 1
    update(store, f"INSERT {{ GRAPH <{graph}> {{ ?s ?p 4 }} }} WHERE {{ ?s ?p 3 }}", plain=True)
    assert store.graph_count(graph) == 2 and store.graph_count(None) == 1
    seen = []
    update(store, "CLEAR ALL", plain=True, on_commit=lambda removed, added: seen.append(len(removed)))
    assert seen == [3] and store.graph_count(graph) == 0 and store.graph_count(None) == 0
