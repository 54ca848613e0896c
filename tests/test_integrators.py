"""What data integrators and their client libraries need: SPARQLWrapper's own format parameters,
JSON for JSON-LD, HEAD, compact JSON-LD with a published context, documents that keep the named
graph, HTTP caching (ETag, Last-Modified, 304, gzip) and VoID linksets."""
from __future__ import annotations

import gzip
import json

import pyoxigraph as ox
import pytest
import requests
from rdflib import Dataset, Graph, URIRef
from rdflib.compare import isomorphic
from SPARQLWrapper import JSONLD, RDFXML, TURTLE, SPARQLWrapper

BASE = "https://w3id.org/yokuryu/"
PACT = BASE + "resource/soviet-japanese-neutrality-pact"
CONSTRUCT_PACT = ("CONSTRUCT { res:soviet-japanese-neutrality-pact ?p ?o } "
                  "WHERE { res:soviet-japanese-neutrality-pact ?p ?o }")
VOID = "http://rdfs.org/ns/void#"


def expected_pact(store) -> Graph:
    graph = Graph()
    text = ox.serialize(store.query(CONSTRUCT_PACT), format=ox.RdfFormat.N_TRIPLES).decode()
    return graph.parse(data=text, format="nt")


# --- a real client library against a real server ----------------------------------------------


@pytest.mark.parametrize("return_format", [RDFXML, TURTLE, JSONLD])
def test_sparqlwrapper_construct_in_every_format_it_asks_for(server, store, return_format):
    """SPARQLWrapper sends ``format``, ``output`` and ``results``, some twice (name and media type)."""
    client = SPARQLWrapper(f"{server.url}/sparql")
    client.setQuery(CONSTRUCT_PACT)
    client.setReturnFormat(return_format)
    result = client.query()
    graph = result.convert()
    if not isinstance(graph, Graph):  # Turtle comes back as bytes
        graph = Graph().parse(data=graph, format="turtle")
    assert isomorphic(graph, expected_pact(store))


def test_sparqlwrapper_style_parameters_that_disagree_are_a_400(server):
    response = requests.get(f"{server.url}/sparql", params={"query": CONSTRUCT_PACT, "format": "turtle",
                                                            "output": "rdf+xml"}, timeout=30)
    assert response.status_code == 400
    assert "different graph formats" in response.text


def test_plain_json_is_json_ld_for_a_graph_and_sparql_json_for_results(server):
    graph = requests.get(f"{server.url}/sparql", params={"query": CONSTRUCT_PACT},
                         headers={"Accept": "application/json"}, timeout=30)
    assert graph.status_code == 200, graph.text
    assert graph.headers["Content-Type"].startswith("application/ld+json")
    table = requests.get(f"{server.url}/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 1"},
                         headers={"Accept": "application/json"}, timeout=30)
    assert table.headers["Content-Type"].startswith("application/sparql-results+json")
    page = requests.get(PACT.replace(BASE, server.url + "/"), headers={"Accept": "application/json"},
                        allow_redirects=False, timeout=30)
    assert page.status_code == 303 and page.headers["Location"].endswith(".jsonld")


def test_head_on_the_endpoint(server):
    described = requests.head(f"{server.url}/sparql", timeout=30)
    assert described.status_code == 200 and not described.content
    query = requests.head(f"{server.url}/sparql", params={"query": "ASK {}"}, timeout=30)
    assert query.status_code == 200
    assert query.headers["Content-Type"].startswith("application/sparql-results+json")


# --- compact JSON-LD ------------------------------------------------------------------------------


def test_construct_json_ld_is_compact_and_round_trips(server, store):
    response = requests.get(f"{server.url}/sparql", params={"query": CONSTRUCT_PACT},
                            headers={"Accept": "application/ld+json"}, timeout=30)
    document = response.json()
    assert "@context" in document and document["@context"]["yk"] == BASE + "ontology#"
    assert document["@id"] == "res:soviet-japanese-neutrality-pact"
    assert isomorphic(Graph().parse(data=response.text, format="json-ld"), expected_pact(store))


def test_page_json_ld_is_compact_and_round_trips_to_the_turtle_document(client):
    as_jsonld = client.get("/resource/soviet-japanese-neutrality-pact.jsonld")
    as_turtle = client.get("/resource/soviet-japanese-neutrality-pact.ttl")
    document = json.loads(as_jsonld.get_data(as_text=True))
    assert document["@context"]["res"] == BASE + "resource/"
    assert all(not key.startswith("http") for node in document.get("@graph", [document]) for key in node), \
        "property names are compacted"
    assert isomorphic(Graph().parse(data=as_jsonld.get_data(as_text=True), format="json-ld"),
                      Graph().parse(data=as_turtle.get_data(as_text=True), format="turtle"))


def test_the_context_is_published_and_is_the_one_documents_use(client):
    published = client.get("/context.jsonld")
    assert published.status_code == 200 and published.mimetype == "application/ld+json"
    inline = json.loads(client.get("/resource/japan.jsonld").get_data(as_text=True))["@context"]
    assert json.loads(published.get_data(as_text=True))["@context"] == inline


# --- documents keep the named graph -----------------------------------------------------------------


