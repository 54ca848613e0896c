"""Real clients against ``/sparql`` and ``/store``: SPARQLWrapper, rdflib's stores, plain HTTP."""
from __future__ import annotations

import csv
import io
import json
from xml.etree import ElementTree

import pytest
import requests
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDFS
from rdflib.plugins.stores.sparqlstore import SPARQLStore, SPARQLUpdateStore
from SPARQLWrapper import JSON, XML, SPARQLWrapper


YK = "https://w3id.org/yokuryu/ontology#"
SELECT_TREATIES = ("PREFIX yk: <https://w3id.org/yokuryu/ontology#> "
                   "SELECT ?treaty WHERE { ?treaty a yk:Treaty } ORDER BY ?treaty")
CONSTRUCT_JAPAN = "CONSTRUCT { res:japan ?p ?o } WHERE { res:japan ?p ?o }"
SD = "http://www.w3.org/ns/sparql-service-description#"


# --- client libraries ------------------------------------------------------------------------


def test_sparqlwrapper_json(server):
    client = SPARQLWrapper(f"{server.url}/sparql")
    client.setQuery(SELECT_TREATIES)
    client.setReturnFormat(JSON)
    bindings = client.query().convert()["results"]["bindings"]
    assert "https://w3id.org/yokuryu/resource/soviet-japanese-neutrality-pact" in [b["treaty"]["value"] for b in bindings]


def test_sparqlwrapper_xml_by_post(server):
    client = SPARQLWrapper(f"{server.url}/sparql")
    client.setQuery(SELECT_TREATIES)
    client.setReturnFormat(XML)
    client.setMethod("POST")
    document = client.query().convert()
    uris = [node.firstChild.data for node in document.getElementsByTagName("uri")]
    assert "https://w3id.org/yokuryu/resource/soviet-japanese-neutrality-pact" in uris


def test_rdflib_sparqlstore_reads_the_knowledge_graph(server):
    graph = Graph(store=SPARQLStore(f"{server.url}/sparql"))
    labels = {str(row.label) for row in graph.query(
        "SELECT ?label WHERE { <https://w3id.org/yokuryu/resource/soviet-union> rdfs:label ?label }")}
    assert labels
    assert (URIRef("https://w3id.org/yokuryu/resource/soviet-union"), None, None) in graph


def test_rdflib_sparqlupdatestore_writes_and_reads(plain_server):
    store = SPARQLUpdateStore(query_endpoint=f"{plain_server.url}/sparql", update_endpoint=f"{plain_server.url}/sparql")
    graph = Graph(store=store, identifier=URIRef("urn:test:rdflib"))
    subject = URIRef("urn:test:camp")
    graph.add((subject, RDFS.label, Literal("Camp № 7", lang="en")))
    graph.add((subject, RDFS.comment, Literal('a "quoted" note\nwith two lines')))
    assert set(graph.objects(subject, RDFS.label)) == {Literal("Camp № 7", lang="en")}
    assert Literal('a "quoted" note\nwith two lines') in set(graph.objects(subject, RDFS.comment))
    graph.remove((subject, RDFS.comment, None))
    assert len(graph) == 1
    store.close()


# --- plain HTTP, every result format -----------------------------------------------------------


