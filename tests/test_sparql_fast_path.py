"""Plain queries are answered by a lean WSGI layer in front of Flask (server/sparql_fast.py).

A plain query (nothing but ``query``) and the same query with one more, ignored, URL parameter
(which Flask answers) must get the same status, body and headers: successes, every kind of
evaluation failure, and the refusals the lean layer hands to Flask.
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

PREFIXES = "PREFIX yk: <https://w3id.org/yokuryu/ontology#> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
SELECT = PREFIXES + "SELECT ?c ?label WHERE { ?c a yk:Camp ; rdfs:label ?label } ORDER BY ?c LIMIT 5"
CONSTRUCT = PREFIXES + "CONSTRUCT { ?c rdfs:label ?label } WHERE { ?c a yk:Camp ; rdfs:label ?label } LIMIT 3"

CASES = [
    (SELECT, "application/sparql-results+json"),
    (SELECT, "text/csv"),
    (SELECT, "application/sparql-results+xml;q=0.9, text/tab-separated-values"),
    (SELECT, None),
    ("ASK { ?s ?p ?o }", "*/*"),
    (CONSTRUCT, "text/turtle"),
    (CONSTRUCT, "application/ld+json"),
    (CONSTRUCT, "application/sparql-results+json"),  # 406: a graph cannot be SPARQL results
    (SELECT, "text/turtle"),  # 406 the other way round
    ("SELECT * WHERE { ?s ?p ", "application/sparql-results+json"),  # syntax error
    ("SELECT * WHERE { ?s nope:x ?o }", "application/sparql-results+json"),  # undeclared prefix
    ("SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }", None),  # refused (403)
    ("SELECT * WHERE " + "{" * 300 + "}" * 300, None),  # too deeply nested (400)
    ("", None),
]


def _answer(response):
    headers = {k: v for k, v in response.headers.items() if k.lower() != "date"}
    return response.status_code, headers, response.data


@pytest.mark.parametrize("query,accept", CASES)
def test_a_plain_get_answers_as_flask_does(app, query, accept):
    client = app.test_client()
    headers = {"Accept": accept} if accept else {}
    plain = client.get("/sparql?" + urlencode({"query": query}), headers=headers)
    through_flask = client.get("/sparql?" + urlencode({"query": query, "x": "1"}), headers=headers)
    assert _answer(plain) == _answer(through_flask)


@pytest.mark.parametrize("query,accept", CASES[:3] + CASES[6:10])
def test_a_plain_post_answers_as_flask_does(app, query, accept):
    client = app.test_client()
    headers = {"Accept": accept} if accept else {}
    direct = client.post("/sparql", data=query.encode(), content_type="application/sparql-query", headers=headers)
    form = client.post("/sparql", data=urlencode({"query": query}), content_type="application/x-www-form-urlencoded",
                       headers=headers)
    through_flask = client.post("/sparql?x=1", data=query.encode(), content_type="application/sparql-query",
                                headers=headers)
    assert _answer(direct) == _answer(through_flask) == _answer(form)


def test_requests_the_lean_layer_does_not_take_are_still_answered(app):
    client = app.test_client()
    # A browser is sent to the query page; an unknown host name is refused; HEAD has no body.
    assert client.get("/sparql?" + urlencode({"query": SELECT}), headers={"Accept": "text/html"}).status_code == 303
    refused = client.get("/sparql?" + urlencode({"query": SELECT}), headers={"Host": "evil.example"})
    assert refused.status_code in (200, 400)  # 400 only when the app knows its host names
    head = client.head("/sparql?" + urlencode({"query": SELECT}), headers={"Accept": "text/csv"})
    assert head.status_code == 200 and head.data == b""
    # A form that is not UTF-8, a body over the limit: Flask's own messages.
    bad = client.post("/sparql", data=b"query=%FF", content_type="application/x-www-form-urlencoded")
    assert bad.status_code == 400 and b"UTF-8" in bad.data
    big = client.post("/sparql", data=b"#" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                      content_type="application/sparql-query")
    assert big.status_code == 413


def test_a_refusal_of_a_filled_template_points_into_the_clients_own_text(app):
    # The guard's verdicts are remembered per template (texts that differ only in their
    # numbers); the line and column of a refusal are still those of the text sent.
    client = app.test_client()
    columns = []
    for number in ("1", "123456789"):
        query = f"SELECT * WHERE {{ <urn:x:{number}> <urn:p> ?o " + "{" * 300 + "}" * 300 + " }"
        response = client.get("/sparql?" + urlencode({"query": query}))
        assert response.status_code == 400 and b"too deeply nested" in response.data, response.data
        columns.append(int(response.data.decode().split("column ")[1].split(")")[0]))
    assert columns[1] == columns[0] + 8


GUARDED = [
    "SELECT * WHERE { ?s1 ?p ?o } LIMIT 10",
    "SELECT * FROM <urn:g:1> WHERE { ?s ?p ?o1 FILTER(?o1 > 1 + 2 - -3) }",
    "SELECT * WHERE { SERVICE <http://example.org:8080/sparql1> { ?s ?p ?o } }",
    # Refusals that give a line and column after the text's first digits.
    "SELECT * WHERE { <urn:x:12345> <urn:p> 5 " + "{" * 120 + " ?s1 <urn:p1> 5 " + "}" * 121,
    "SELECT * WHERE { ?s <urn:p> " + " + ".join(str(n) for n in range(1200)) + " }",
    'SELECT * WHERE { ?s <urn:p1> 12 . ?s <urn:p> "never closed }',
]


@pytest.mark.parametrize("text", GUARDED + [query for query, _ in CASES])
def test_the_guard_remembered_per_template_decides_as_on_the_text_itself(text):
    import random
    import re

    from yokuryu.graph.query_guard import SparqlLimits, SparqlRefused, check_sparql
    from yokuryu.server.sparql import text_verdict

    def afresh(query):
        try:
            return check_sparql(query, "query", limits)
        except SparqlRefused as refusal:
            return refusal

    def outcome(verdict):
        return (verdict.status, verdict.message) if isinstance(verdict, SparqlRefused) else verdict

    limits, rng = SparqlLimits(), random.Random(text)
    text_verdict(text, "query", limits)
    for _ in range(10):
        filling = re.sub(r"[0-9]+", lambda _: str(rng.randrange(10 ** rng.randint(1, 3))), text)
        assert outcome(text_verdict(filling, "query", limits)) == outcome(afresh(filling)), filling
