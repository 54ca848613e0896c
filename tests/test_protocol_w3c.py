"""The W3C SPARQL 1.1 Protocol tests, each an HTTP exchange replayed against ``yokuryu serve``.

``tests/w3c/sparql11/protocol/manifest.ttl`` describes every test as requests (method, path,
headers, body) and expected responses (status class, result format, boolean). One test here per
test there, named after it, drives the real server — ``yokuryu serve --empty
--allow-anonymous-updates``, the same HTTP stack users get — over real HTTP.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from rdflib import Graph, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.compare import isomorphic
from rdflib.namespace import RDF, RDFS


W3C = Path(__file__).parent / "w3c" / "sparql11"
MF = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
HT = Namespace("http://www.w3.org/2011/http#")
CNT = Namespace("http://www.w3.org/2011/content#")
UT = Namespace("http://www.w3.org/2009/sparql/tests/test-update#")
RESULTS_TYPES = ("application/sparql-results+json", "application/json", "application/sparql-results+xml",
                 "application/xml", "text/csv", "text/tab-separated-values")
RDF_TYPES = ("text/turtle", "application/n-triples", "application/rdf+xml", "application/ld+json",
             "application/n-quads", "application/trig")
NAMED_STATUS = {"OK": (200,), "Created": (201,), "NoContent": (204,), "NotFound": (404,),
                "BadRequest": (400,), "UnsupportedMediaType": (415,)}


# --- reading a manifest ----------------------------------------------------------------------


@dataclass
class Exchange:
    """One request of a test and what its response must be."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    statuses: set[int]
    expected_boolean: bool | None = None
    expected_format: str | None = None
    expected_content_type: str | None = None
    expected_graph: str | None = None
    location_variable: str | None = None


@dataclass
class ProtocolTest:
    name: str
    exchanges: list[Exchange]
    graph_data: list[tuple[Path, str]] = field(default_factory=list)  # (file, graph IRI)


def load_manifest(path: Path) -> dict[str, ProtocolTest]:
    """Every test of a manifest (and of the manifests it includes), by local name."""
    graph = Graph().parse(path, format="turtle")
    tests: dict[str, ProtocolTest] = {}
    for included in graph.objects(None, MF.include):
        for member in Collection(graph, included):
            tests.update(load_manifest(Path(str(member).removeprefix("file://"))))
    listed = [test for entries in graph.objects(None, MF.entries) for test in Collection(graph, entries)]
    # A test described in a manifest but missing from its entry list is a test too.
    described = [t for kind in (MF.ProtocolTest, MF.GraphStoreProtocolTest) for t in graph.subjects(RDF.type, kind)]
    for test in dict.fromkeys([*listed, *described]):
        name = str(test).rsplit("#", 1)[-1]
        tests[name] = _read_test(graph, test, name, path.parent)
    return tests


def _read_test(graph: Graph, test, name: str, folder: Path) -> ProtocolTest:
    action = graph.value(test, MF.action)
    exchanges = [_read_exchange(graph, request) for request in Collection(graph, graph.value(action, HT.requests))]
    data = [(folder / Path(str(graph.value(d, UT.graph))).name, str(graph.value(d, RDFS.label)))
            for d in graph.objects(test, UT.graphData)]
    return ProtocolTest(name, exchanges, data)


