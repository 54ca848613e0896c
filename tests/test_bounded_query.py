"""Which queries the server may evaluate in its own process (graph/bounded_query.py).

In the class: queries whose worst case is bounded by the store's largest out-degree and its
size before they run. Out of it: everything else, above all the hostile shapes whose cost no
evaluation order bounds, and every text the classifier does not understand.
"""
from __future__ import annotations

import random
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from yokuryu.graph.bounded_query import (MAX_PATTERNS, StoreSize, budget, cost, is_bounded, query_steps,
                                         read_steps)

PREFIXES = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> PREFIX yk: <https://w3id.org/yokuryu/ontology#> "
            "PREFIX reg: <https://example.org/yokuryu-registry/> ")
REGISTRY_1M = StoreSize(out_degree=12, quads=1_006_855)  # measured on bench/registry.py's 1M registry (seed 1)

IN_CLASS = [
    "SELECT ?p ?o WHERE { reg:person-1 ?p ?o }",
    "select ?p ?o { reg:person-1 ?p ?o }",
    "SELECT * WHERE { <urn:s> <urn:p> ?o }",
    "SELECT DISTINCT ?p WHERE { reg:person-1 ?p ?o } LIMIT 10 OFFSET 2",
    "ASK { <urn:s:1> <urn:p:v> 1 }",
    "ASK WHERE { reg:person-1 a yk:Person }",
    "SELECT ?place WHERE { reg:camp-1 yk:locatedIn+ ?place }",
    "SELECT ?c WHERE { reg:person-1 a* ?c }",
    "SELECT ?n ?camp WHERE { reg:person-1 rdfs:label ?n ; yk:heldIn ?camp . ?camp rdfs:label ?l }",
    'SELECT ?x WHERE { <urn:a> <urn:p> ?x . ?x <urn:q> "lit"@en , 3, "x"^^<urn:t> ; a ?t . }',
    "SELECT $x WHERE { <urn:a> <urn:p> ?x . $x ?q ?y }",  # ?x and $x are one variable
    "CONSTRUCT { ?s ?p ?o } WHERE { <urn:x> ?p ?o . ?o ?q ?s }",
    "CONSTRUCT WHERE { reg:person-1 ?p ?o }",
    "DESCRIBE <urn:x>",
    "BASE <http://example.org/> SELECT ?o WHERE { <s> <p> ?o }",
    "# a comment\nSELECT ?o WHERE { <urn:s> <urn:p> ?o } # WHERE { ?s ?p ?o }",
]

