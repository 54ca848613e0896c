"""The SPARQL 1.1 Service Description of ``/sparql``, generated from what the server does.

Formats come from the same table the handlers negotiate with (``yokuryu.graph.formats``),
features and languages from the configuration, named graphs from the store itself, so the
description cannot drift from the code.
"""
from __future__ import annotations

import io

import pyoxigraph as ox
from flask import Response, request
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, RDFS

from yokuryu.graph.formats import RDF_SYNTAXES, RESULTS_SYNTAXES
from yokuryu.ontology import INFERRED_GRAPH
from yokuryu.server.negotiation import choose_rdf_syntax, with_charset
from yokuryu.server.store_access import get_config, get_store

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
FORMATS = Namespace("http://www.w3.org/ns/formats/")
ENTAILMENT = Namespace("http://www.w3.org/ns/entailment/")
OWL_PROFILE = Namespace("http://www.w3.org/ns/owl-profile/")

# The W3C format IRIs of the syntaxes in yokuryu.graph.formats, by their short names.
FORMAT_IRIS = {
    "turtle": FORMATS.Turtle, "ntriples": FORMATS["N-Triples"], "trig": FORMATS.TriG,
    "nquads": FORMATS["N-Quads"], "jsonld": FORMATS["JSON-LD"], "rdfxml": FORMATS.RDF_XML,
    "json": FORMATS.SPARQL_Results_JSON, "xml": FORMATS.SPARQL_Results_XML,
    "csv": FORMATS.SPARQL_Results_CSV, "tsv": FORMATS.SPARQL_Results_TSV,
}


def describe_service(endpoint: str) -> Graph:
    """The service description of the endpoint at ``endpoint`` as an RDF graph."""
    config, store = get_config(), get_store()
    graph = Graph()
    graph.bind("sd", SD)
    graph.bind("format", FORMATS)
    graph.bind("ent", ENTAILMENT)
    graph.bind("profile", OWL_PROFILE)
    service = URIRef(endpoint)
    graph.add((service, RDF.type, SD.Service))
    graph.add((service, SD.endpoint, service))
    graph.add((service, SD.supportedLanguage, SD.SPARQL11Query))
    if config.update_token or config.allow_anonymous_updates:
        graph.add((service, SD.supportedLanguage, SD.SPARQL11Update))
    for syntax in RESULTS_SYNTAXES:
        graph.add((service, SD.resultFormat, FORMAT_IRIS[syntax.name]))
    for syntax in RDF_SYNTAXES:
        # Graphs go out (CONSTRUCT, DESCRIBE, graph store GET) and come in (graph store PUT/POST).
        graph.add((service, SD.resultFormat, FORMAT_IRIS[syntax.name]))
        graph.add((service, SD.inputFormat, FORMAT_IRIS[syntax.name]))
    graph.add((service, SD.feature, SD.EmptyGraphs))
    if config.union_default_graph:
        graph.add((service, SD.feature, SD.UnionDefaultGraph))
    graph.add((service, SD.defaultEntailmentRegime, ENTAILMENT.Simple))

    dataset = BNode("dataset")
    graph.add((service, SD.defaultDataset, dataset))
    graph.add((dataset, RDF.type, SD.Dataset))
    default = BNode("default-graph")
    graph.add((dataset, SD.defaultGraph, default))
    graph.add((default, RDF.type, SD.Graph))
    if config.union_default_graph:
        graph.add((default, RDFS.comment, Literal("The union of all named graphs.", lang="en")))
    for name in store.graph_names():
        named = BNode()
        graph.add((dataset, SD.namedGraph, named))
        graph.add((named, RDF.type, SD.NamedGraph))
        graph.add((named, SD.name, URIRef(name)))
        if name == str(INFERRED_GRAPH):
            # What OWL 2 RL adds to the asserted graphs; with them, the union is the closure.
            graph.add((named, SD.entailmentRegime, ENTAILMENT["OWL-RDF-Based"]))
            graph.add((named, SD.supportedEntailmentProfile, OWL_PROFILE.RL))
    return graph


def service_description_response() -> Response:
    syntax = choose_rdf_syntax("turtle")
    description = describe_service(request.base_url)
    if syntax.name == "turtle":
        body = description.serialize(format="turtle").encode("utf-8")  # keeps the sd:/format: prefixes
    else:
        # Every other syntax through the same serialisers as query results.
        quads = ox.parse(description.serialize(format="nt").encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)
        out = io.BytesIO()
        ox.serialize(quads if syntax.is_dataset else (ox.Triple(q.subject, q.predicate, q.object) for q in quads),
                     out, format=syntax.oxigraph)
        body = out.getvalue()
    response = Response(body, status=200)
    response.headers["Content-Type"] = with_charset(syntax.media_type)
    response.headers["Vary"] = "Accept"
    return response