def _read_exchange(graph: Graph, request) -> Exchange:
    headers = {}
    header_list = graph.value(request, HT.headers)
    if header_list is not None:
        for header in Collection(graph, header_list):
            headers[str(graph.value(header, HT.fieldName))] = str(graph.value(header, HT.fieldValue))
    body = None
    body_node = graph.value(request, HT.body)
    if body_node is not None:
        encoding = str(graph.value(body_node, CNT.characterEncoding) or "UTF-8")
        body = str(graph.value(body_node, CNT.chars)).encode(encoding.lower())
    response = graph.value(request, HT.resp)
    statuses: set[int] = set()
    for status in graph.objects(response, MF.expectedStatus):
        local = str(status).rsplit("#", 1)[-1]
        if local.startswith("StatusCode") and local.endswith("xx"):
            first = int(local[len("StatusCode")]) * 100
            statuses.update(range(first, first + 100))
        else:
            statuses.update(NAMED_STATUS[local])
    expected_boolean = graph.value(response, MF.expectedBoolean)
    expected_format = graph.value(response, MF.expectedFormat)
    content_type, expected_graph = None, None
    response_headers = graph.value(response, HT.headers)
    if response_headers is not None:
        for header in Collection(graph, response_headers):
            if str(graph.value(header, HT.fieldName)).lower() == "content-type":
                content_type = str(graph.value(header, HT.fieldValue))
    response_body = graph.value(response, HT.body)
    if response_body is not None:
        expected_graph = str(graph.value(response_body, CNT.chars))
    location = graph.value(response, MF.expectedLocation)
    return Exchange(
        method=str(graph.value(request, HT.methodName)), path=str(graph.value(request, HT.absolutePath)),
        headers=headers, body=body, statuses=statuses,
        expected_boolean=None if expected_boolean is None else expected_boolean.toPython(),
        expected_format=None if expected_format is None else str(expected_format),
        expected_content_type=content_type, expected_graph=expected_graph,
        location_variable=None if location is None else str(location))


# --- replaying a test --------------------------------------------------------------------------


def replay(test: ProtocolTest, base_url: str, path_prefixes: dict[str, str]) -> None:
    """Run the requests of ``test`` in order against the server and check every response."""
    for file, iri in test.graph_data:
        response = requests.put(f"{base_url}/store", params={"graph": iri}, data=file.read_bytes(),
                                headers={"Content-Type": "application/n-triples"}, timeout=30)
        assert response.status_code in (201, 204), response.text
    variables: dict[str, str] = {}
    for number, exchange in enumerate(test.exchanges, 1):
        path, body = exchange.path, exchange.body
        for name, value in variables.items():
            path = path.replace(name, value)
            body = body.replace(name.encode(), value.encode()) if body is not None else None
        for old, new in path_prefixes.items():
            if path.startswith(old):
                path = new + path[len(old):]
                break
        response = requests.request(exchange.method, base_url + path, data=body, headers=exchange.headers,
                                    timeout=30, allow_redirects=False)
        where = f"{test.name}, request {number} ({exchange.method} {path})"
        assert response.status_code in exchange.statuses, f"{where}: {response.status_code} {response.text}"
        if exchange.location_variable:
            variables[exchange.location_variable] = response.headers["Location"]
        _check_body(exchange, response, where)


def _check_body(exchange: Exchange, response: requests.Response, where: str) -> None:
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if exchange.expected_format == "boolean" or exchange.expected_boolean is not None:
        assert media_type in RESULTS_TYPES[:4], f"{where}: {media_type} is not a boolean results format"
        if exchange.expected_boolean is not None:
            assert _boolean(response, media_type) is exchange.expected_boolean, where
    elif exchange.expected_format == "tabular":
        assert media_type in RESULTS_TYPES, f"{where}: {media_type} is not a tabular results format"
    elif exchange.expected_format == "RDF":
        assert media_type in RDF_TYPES, f"{where}: {media_type} is not an RDF format"
        Graph().parse(data=response.content, format={"text/turtle": "turtle", "application/n-triples": "nt",
                                                     "application/rdf+xml": "xml", "application/ld+json": "json-ld",
                                                     "application/n-quads": "nquads", "application/trig": "trig"}[media_type])
    if exchange.expected_content_type:
        assert response.headers["Content-Type"].replace(" ", "").lower() == \
            exchange.expected_content_type.replace(" ", "").lower(), where
    if exchange.expected_graph is not None and exchange.method != "HEAD":
        expected = Graph().parse(data=exchange.expected_graph, format="turtle")
        actual = Graph().parse(data=response.content, format="turtle")
        assert isomorphic(expected, actual), f"{where}: got\n{response.text}"