OUT_OF_CLASS = [
    # Cross products and scans: nothing anchors them.
    "SELECT * WHERE { ?s ?p ?o }",
    "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
    "SELECT * WHERE { <urn:a> <urn:p> ?x . ?y <urn:q> ?z }",
    # Object-anchored chains: the in-degree of a constant is not bounded by the out-degree.
    "SELECT ?s WHERE { ?s a yk:Person }",
    "SELECT ?stay WHERE { ?stay yk:participant reg:person-1 }",
    "SELECT ?name ?camp WHERE { reg:person-1 rdfs:label ?name . ?stay yk:participant reg:person-1 ; yk:heldIn ?camp }",
    "SELECT * WHERE { <urn:a> <urn:p> ?x . ?y <urn:q> ?x }",
    # Variable predicates with unbound subjects.
    "SELECT * WHERE { ?s ?p <urn:o> }",
    "SELECT * WHERE { <urn:a> <urn:p> ?x . ?y ?p ?x }",
    # Paths from variables, and paths other than one IRI with + or *.
    "SELECT * WHERE { ?s yk:locatedIn+ ?o }",
    "SELECT * WHERE { <urn:a> <urn:p> ?x . ?x yk:locatedIn* ?o }",
    "SELECT * WHERE { <urn:a> (<urn:p>|<urn:q>)+ ?o }",
    "SELECT * WHERE { <urn:a> <urn:p>/<urn:q> ?o }",
    "SELECT * WHERE { <urn:a> ^<urn:p> ?o }",
    "SELECT * WHERE { <urn:a> !<urn:p> ?o }",
    "SELECT * WHERE { <urn:a> <urn:p>? ?o }",
    "SELECT * WHERE { <urn:a> <urn:p>{2} ?o }",
    # Two paths multiply: (N+1)² nodes.
    "SELECT * WHERE { <urn:a> <urn:p>+ ?x . <urn:b> <urn:p>+ ?y }",
    # Every other operator.
    "SELECT * WHERE { <urn:a> <urn:p> ?o FILTER(?o > 1) }",
    "SELECT * WHERE { <urn:a> <urn:p> ?o OPTIONAL { ?o <urn:q> ?z } }",
    "SELECT * WHERE { { <urn:a> <urn:p> ?o } UNION { <urn:b> <urn:p> ?o } }",
    "SELECT * WHERE { <urn:a> <urn:p> ?o MINUS { <urn:a> <urn:q> ?o } }",
    "SELECT * WHERE { <urn:a> <urn:p> ?o BIND(1 AS ?x) }",
    "SELECT * WHERE { VALUES ?o { 1 2 } <urn:a> <urn:p> ?o }",
    "SELECT * WHERE { <urn:a> <urn:p> ?o } VALUES ?o { 1 }",
    "SELECT * WHERE { { SELECT ?o WHERE { <urn:a> <urn:p> ?o } } }",
    "SELECT (COUNT(?o) AS ?n) WHERE { <urn:a> <urn:p> ?o }",
    "SELECT ?o WHERE { <urn:a> <urn:p> ?o } GROUP BY ?o",
    "SELECT ?o WHERE { <urn:a> <urn:p> ?o } ORDER BY ?o",
    "SELECT * WHERE { GRAPH ?g { <urn:a> <urn:p> ?o } }",
    "SELECT * WHERE { SERVICE <http://example.org/sparql> { <urn:a> <urn:p> ?o } }",
    "SELECT * FROM <urn:g> WHERE { <urn:a> <urn:p> ?o }",
    "SELECT * WHERE { <urn:a> <urn:p> ?o FILTER EXISTS { ?o ?q ?r } }",
    # Blank nodes act as variables nothing binds; collections and property lists likewise.
    "SELECT * WHERE { _:b <urn:p> ?o }",
    "SELECT * WHERE { [] <urn:p> ?o }",
    "SELECT * WHERE { <urn:a> <urn:p> [ <urn:q> ?o ] }",
    "SELECT * WHERE { <urn:a> <urn:p> (1 2) }",
    "DESCRIBE *",
    # Each description may follow blank nodes through the whole store: one is allowed, not twelve.
    "DESCRIBE ?camp WHERE { reg:person-1 yk:heldIn ?camp }",
    "DESCRIBE * WHERE { <urn:a> <urn:p> ?o }",
    # Not SPARQL, or not a query: the engine says so, from a query process.
    "",
    "SELECT * WHERE { <urn:a> <urn:p> ?o ",
    "SELECT * WHERE { <urn:a> <urn:p> \"never closed }",
    "INSERT DATA { <urn:a> <urn:p> 1 }",
    "SELECT * WHERE { }",
    "SELECT * WHERE { <urn:a> <urn:p> ?o } } }",
    "SELECT * WHERE { <urn:a> <urn:p> -1 }",
]


@pytest.mark.parametrize("query", IN_CLASS)
def test_bounded_queries_are_in_the_class(query):
    assert is_bounded(PREFIXES + query, REGISTRY_1M), query


@pytest.mark.parametrize("query", OUT_OF_CLASS)
def test_unbounded_and_unknown_queries_are_not(query):
    assert not is_bounded(PREFIXES + query, REGISTRY_1M), query


