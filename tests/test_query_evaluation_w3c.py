"""W3C SPARQL 1.1 query evaluation tests, run over HTTP against ``yokuryu serve --empty``.

For every ``mf:QueryEvaluationTest`` of the vendored manifests (``tests/w3c/sparql11/*/``):
empty the store, load the test's default graph and named graphs with the graph store
protocol, POST the query to ``/sparql`` asking for the format of the expected result, and
compare what comes back with the expected result — solutions as multisets (blank nodes by
position only), graphs by isomorphism, booleans exactly. The whole stack users get is
exercised: graph store writes, protocol, content negotiation and every result serialiser.
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from rdflib import Graph, Namespace
from rdflib.collection import Collection
from rdflib.compare import isomorphic
from rdflib.namespace import RDF

from test_protocol_w3c import MF, W3C

DAWGT = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-dawg#")
QT = "http://www.w3.org/2001/sw/DataAccess/tests/test-query#"
FOLDERS = ("aggregates", "bind", "bindings", "cast", "construct", "csv-tsv-res", "exists", "functions",
           "grouping", "json-res", "negation", "project-expression", "property-path", "subquery")
DATA_TYPES = {".ttl": "text/turtle", ".rdf": "application/rdf+xml", ".nt": "application/n-triples"}
XSD = "http://www.w3.org/2001/XMLSchema#"
# Numeric types by the family their values compare in (integer subtypes are integers).
NUMERIC = {XSD + t: "integer" for t in ("integer", "int", "long", "short", "byte", "nonNegativeInteger",
                                         "positiveInteger", "negativeInteger", "nonPositiveInteger",
                                         "unsignedInt", "unsignedLong", "unsignedShort", "unsignedByte")}
NUMERIC.update({XSD + "decimal": "decimal", XSD + "double": "double", XSD + "float": "float"})
RESULT_TYPES = {".srx": "application/sparql-results+xml", ".srj": "application/sparql-results+json",
                ".tsv": "text/tab-separated-values", ".csv": "text/csv", ".ttl": "text/turtle"}


def evaluation_tests():
    from rdflib import URIRef
    for folder in FOLDERS:
        manifest = W3C / folder / "manifest.ttl"
        graph = Graph().parse(manifest, format="turtle")
        for entries in graph.objects(None, MF.entries):
            for test in Collection(graph, entries):
                # Approved tests only: the unapproved ones are proposals, some from SPARQL 1.2
                # discussions (e.g. language tags kept by GROUP_CONCAT) that no 1.1 engine follows.
                if (test, RDF.type, MF.QueryEvaluationTest) not in graph or \
                        (test, DAWGT.approval, DAWGT.Approved) not in graph:
                    continue
                action = graph.value(test, MF.action)
                result = graph.value(test, MF.result)
                files = {
                    "query": _path(graph.value(action, URIRef(QT + "query"))),
                    "data": [_path(d) for d in graph.objects(action, URIRef(QT + "data"))],
                    "named": [(str(g), _path(g)) for g in graph.objects(action, URIRef(QT + "graphData"))],
                    "result": _path(result),
                }
                yield pytest.param(files, id=f"{folder}/{str(test).rsplit('#', 1)[-1]}")


def _path(iri) -> Path:
    return Path(str(iri).removeprefix("file://"))


@pytest.mark.parametrize("files", list(evaluation_tests()))
def test_query_evaluation(plain_server, files):
    url = plain_server.url
    assert requests.post(f"{url}/sparql", data=b"DROP ALL", timeout=30,
                         headers={"Content-Type": "application/sparql-update"}).status_code == 200
    for data in files["data"]:
        _put(url, {"default": ""}, data)
    for iri, data in files["named"]:
        _put(url, {"graph": iri}, data)
    expected_file: Path = files["result"]
    accept = RESULT_TYPES.get(expected_file.suffix, "text/turtle")
    # Relative IRIs in a test query resolve against the query file, as the test suite defines.
    query = f"BASE <{files['query'].as_uri()}>\n".encode() + files["query"].read_bytes()
    response = requests.post(f"{url}/sparql", data=query, timeout=60,
                             headers={"Content-Type": "application/sparql-query", "Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == f"{accept}; charset=utf-8"
    if expected_file.suffix in (".ttl", ".rdf"):
        expected = Graph().parse(expected_file, format="turtle" if expected_file.suffix == ".ttl" else "xml")
        assert isomorphic(Graph().parse(data=response.content, format="turtle"), expected), response.text
    elif expected_file.suffix == ".csv":
        assert _csv_rows(response.text) == _csv_rows(expected_file.read_text(encoding="utf-8"))
    else:
        fmt = {".srx": ox.QueryResultsFormat.XML, ".srj": ox.QueryResultsFormat.JSON,
               ".tsv": ox.QueryResultsFormat.TSV}[expected_file.suffix]
        expected = ox.parse_query_results(expected_file.read_bytes(), format=fmt)
        actual = ox.parse_query_results(response.content, format=fmt)
        assert _comparable(actual) == _comparable(expected), response.text


def _put(url: str, params: dict, data: Path) -> None:
    response = requests.put(f"{url}/store", params=params, data=data.read_bytes(), timeout=30,
                            headers={"Content-Type": DATA_TYPES[data.suffix]})
    assert response.status_code in (201, 204), response.text


def _comparable(results):
    if isinstance(results, ox.QueryBoolean):
        return bool(results)
    variables = sorted(v.value for v in results.variables)
    rows = Counter()
    for solution in results:
        rows[tuple(_term(solution[v]) for v in variables)] += 1
    return variables, rows


def _term(term) -> str | None:
    if term is None:
        return None
    if isinstance(term, ox.BlankNode):
        return "_:blank"  # labels are arbitrary; only the position of a blank node is compared
    if isinstance(term, ox.Literal) and term.datatype.value in NUMERIC:
        try:  # numbers compare by value: "1.0" and "1" are the same xsd:decimal
            return f"{Decimal(term.value).normalize()}^^{NUMERIC[term.datatype.value]}"
        except InvalidOperation:
            return str(term)
    return str(term)


def _csv_rows(text: str) -> Counter:
    rows = list(csv.reader(io.StringIO(text)))
    return Counter(tuple("_:blank" if cell.startswith("_:") else cell for cell in row) for row in rows)


def test_the_selection_covers_every_approved_evaluation_test():
    # 175 approved query evaluation tests in the vendored manifests; fewer means a folder was lost.
    assert len(list(evaluation_tests())) == 175