def _boolean(response: requests.Response, media_type: str) -> bool:
    if "json" in media_type:
        return json.loads(response.content)["boolean"]
    root = ElementTree.fromstring(response.content)
    return root.find("{http://www.w3.org/2005/sparql-results#}boolean").text.strip() == "true"


# --- the tests -----------------------------------------------------------------------------------

TESTS = load_manifest(W3C / "protocol" / "manifest.ttl")


def replay_on_empty_store(server_url: str, test, rewrites: dict[str, str]) -> None:
    """Empty the store, then replay one manifest test with the manifest's paths rewritten."""
    emptied = requests.post(f"{server_url}/sparql", data="DROP ALL",
                            headers={"Content-Type": "application/sparql-update"}, timeout=30)
    assert emptied.status_code == 200, emptied.text
    replay(test, server_url, rewrites)


@pytest.fixture
def run(plain_server):
    """Replay one manifest test on an emptied store."""
    return lambda name: replay_on_empty_store(plain_server.url, TESTS[name],
                                              {"/sparql/": "/sparql", "/sparql": "/sparql"})


def test_every_manifest_entry_has_a_test_here():
    here = {name.removeprefix("test_") for name in dir(sys.modules[__name__]) if name.startswith("test_")}
    assert set(TESTS) <= here, f"no test for: {sorted(set(TESTS) - here)}"
    assert len(TESTS) == 34


def test_query_post_form(run): run("query_post_form")
def test_query_dataset_default_graphs_get(run): run("query_dataset_default_graphs_get")
def test_query_dataset_default_graphs_post(run): run("query_dataset_default_graphs_post")
def test_query_dataset_named_graphs_post(run): run("query_dataset_named_graphs_post")
def test_query_dataset_named_graphs_get(run): run("query_dataset_named_graphs_get")
def test_query_dataset_full(run): run("query_dataset_full")
def test_query_multiple_dataset(run): run("query_multiple_dataset")
def test_query_get(run): run("query_get")
def test_query_content_type_select(run): run("query_content_type_select")
def test_query_content_type_ask(run): run("query_content_type_ask")
def test_query_content_type_describe(run): run("query_content_type_describe")
def test_query_content_type_construct(run): run("query_content_type_construct")
def test_update_dataset_default_graph(run): run("update_dataset_default_graph")
def test_update_dataset_default_graphs(run): run("update_dataset_default_graphs")
def test_update_dataset_named_graphs(run): run("update_dataset_named_graphs")
def test_update_dataset_full(run): run("update_dataset_full")
def test_update_post_form(run): run("update_post_form")
def test_update_post_direct(run): run("update_post_direct")
def test_update_base_uri(run): run("update_base_uri")
def test_query_post_direct(run): run("query_post_direct")
def test_bad_query_method(run): run("bad_query_method")
def test_bad_multiple_queries(run): run("bad_multiple_queries")
def test_bad_query_wrong_media_type(run): run("bad_query_wrong_media_type")
def test_bad_query_missing_form_type(run): run("bad_query_missing_form_type")
def test_bad_query_missing_direct_type(run): run("bad_query_missing_direct_type")
def test_bad_query_non_utf8(run): run("bad_query_non_utf8")
def test_bad_query_syntax(run): run("bad_query_syntax")
def test_bad_update_get(run): run("bad_update_get")
def test_bad_multiple_updates(run): run("bad_multiple_updates")
def test_bad_update_wrong_media_type(run): run("bad_update_wrong_media_type")
def test_bad_update_missing_form_type(run): run("bad_update_missing_form_type")
def test_bad_update_non_utf8(run): run("bad_update_non_utf8")
def test_bad_update_syntax(run): run("bad_update_syntax")
def test_bad_update_dataset_conflict(run): run("bad_update_dataset_conflict")


# --- the W3C service description tests (sparql11/service-description/manifest.ttl) ---------------