def test_long_chains_fall_out_when_the_store_has_a_hub():
    """A chain of k patterns costs up to D^k: it fits a store of small out-degrees, not one with a hub."""
    chain = "SELECT * WHERE { <urn:a> ?p1 ?x1 . ?x1 ?p2 ?x2 . ?x2 ?p3 ?x3 . ?x3 ?p4 ?x4 }"
    assert is_bounded(chain, StoreSize(out_degree=12, quads=1_000_000))
    assert not is_bounded(chain, StoreSize(out_degree=1_000, quads=1_000_000))
    # A star of variable predicates from one constant is a cross product of its out-edges.
    star = "SELECT * WHERE { <urn:a> ?p1 ?o1 . <urn:a> ?p2 ?o2 . <urn:a> ?p3 ?o3 . <urn:a> ?p4 ?o4 . <urn:a> ?p5 ?o5 }"
    assert is_bounded(star, StoreSize(out_degree=5, quads=1_000_000))
    assert not is_bounded(star, StoreSize(out_degree=20, quads=1_000_000))


def test_at_most_eight_patterns_whatever_the_store():
    patterns = " . ".join(f"<urn:a> <urn:p> <urn:o{i}>" for i in range(MAX_PATTERNS + 1))
    assert query_steps(f"ASK {{ {patterns} }}") is None
    assert query_steps("ASK { " + " . ".join(f"<urn:a> <urn:p> <urn:o{i}>" for i in range(MAX_PATTERNS)) + " }")


def test_a_path_is_one_pass_over_the_store_and_nothing_may_follow_it():
    size = StoreSize(out_degree=12, quads=1_000_000)
    assert cost(query_steps("SELECT * WHERE { <urn:c> <urn:in>+ ?x }"), size) == size.quads <= budget(size)
    assert not is_bounded("SELECT * WHERE { <urn:c> <urn:in>+ ?x . ?x <urn:label> ?l }", size)
    # On a store below the minimum budget a little more is allowed: it costs milliseconds.
    assert is_bounded("SELECT * WHERE { <urn:c> <urn:in>+ ?x . ?x <urn:label> ?l }", StoreSize(3, 4_000))


def test_texts_in_strings_and_comments_do_not_count():
    assert is_bounded('SELECT ?o WHERE { <urn:a> <urn:p> "FILTER { ?s ?p ?o }" }', REGISTRY_1M)
    assert not is_bounded("SELECT ?o WHERE { <urn:a> <urn:p> ?o . # }\n ?x ?y ?z }", REGISTRY_1M)


@pytest.mark.parametrize("template", [
    "SELECT ?p ?o WHERE {{ reg:person-{n} ?p ?o }} LIMIT {n}",
    "ASK {{ <urn:s:{n}> <urn:p> {n}.{n}e{n} }}",
    "SELECT ?x{n} WHERE {{ reg:camp-{n} yk:locatedIn+ ?x{n} }}",
    "SELECT ?o WHERE {{ ?s{n} ?p ?o }}",  # out of the class however it is filled
    "SELECT ?o WHERE {{ <urn:a> <urn:p> ?o FILTER(?o > {n}) }}",
])
def test_fillings_of_a_template_are_decided_alike(template):
    # Decisions are remembered per template (the text's numbers aside): each filling must be
    # decided as it would be on its own, the first one seen included.
    decided = {query_steps(PREFIXES + template.format(n=n)) for n in (1, 70, 12345678901234567890)}
    assert len(decided) == 1


def test_escaped_texts_are_decided_on_their_own():
    # \u0031 and %31 are digits that an escape needs whole: such texts are never merged with others.
    assert is_bounded('SELECT ?o WHERE { <urn:a> <urn:p> "\\u0031" }', REGISTRY_1M)
    assert is_bounded(PREFIXES + "SELECT ?o WHERE { reg:a%31 ?p ?o }", REGISTRY_1M)
    assert not is_bounded(PREFIXES + "SELECT ?o WHERE { ?s reg:a%31 ?o }", REGISTRY_1M)



