"""A beginner's SPARQL mistakes, named with their position and their fix: over HTTP (400), in the
CLI and on the query page alike (yokuryu.graph.sparql_mistakes), instead of the parser's list of
what it would have accepted ("expected one of LATERAL, SERVICE")."""
from __future__ import annotations

import pytest
import requests

from conftest import run_cli

MISTAKES = [
    ("SELECT * WHERE { ?s ?p }",
     "line 1, column 18: `?s ?p` has no object; a triple pattern is subject, predicate and object (`?s ?p ?o`)"),
    ("SELECT * WHERE {\n  ?s ?p ?o .\n  ?s rdfs:label\n}",
     "line 3, column 3: `?s rdfs:label` has no object"),
    ("SELECT * WHERE { ?s ?p ?o ; rdfs:label }", "line 1, column 29: `rdfs:label` has no object"),
    ("SELECT * WHERE { ?s ?p ?o ?s ?q ?r }",
     "line 1, column 27: `?s` follows the complete triple pattern `?s ?p ?o` with no `.` between; "
     "end each pattern with ` .`"),
    ("SELECT ?n WHERE { ?s bogus:name ?n }",
     "prefix `bogus:` is not declared (line 1, column 22); add `PREFIX bogus: <namespace IRI>` before the query"),
    ("SELECT ?n WHERE { ?s time:hasBeginning ?n }",  # not predeclared, but the ontology's: its PREFIX line
     "prefix `time:` is not declared (line 1, column 22); add `PREFIX time: <http://www.w3.org/2006/time#>` "
     "before the query"),
    ("SELECT ?n WHERE { ?s YK:name ?n }",
     "prefix `YK:` is not declared (line 1, column 22); prefixes are case-sensitive: did you mean `yk:`?"),
    ("SELECT ?s WHERE {\n  ?s ?p ?o\n", "line 1, column 17: this `{` is never closed; add `}` where its group ends"),
    ("SELECT ?s WHERE { ?s ?p ?o } }", "line 1, column 30: this `}` closes nothing; remove it"),
    ("SELECT ?s WHERE { ?s ?p ?o FILTER(?o > 1 }",
     "line 1, column 34: this `(` is never closed (a `}` comes first, at line 1, column 42); add `)`"),
    ("SELECT WHERE { ?s ?p ?o }",
     "line 1, column 1: SELECT names no variables; list those to return (`SELECT ?s ?o WHERE …`), "
     "or write `SELECT *` for all of them"),
    ("SELECT ?s, ?o WHERE { ?s ?p ?o }",
     "line 1, column 10: the variables after SELECT are separated by spaces, not commas: `SELECT ?a ?b`"),
    ("SELECT ?s WHERE { ?s ?p ?o } LIMT 5", "line 1, column 30: `LIMT` is not a SPARQL keyword; did you mean `LIMIT`?"),
    ("SELECT ?s WHERE { ?s ?p ?o OPTINAL { ?s rdfs:label ?l } }",
     "line 1, column 28: `OPTINAL` is not a SPARQL keyword; did you mean `OPTIONAL`?"),
    ("SELECT ?s WHERE { ?s ?p ?o } ORDER ?s", "line 1, column 30: `ORDER` is followed by `BY`: `ORDER BY ?variable`"),
    ("SELECT ?s WHERE { ?s a https://w3id.org/yokuryu/ontology#Person }",
     "line 1, column 24: `https://w3id.org/yokuryu/ontology#Person` is an IRI written without angle brackets; "
     "write `<https://w3id.org/yokuryu/ontology#Person>`"),
    ("SELECT ?s WHERE { ?s yk:estimatedValue ?v . ?v = 60000 }",
     "line 1, column 48: `=` compares, and a comparison goes in a FILTER: `FILTER(?v = 60000)`"),
    ("SELECT ?s WHERE { ?s yk:estimatedValue ?v FILTER ?v > 1000 }",
     "line 1, column 50: a FILTER's condition goes in parentheses: `FILTER(?v > 1000)`"),
    ("SELECT ?s WHERE ?s ?p ?o", "line 1, column 11: `WHERE` is followed by a group in braces: `WHERE { ?s ?p ?o }`"),
    ("SELECT ?s (COUNT(?o) AS ?n) WHERE { ?s ?p ?o }",
     "line 1, column 8: `?s` is selected beside an aggregate (COUNT, SUM …) but not grouped; add `GROUP BY ?s`"),
    ("@prefix ex: <http://example.org/> .\nSELECT * WHERE { ?s ex:p ?o }",
     "line 1, column 1: `@prefix` is Turtle; in SPARQL write `PREFIX …` without the `@` and without the final `.`"),
    ("SELECT ?s WHERE { ?s ?p ?o FILTER(?o > 1 AND ?o < 5) }",
     "line 1, column 42: SPARQL has no `AND`; use `&&` (inside a FILTER)"),
    ("SELEC * WHERE { ?s ?p ?o }", "line 1, column 1: 'SELEC' is not a SPARQL query form (did you mean SELECT?)"),
]