SD_SHAPES = """
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix sd: <http://www.w3.org/ns/sparql-service-description#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
[] a sh:NodeShape ; sh:targetClass sd:Service ;
   sh:property [ sh:path sd:endpoint ; sh:minCount 1 ; sh:nodeKind sh:IRI ] ;
   sh:property [ sh:path sd:supportedLanguage ; sh:minCount 1 ;
                 sh:in ( sd:SPARQL10Query sd:SPARQL11Query sd:SPARQL11Update ) ] ;
   sh:property [ sh:path sd:resultFormat ; sh:nodeKind sh:IRI ] ;
   sh:property [ sh:path sd:inputFormat ; sh:nodeKind sh:IRI ] ;
   sh:property [ sh:path sd:feature ; sh:nodeKind sh:IRI ] ;
   sh:property [ sh:path sd:defaultEntailmentRegime ; sh:nodeKind sh:IRI ] ;
   sh:property [ sh:path sd:defaultDataset ; sh:maxCount 1 ; sh:class sd:Dataset ] .
[] a sh:NodeShape ; sh:targetClass sd:Dataset ;
   sh:property [ sh:path sd:defaultGraph ; sh:maxCount 1 ; sh:class sd:Graph ] ;
   sh:property [ sh:path sd:namedGraph ; sh:class sd:NamedGraph ] .
[] a sh:NodeShape ; sh:targetClass sd:NamedGraph ;
   sh:property [ sh:path sd:name ; sh:minCount 1 ; sh:maxCount 1 ; sh:nodeKind sh:IRI ] ;
   sh:property [ sh:path sd:entailmentRegime ; sh:nodeKind sh:IRI ] .
"""
SD_TESTS = ("has-endpoint-triple", "returns-rdf", "conforms-to-schema")
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")


def _service_description(server, accept: str = "text/turtle") -> Graph:
    response = requests.get(f"{server.url}/sparql", headers={"Accept": accept}, timeout=30)
    assert response.status_code == 200
    fmt = {"text/turtle": "turtle", "application/rdf+xml": "xml", "application/n-triples": "nt",
           "application/ld+json": "json-ld"}[accept]
    assert response.headers["Content-Type"] == f"{accept}; charset=utf-8"
    return Graph().parse(data=response.content, format=fmt)


def test_service_description_manifest_is_covered():
    manifest = Graph().parse(W3C / "service-description" / "manifest.ttl", format="turtle")
    names = {str(t).rsplit("#", 1)[-1] for t in manifest.subjects(RDF.type, MF.ServiceDescriptionTest)}
    assert names == set(SD_TESTS)


def test_returns_rdf(plain_server):
    for accept in ("text/turtle", "application/rdf+xml", "application/n-triples", "application/ld+json"):
        assert len(_service_description(plain_server, accept)) > 10


def test_has_endpoint_triple(plain_server):
    graph = _service_description(plain_server)
    endpoint = URIRef(f"{plain_server.url}/sparql")
    assert (None, SD.endpoint, endpoint) in graph


def test_conforms_to_schema(plain_server):
    from pyshacl import validate
    graph = _service_description(plain_server)
    conforms, _, report = validate(graph, shacl_graph=Graph().parse(data=SD_SHAPES, format="turtle"))
    assert conforms, report
    # This server writes anonymously, so the description must say it speaks SPARQL Update too.
    service = next(graph.subjects(RDF.type, SD.Service))
    assert (service, SD.supportedLanguage, SD.SPARQL11Update) in graph


def test_the_replay_notices_a_wrong_answer(plain_server):
    """The harness itself can fail: the same exchange with a contrary expectation must not pass."""
    import copy
    wrong = copy.deepcopy(TESTS["query_get"])
    wrong.exchanges[0].expected_boolean = False
    with pytest.raises(AssertionError):
        replay(wrong, plain_server.url, {"/sparql/": "/sparql"})
    wrong_status = copy.deepcopy(TESTS["bad_query_syntax"])
    wrong_status.exchanges[0].statuses = {200}
    with pytest.raises(AssertionError, match="400"):
        replay(wrong_status, plain_server.url, {"/sparql/": "/sparql"})