@pytest.mark.parametrize("chain, cross", [
    # A chain through ?x1 is anchored; the same text with ?x1 … ?x2 is a cross product of the
    # store with itself, which must never be taken for the chain's template.
    ("SELECT * WHERE { <urn:a> <urn:p> ?x1 . ?x1 <urn:q> ?y1 . ?y1 <urn:q> ?z1 }",
     "SELECT * WHERE { <urn:a> <urn:p> ?x1 . ?x2 <urn:q> ?y2 . ?y3 <urn:q> ?z3 }"),
    ("SELECT * WHERE { <urn:a> <urn:p> $v10 . $v10 <urn:q> ?w }",
     "SELECT * WHERE { <urn:a> <urn:p> $v10 . $v11 <urn:q> ?w }"),
])
@pytest.mark.parametrize("chain_first", [True, False])
def test_variables_differing_in_digits_are_not_one_template(chain, cross, chain_first):
    for text in ((chain, cross) if chain_first else (cross, chain)):
        assert is_bounded(text, REGISTRY_1M) == (text == chain), text


# Texts whose digits sit where they decide something if a template merged them wrongly: variable
# names (which patterns share one), blank node labels, numbers after a predicate ('+5' is no path).
NUMBERED = [
    "SELECT * WHERE { <urn:a> <urn:p> ?x1 . ?x1 <urn:q> ?y1 . ?y1 <urn:r> ?z1 }",
    "SELECT ?x1 WHERE { reg:person-1 ?p1 ?x1 . ?x1 ?p1 ?o2 } LIMIT 10 OFFSET 20",
    "SELECT * WHERE { _:b1 <urn:p> ?o1 . <urn:a1> <urn:p> _:b1 }",
    "ASK { <urn:a> <urn:p>+ 5 . <urn:a> <urn:q> ?v2 . ?v2 <urn:r> 3.25e10 }",
    'SELECT * WHERE { reg:camp-12 yk:locatedIn* ?c3 . ?c3 rdfs:label "camp 12"@ru-1 }',
]


def _refilled(text: str, rng: random.Random) -> str:
    """``text`` with each digit run replaced by other digits, each on its own."""
    return re.sub(r"[0-9]+", lambda _: str(rng.randrange(10 ** rng.randint(1, 3))), text)


@pytest.mark.parametrize("text", IN_CLASS + OUT_OF_CLASS + NUMBERED)
def test_a_remembered_decision_is_the_one_the_text_itself_gets(text):
    # What is remembered per template must never decide a filling otherwise than reading it
    # afresh would, whichever filling was seen first.
    rng = random.Random(text)
    query_steps(PREFIXES + text)
    for _ in range(25):
        filling = PREFIXES + _refilled(text, rng)
        assert query_steps(filling) == read_steps(filling), filling


def _careful_key(text: str) -> str:
    """The template key as defined: every digit run outside variable names and blank node labels as ``0``."""
    if "\\" in text or "%" in text:
        return text
    return re.sub(r"(?:[?$]|_:)[^\s{}()\[\],;<>\"'#|/^*+=!&]+|[0-9]+",
                  lambda m: "0" if m.group()[0].isdigit() else m.group(), text)


@given(st.text(alphabet="?$_:x1 0{}.<>\"#/+-\n\\%", max_size=40), st.randoms(use_true_random=False))
@example("SELECT ?p ?o WHERE { reg:person-12 ?p ?o } LIMIT 10", random.Random(1))
@example("SELECT * WHERE { <urn:a1> ?p ?x1 . ?x1 ?q _:b2 }", random.Random(1))
@example("ASK { ?a?b1 <urn:p> $c 2 }", random.Random(1))
def test_texts_with_one_key_have_one_template(text, rng):
    # The key may split a template (digit runs of other lengths), never merge two: whatever shares
    # a text's key shares its careful key, so texts that differ only in their numbers are decided alike.
    from yokuryu.graph.sparql_text import shape_key
    key = shape_key(text)
    assert _careful_key(key) == _careful_key(text)
    same_lengths = re.sub(r"[0-9]", lambda _: str(rng.randrange(10)), text)
    if "\\" not in text and "%" not in text:
        assert shape_key(same_lengths) == key or _careful_key(same_lengths) != _careful_key(text)