@pytest.mark.parametrize("accept, media_type", [
    ("application/sparql-results+json", "application/sparql-results+json"),
    ("application/json", "application/sparql-results+json"),
    ("application/sparql-results+xml", "application/sparql-results+xml"),
    ("text/csv", "text/csv"),
    ("text/tab-separated-values", "text/tab-separated-values"),
    ("text/csv;q=0.5, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
    ("*/*", "application/sparql-results+json"),
])
def test_select_in_every_results_format(server, accept, media_type):
    response = requests.get(f"{server.url}/sparql", params={"query": SELECT_TREATIES}, headers={"Accept": accept},
                            timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == f"{media_type}; charset=utf-8"
    assert response.headers["Vary"] == "Accept"
    pact = "https://w3id.org/yokuryu/resource/soviet-japanese-neutrality-pact"
    if "json" in media_type:
        assert pact in [b["treaty"]["value"] for b in response.json()["results"]["bindings"]]
    elif "xml" in media_type:
        root = ElementTree.fromstring(response.content)
        assert pact in [e.text for e in root.iter("{http://www.w3.org/2005/sparql-results#}uri")]
    else:
        rows = list(csv.reader(io.StringIO(response.text), delimiter="\t" if "tab" in media_type else ","))
        assert rows[0] == (["treaty"] if media_type == "text/csv" else ["?treaty"])
        assert any(pact in cell for row in rows[1:] for cell in row)


@pytest.mark.parametrize("accept, media_type, rdflib_format", [
    ("text/turtle", "text/turtle", "turtle"),
    ("application/n-triples", "application/n-triples", "nt"),
    ("application/rdf+xml", "application/rdf+xml", "xml"),
    ("application/ld+json", "application/ld+json", "json-ld"),
    ("application/n-quads", "application/n-quads", "nquads"),
    ("application/trig", "application/trig", "trig"),
])
def test_construct_in_every_rdf_format(server, accept, media_type, rdflib_format):
    response = requests.get(f"{server.url}/sparql", params={"query": CONSTRUCT_JAPAN}, headers={"Accept": accept},
                            timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == f"{media_type}; charset=utf-8"
    graph = Graph().parse(data=response.content, format=rdflib_format)
    assert (URIRef("https://w3id.org/yokuryu/resource/japan"), RDFS.label, None) in graph


def test_nothing_acceptable_is_406_listing_what_would_work(server):
    response = requests.get(f"{server.url}/sparql", params={"query": SELECT_TREATIES},
                            headers={"Accept": "image/png"}, timeout=30)
    assert response.status_code == 406
    assert "application/sparql-results+json" in response.text
    construct = requests.get(f"{server.url}/sparql", params={"query": CONSTRUCT_JAPAN},
                             headers={"Accept": "text/csv"}, timeout=30)
    assert construct.status_code == 406
    assert "text/turtle" in construct.text


def test_browsers_are_sent_to_the_query_ui(server):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = requests.get(f"{server.url}/sparql", params={"query": SELECT_TREATIES},
                            headers={"Accept": browser}, allow_redirects=False, timeout=30)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/query?query=PREFIX")
    assert response.headers["Vary"] == "Accept"


# --- errors are precise -----------------------------------------------------------------------------


@pytest.mark.parametrize("method, params, body, content_type, status, words", [
    ("POST", {}, b"ASK {}", "text/plain", 415, "application/sparql-query"),
    ("POST", {}, b"query=ASK%20%7B%7D", None, 415, "no Content-Type"),
    ("POST", {}, "ASK {}".encode("utf-16"), "application/sparql-query; charset=UTF-16", 415, "UTF-8"),
    ("POST", {}, b"ASK { \xff }", "application/sparql-query", 400, "not valid UTF-8"),
    ("GET", {"query": ["ASK {}", "ASK {}"]}, None, None, 400, "exactly one"),
    ("POST", {}, b"query=ASK%20%7B%7D&update=CLEAR%20ALL", "application/x-www-form-urlencoded", 400, "not both"),
    ("GET", {"update": "CLEAR ALL"}, None, None, 400, "POST"),
    # The position is in the client's text, not in the one the dataset parameters rewrite (FROM added).
    ("GET", {"query": "ASK {", "default-graph-uri": "urn:x"}, None, None, 400, "line 1, column 5: this `{` is never closed"),
    ("GET", {"query": "ASK {}", "default-graph-uri": "not an iri"}, None, None, 400, "absolute IRI"),
    ("GET", {"query": "ASK {}", "using-graph-uri": "urn:x"}, None, None, 400, "default-graph-uri"),
    ("PUT", {"query": "ASK {}"}, None, None, 405, "Method Not Allowed"),
])
def test_bad_requests_get_their_exact_status(plain_server, method, params, body, content_type, status, words):
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.request(method, f"{plain_server.url}/sparql", params=params, data=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert words in response.text
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_form_fields_are_decoded_once(plain_server):
    # "%2531" is the text "%31" once decoded; decoding twice would turn it into "1".
    response = requests.post(f"{plain_server.url}/sparql", data="query=SELECT%20(%22%2531%22%20AS%20%3Fx)%20%7B%7D",
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert response.json()["results"]["bindings"][0]["x"]["value"] == "%31"


# --- the dataset of the knowledge graph ------------------------------------------------------------


def test_default_graph_is_the_union_and_default_graph_uri_narrows_it(server):
    query = "ASK { res:soviet-union a ?type }"
    assert requests.get(f"{server.url}/sparql", params={"query": query}, timeout=30).json()["boolean"] is True
    narrowed = requests.get(f"{server.url}/sparql", timeout=30, params={
        "query": query, "default-graph-uri": "https://w3id.org/yokuryu/graph/ontology"})
    assert narrowed.json()["boolean"] is False


def test_service_description_lists_graphs_formats_and_entailment(server):
    response = requests.get(f"{server.url}/sparql", headers={"Accept": "text/turtle"}, timeout=30)
    assert response.status_code == 200
    graph = Graph().parse(data=response.text, format="turtle")
    endpoint = URIRef(f"{server.url}/sparql")
    assert (endpoint, URIRef(SD + "endpoint"), endpoint) in graph
    names = {str(o) for o in graph.objects(None, URIRef(SD + "name"))}
    assert {"https://w3id.org/yokuryu/graph/inferred", "https://w3id.org/yokuryu/graph/ontology"} <= names
    formats = {str(o) for o in graph.objects(endpoint, URIRef(SD + "resultFormat"))}
    assert "http://www.w3.org/ns/formats/SPARQL_Results_TSV" in formats
    assert (None, URIRef(SD + "supportedEntailmentProfile"), URIRef("http://www.w3.org/ns/owl-profile/RL")) in graph
    assert (endpoint, URIRef(SD + "feature"), URIRef(SD + "UnionDefaultGraph")) in graph
    # Read-only by default: the description does not promise SPARQL Update.
    assert (endpoint, URIRef(SD + "supportedLanguage"), URIRef(SD + "SPARQL11Update")) not in graph


def test_graph_store_default_graph_is_the_union(server):
    response = requests.get(f"{server.url}/store?default", headers={"Accept": "application/n-triples"}, timeout=30)
    assert response.status_code == 200
    graph = Graph().parse(data=response.content, format="nt")
    assert (URIRef("https://w3id.org/yokuryu/resource/japan"), RDFS.label, None) in graph  # asserted
    assert (URIRef(YK + "Treaty"), None, None) in graph  # ontology


def test_graph_store_reads_a_named_graph_in_any_format(server):
    for accept, fmt in (("text/turtle", "turtle"), ("application/rdf+xml", "xml"), ("application/ld+json", "json-ld")):
        response = requests.get(f"{server.url}/store", params={"graph": "https://w3id.org/yokuryu/graph/ontology"},
                                headers={"Accept": accept}, timeout=30)
        assert response.status_code == 200
        graph = Graph().parse(data=response.content, format=fmt)
        assert (URIRef(YK + "Treaty"), None, None) in graph


# --- CORS ------------------------------------------------------------------------------------------


def test_cors_allows_reads_from_any_origin_but_not_credentials(server):
    response = requests.get(f"{server.url}/sparql", params={"query": "ASK {}"},
                            headers={"Origin": "https://yasgui.example"}, timeout=30)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = requests.options(f"{server.url}/sparql", timeout=30, headers={
        "Origin": "https://yasgui.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Authorization" not in preflight.headers["Access-Control-Allow-Headers"]
    assert json.loads(response.content)["boolean"] is True


# --- a format parameter, for plain download links ----------------------------------------------


@pytest.mark.parametrize("fmt,media_type", [("csv", "text/csv"), ("tsv", "text/tab-separated-values"),
                                            ("xml", "application/sparql-results+xml"),
                                            ("application/sparql-results+json", "application/sparql-results+json")])
def test_format_parameter_chooses_the_results_format_over_accept(server, fmt, media_type):
    response = requests.get(f"{server.url}/sparql", params={"query": SELECT_TREATIES, "format": fmt},
                            headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == f"{media_type}; charset=utf-8"
    assert "soviet-japanese-neutrality-pact" in response.text


def test_format_parameter_for_a_graph_and_its_mismatches(server):
    ok = requests.get(f"{server.url}/sparql", params={"query": CONSTRUCT_JAPAN, "format": "ntriples"}, timeout=30)
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("application/n-triples")
    assert "<https://w3id.org/yokuryu/resource/japan>" in ok.text
    wrong_kind = requests.get(f"{server.url}/sparql", params={"query": CONSTRUCT_JAPAN, "format": "csv"}, timeout=30)
    assert wrong_kind.status_code == 406 and "cannot represent the RDF graph" in wrong_kind.text
    unknown = requests.get(f"{server.url}/sparql", params={"query": SELECT_TREATIES, "format": "pdf"}, timeout=30)
    assert unknown.status_code == 400 and "use one of json, xml, csv, tsv, turtle" in unknown.text