@pytest.mark.parametrize("query, message", MISTAKES, ids=[m[1].split(":")[-2][-40:] for m in MISTAKES])
def test_a_mistake_is_a_400_that_names_it_where_it_is_and_the_fix(client, query, message):
    response = client.get("/sparql", query_string={"query": query})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f"SPARQL syntax error: {message}" in text
    assert "expected one of" not in text and "LATERAL" not in text


def test_a_well_known_prefix_on_an_empty_server_is_offered_as_its_prefix_line(store):
    """``serve --empty`` predeclares nothing: foaf: is known, so its PREFIX line is the fix."""
    from yokuryu.server import create_app
    from yokuryu.server.config import ServerConfig
    client = create_app(ServerConfig(empty=True), store).test_client()
    response = client.get("/sparql", query_string={"query": "SELECT ?n WHERE {\n  ?s foaf:name ?n\n}"})
    assert response.status_code == 400
    assert ("prefix `foaf:` is not declared (line 2, column 6); add `PREFIX foaf: <http://xmlns.com/foaf/0.1/>` "
            "before the query") in response.get_data(as_text=True)


def test_an_update_mistake_is_named_too_and_nothing_is_applied():
    from yokuryu.graph import open_store
    from yokuryu.server import create_app
    from yokuryu.server.config import ServerConfig
    store = open_store(None)
    client = create_app(ServerConfig(empty=True, allow_anonymous_updates=True, union_default_graph=False),
                        store).test_client()
    response = client.post("/sparql", data={"update": "INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> <urn:x:d> }"})
    assert response.status_code == 400
    assert ("SPARQL update syntax error: line 1, column 45: `<urn:x:d>` follows the complete triple pattern "
            "`<urn:x:a> <urn:x:b> <urn:x:c>` with no `.` between") in response.get_data(as_text=True)
    response = client.post("/sparql", data={"update": "INSERT DATA { <urn:x:a> foaf:name 'a' }"})
    assert response.status_code == 400
    assert "add `PREFIX foaf: <http://xmlns.com/foaf/0.1/>` before the update" in response.get_data(as_text=True)
    assert len(store) == 0


def test_a_query_that_is_right_is_not_touched(client):
    """The messages come only from a refused query: a valid one with every construct the checks
    look at (paths, lists, blank nodes, VALUES, subqueries, literals with tags) answers 200."""
    query = """SELECT ?s (COUNT(?o) AS ?n) WHERE {
      VALUES (?k ?l) { (1 2) (3 4) } VALUES ?m { "a" "b" "c" "d" }
      { SELECT ?s ?a ?b ?c WHERE { ?s ?a ?b . BIND(1 AS ?c) } LIMIT 5 } ?s ?p ?o .
      ?s rdfs:label "x"@en , "y"^^xsd:string ; yk:a/yk:b [ yk:c ?d ; yk:e ( 1 2 -3 ) ] .
      FILTER(?o != 1 && ?o >= 2)
    } GROUP BY ?s ORDER BY DESC(?n) LIMIT 3"""
    assert client.get("/sparql", query_string={"query": query}).status_code == 200


# --- the same words from the console script and a real server ---------------------------------------


@pytest.mark.parametrize("query, message", [MISTAKES[0], MISTAKES[6], MISTAKES[16]])
def test_the_cli_and_the_server_say_the_same(server, query, message):
    result = run_cli("query", query)
    assert result.returncode == 2
    line = result.stderr.decode().strip()
    assert line.startswith("yokuryu query: SPARQL syntax error: ") and "\n" not in line, line
    said = line.removeprefix("yokuryu query: SPARQL syntax error: ")
    assert message in said
    response = requests.get(f"{server.url}/sparql", params={"query": query}, timeout=30)
    assert response.status_code == 400
    assert f"SPARQL syntax error: {said}" in response.text