@pytest.mark.parametrize("ext, fmt", [("trig", "trig"), ("nq", "nquads")])
def test_dataset_documents_keep_each_statements_graph(client, store, ext, fmt):
    body = client.get(f"/resource/soviet-japanese-neutrality-pact.{ext}").get_data(as_text=True)
    dataset = Dataset().parse(data=body, format=fmt)
    graphs = {str(c.identifier) for c in dataset.graphs() if len(c)}
    assert BASE + "graph/inferred" in graphs
    assert BASE + "graph/source/japanese-pows-in-the-soviet-union" in graphs
    # each quad is a quad of the store
    for s, p, o, g in list(dataset.quads((URIRef(PACT), None, None, None)))[:50]:
        node = lambda t: ox.NamedNode(str(t)) if isinstance(t, URIRef) else None  # noqa: E731
        if isinstance(o, URIRef):
            assert list(store.oxigraph.quads_for_pattern(node(s), node(p), node(o), ox.NamedNode(str(getattr(g, "identifier", g)))))


def test_rdf_clients_can_ask_for_trig(client):
    response = client.get("/resource/japan", headers={"Accept": "application/trig"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/resource/japan.trig")


# --- HTTP caching -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/resource/potsdam-declaration.html", "/resource/potsdam-declaration.ttl",
                                  "/ontology", "/", "/.well-known/void"])
def test_pages_answer_304_to_a_matching_etag_or_date(client, path):
    first = client.get(path)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_pages_are_gzipped_for_clients_that_accept_it(client):
    plain = client.get("/resource/soviet-union.html")
    zipped = client.get("/resource/soviet-union.html", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert zipped.headers["ETag"] != plain.headers["ETag"], "two representations, two validators"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    again = client.get("/resource/soviet-union.html", headers={"Accept-Encoding": "gzip",
                                                                "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304


def test_a_write_changes_the_etag_and_the_date(start_server):
    server = start_server("--empty", "--allow-anonymous-updates")

    def insert(text):
        update = f'INSERT DATA {{ <{BASE}resource/japan> <http://www.w3.org/2000/01/rdf-schema#comment> "{text}" }}'
        assert requests.post(f"{server.url}/sparql", data={"update": update}, timeout=60).status_code == 200

    insert("first")
    url = f"{server.url}/resource/japan.ttl"
    first = requests.get(url, timeout=30)
    assert first.status_code == 200
    insert("second")
    after = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=30)
    assert after.status_code == 200 and "second" in after.text
    assert after.headers["ETag"] != first.headers["ETag"]


# --- VoID linksets --------------------------------------------------------------------------------------


def test_void_describes_the_linksets_to_dbpedia_and_wikidata(client, store):
    body = client.get("/.well-known/void", headers={"Accept": "text/turtle"}).get_data()
    void = {(t.subject.value if not isinstance(t.subject, ox.BlankNode) else "_", t.predicate.value, t.object.value)
            for t in ox.parse(body, format=ox.RdfFormat.TURTLE)}
    linksets = {s for s, p, o in void if p == VOID + "subjectsTarget"}
    assert len(linksets) >= 2
    targets = {o for s, p, o in void if p == VOID + "objectsTarget"}
    spaces = {o for s, p, o in void if s in targets and p == VOID + "uriSpace"}
    assert spaces == {"http://dbpedia.org/resource/", "http://www.wikidata.org/entity/"}
    for linkset in linksets:
        predicate = next(o for s, p, o in void if s == linkset and p == VOID + "linkPredicate")
        count = int(next(o for s, p, o in void if s == linkset and p == VOID + "triples"))
        target = next(o for s, p, o in void if s == linkset and p == VOID + "objectsTarget")
        space = next(o for s, p, o in void if s == target and p == VOID + "uriSpace")
        live = next(iter(store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ SELECT DISTINCT ?s ?o WHERE {{ ?s <{predicate}> ?o "
                                     f"FILTER(STRSTARTS(STR(?o), {ox.Literal(space)})) }} }}")))["n"].value
        assert count == int(live) > 0
    assert any(p == "http://purl.org/dc/terms/publisher" for s, p, o in void)
    assert any(p == "http://purl.org/dc/terms/modified" for s, p, o in void)


# --- the query page's helpers ---------------------------------------------------------------------


def test_an_undeclared_prefix_is_a_sentence_with_its_position(client):
    response = client.get("/sparql", query_string={"query": "SELECT * WHERE {\n  ?s nope:thing ?o }"})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "prefix `nope:` is not declared (line 2, column 6)" in text and "\\u{" not in text


def test_labels_for_the_query_page(client):
    response = client.post("/labels", data={"iri": [BASE + "resource/japan", "http://www.w3.org/2006/time#after",
                                                    "not an iri"]})
    names = response.get_json()
    assert names[BASE + "resource/japan"] == {"label": "Japan", "href": "/resource/japan.html"}
    assert names["http://www.w3.org/2006/time#after"]["label"] == "after"
    assert "not an iri" not in names
    too_many = client.post("/labels", data={"iri": [f"{BASE}resource/x{i}" for i in range(1001)]})
    assert too_many.status_code == 400
