"""``/.well-known/void`` and ``/dumps/…``: the dataset described in VoID, and downloadable dumps.

The description starts from the build's ``…/graph/metadata`` graph (title, licence, sources,
build digest) and adds what only the running server knows: where its endpoint and dumps are,
and live counts, so it stays true after writes.
"""
from __future__ import annotations

import gzip
from datetime import datetime, timezone

import pyoxigraph as ox
from flask import Blueprint, Response, request

from yokuryu.graph.formats import rdf_syntax
from yokuryu.ontology import DATA_LICENSE, DATASET_IRI, GRAPH, METADATA_GRAPH, ONTOLOGY_IRI, PREFIXES
from yokuryu.server.errors import ProtocolError
from yokuryu.server.figures import Figures, figures, works_out
from yokuryu.server.negotiation import choose_document
from yokuryu.server.pages.documents import DOCUMENT_SYNTAXES, not_found, serialize
from yokuryu.server.store_access import get_config, get_store

blueprint = Blueprint("void", __name__)

VOID = "http://rdfs.org/ns/void#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
XSD_INTEGER = ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")
DUMP_SYNTAXES = {"trig": "trig", "nq": "nquads"}
# Vocabularies whose terms the data uses, besides our own ontology.
VOCABULARIES = ("rdf", "rdfs", "owl", "xsd", "skos", "dcterms", "prov", "schema", "foaf")
# Counts that a build writes and the server recomputes live.
LIVE = {VOID + "triples", VOID + "entities", VOID + "classes", VOID + "properties", VOID + "distinctSubjects"}
PROJECT_HOME = "https://w3id.org/yokuryu"  # the project URL of pyproject.toml


def v(term: str) -> ox.NamedNode:
    return ox.NamedNode(VOID + term)


@blueprint.get("/.well-known/void")
def void_description():
    ext = choose_document(DOCUMENT_SYNTAXES)
    if ext == "html":
        ext = "ttl"  # VoID is for machines; a browser gets the Turtle as text
    syntax = DOCUMENT_SYNTAXES[ext]
    description = describe_dataset(get_store(), request.url_root.rstrip("/"), get_config().base_iri)
    if description.value is None:  # the first description of this data is still being worked out
        raise ProtocolError(f"503 Service Unavailable: the dataset description of the latest data could not be "
                            f"given yet: {description.problem}. Try again in a few seconds.", 503,
                            headers={"Retry-After": "5"})
    body = serialize(description.value, syntax)
    media_type = "text/plain" if request.accept_mimetypes.best == "text/html" and ext == "ttl" else syntax.media_type
    response = Response(body, mimetype=syntax.media_type)
    response.headers["Content-Type"] = f"{media_type}; charset=utf-8"
    response.headers["Vary"] = "Accept"
    if not description.current:  # its dcterms:modified says which state it describes
        response.headers["Warning"] = '110 - "Response is Stale"'
    return response


@blueprint.get("/dumps/<path:filename>")
def dump(filename: str):
    """``/dumps/all.nq``, ``/dumps/external.trig``, ``/dumps/source/<doc>.nq.gz`` …"""
    compressed = filename.endswith(".gz")
    stem = filename[:-3] if compressed else filename
    name, dot, ext = stem.rpartition(".")
    store = get_store()
    graph = None if name == "all" else str(GRAPH) + name
    if not dot or ext not in DUMP_SYNTAXES or (graph is not None and graph not in store.graph_names()):
        return not_found(request.url_root.rstrip("/") + "/dumps/" + filename)
    syntax = rdf_syntax(DUMP_SYNTAXES[ext])
    body = store.dump(syntax, graph)
    response = Response(gzip.compress(body, mtime=0) if compressed else body,
                        mimetype="application/gzip" if compressed else syntax.media_type)
    if not compressed:
        response.headers["Content-Type"] = f"{syntax.media_type}; charset=utf-8"
    download = "yokuryu-" + filename.replace("/", "-")
    response.headers["Content-Disposition"] = f'attachment; filename="{download}"'
    return response


def describe_dataset(store, server: str, base: str) -> Figures:
    """The VoID description: the stored metadata, with live counts, endpoint, dumps, vocabularies.

    Its counts walk every quad: worked out in a query process once per state of the store
    (:mod:`yokuryu.server.figures`); the description of the previous state while it is.
    """
    return figures("void", (server, base), description, server, base, store.changed_at)


@works_out
def description(store, server: str, base: str, changed_at: float) -> list[ox.Triple]:
    """The VoID description of ``store``, whose content last changed at ``changed_at``."""
    dataset = ox.NamedNode(DATASET_IRI)
    triples = {ox.Triple(q.subject, q.predicate, q.object)
               for q in store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(str(METADATA_GRAPH)))
               if q.predicate.value not in LIVE}
    triples |= {
        ox.Triple(dataset, RDF_TYPE, v("Dataset")),
        ox.Triple(dataset, ox.NamedNode("http://purl.org/dc/terms/license"), ox.NamedNode(DATA_LICENSE)),
        ox.Triple(dataset, v("sparqlEndpoint"), ox.NamedNode(server + "/sparql")),
        ox.Triple(dataset, v("uriSpace"), ox.Literal(base + "resource/")),
        ox.Triple(dataset, v("vocabulary"), ox.NamedNode(ONTOLOGY_IRI)),
        ox.Triple(dataset, v("rootResource"), ox.NamedNode(base + "resource/internment-of-japanese-pows")),
        ox.Triple(dataset, v("exampleResource"), ox.NamedNode(base + "resource/potsdam-declaration")),
    }
    triples |= {ox.Triple(dataset, v("vocabulary"), ox.NamedNode(PREFIXES[p])) for p in VOCABULARIES}
    for ext in ("trig", "nq", "nq.gz"):
        triples.add(ox.Triple(dataset, v("dataDump"), ox.NamedNode(f"{server}/dumps/all.{ext}")))
    triples |= _counts(store, dataset)
    triples |= _publisher_and_date(changed_at, dataset)
    triples |= _linksets(store, dataset)
    per_graph = _graph_statistics(store)
    for name in store.graph_names():
        graph = ox.NamedNode(name)
        triples.add(ox.Triple(dataset, v("subset"), graph))
        triples.add(ox.Triple(graph, RDF_TYPE, v("Dataset")))
        triples.add(ox.Triple(graph, v("triples"), ox.Literal(str(store.graph_count(name)), datatype=XSD_INTEGER)))
        for statistic, value in per_graph.get(name, {}).items():
            triples.add(ox.Triple(graph, v(statistic), ox.Literal(value, datatype=XSD_INTEGER)))
        if name.startswith(str(GRAPH)):
            local = name[len(str(GRAPH)):]
            for ext in ("trig", "nq"):
                triples.add(ox.Triple(graph, v("dataDump"), ox.NamedNode(f"{server}/dumps/{local}.{ext}")))
    return sorted(triples, key=str)


# The datasets our links point into, as VoID targets: only what identifies them (their IRI
# space and home page), nothing we could not vouch for.
LINK_TARGETS = (
    ("dbpedia", "DBpedia", "http://dbpedia.org/resource/", "https://www.dbpedia.org/"),
    ("wikidata", "Wikidata", "http://www.wikidata.org/entity/", "https://www.wikidata.org/"),
)
LINK_PREDICATES = ("http://www.w3.org/2004/02/skos/core#exactMatch", "http://www.w3.org/2004/02/skos/core#closeMatch",
                   "http://www.w3.org/2002/07/owl#sameAs")
DCTERMS = "http://purl.org/dc/terms/"
RDFS_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")


def _publisher_and_date(changed_at: float, dataset: ox.NamedNode) -> set[ox.Triple]:
    """Who publishes the data (the project, as its package metadata names it) and when the
    served data last changed (the server knows; builds record no date)."""
    publisher = ox.NamedNode(DATASET_IRI + "#publisher")
    modified = datetime.fromtimestamp(changed_at, tz=timezone.utc).replace(microsecond=0)
    return {
        ox.Triple(dataset, ox.NamedNode(DCTERMS + "publisher"), publisher),
        ox.Triple(publisher, RDF_TYPE, ox.NamedNode("http://xmlns.com/foaf/0.1/Organization")),
        ox.Triple(publisher, ox.NamedNode("http://xmlns.com/foaf/0.1/name"), ox.Literal("Yokuryū developers")),
        ox.Triple(publisher, ox.NamedNode("http://xmlns.com/foaf/0.1/homepage"), ox.NamedNode(PROJECT_HOME)),
        ox.Triple(dataset, ox.NamedNode(DCTERMS + "modified"),
                  ox.Literal(modified.isoformat().replace("+00:00", "Z"),
                             datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#dateTime"))),
    }


def _linksets(store, dataset: ox.NamedNode) -> set[ox.Triple]:
    """One ``void:Linkset`` per target dataset and link property, with its live count."""
    triples: set[ox.Triple] = set()
    for key, name, space, home in LINK_TARGETS:
        target = ox.NamedNode(f"{DATASET_IRI}#{key}")
        found = False
        for predicate in LINK_PREDICATES:
            query = f"""SELECT (COUNT(*) AS ?n) WHERE {{ SELECT DISTINCT ?s ?o WHERE {{
              ?s <{predicate}> ?o FILTER(isIRI(?o) && STRSTARTS(STR(?o), {ox.Literal(space)})) }} }}"""
            count = int(next(iter(store.query(query)))["n"].value)
            if not count:
                continue
            found = True
            local = predicate.rsplit("#", 1)[1]
            linkset = ox.NamedNode(f"{DATASET_IRI}#links-{key}-{local}")
            triples |= {
                ox.Triple(dataset, v("subset"), linkset),
                ox.Triple(linkset, RDF_TYPE, v("Linkset")),
                ox.Triple(linkset, RDFS_LABEL, ox.Literal(f"{local} links to {name}", language="en")),
                ox.Triple(linkset, v("subjectsTarget"), dataset),
                ox.Triple(linkset, v("objectsTarget"), target),
                ox.Triple(linkset, v("linkPredicate"), ox.NamedNode(predicate)),
                ox.Triple(linkset, v("triples"), ox.Literal(str(count), datatype=XSD_INTEGER)),
                ox.Triple(linkset, ox.NamedNode(DCTERMS + "description"), ox.Literal(
                    "Curated by the project: each target identifier was verified (an English Wikipedia title "
                    "for DBpedia, the Q-id found verbatim for Wikidata); the source text asserts no such link.",
                    language="en")),
            }
        if found:
            triples |= {
                ox.Triple(target, RDF_TYPE, v("Dataset")),
                ox.Triple(target, RDFS_LABEL, ox.Literal(name, language="en")),
                ox.Triple(target, v("uriSpace"), ox.Literal(space)),
                ox.Triple(target, ox.NamedNode("http://xmlns.com/foaf/0.1/homepage"), ox.NamedNode(home)),
            }
    return triples


def _graph_statistics(store) -> dict[str, dict[str, str]]:
    """Distinct subjects and properties of each named graph."""
    query = """SELECT ?g (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?p) AS ?properties)
      WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"""
    return {row["g"].value: {"distinctSubjects": row["subjects"].value, "properties": row["properties"].value}
            for row in store.query(query, union_default_graph=False)}


def _counts(store, dataset: ox.NamedNode) -> set[ox.Triple]:
    """Statistics of the union of all graphs, as the endpoint's default graph serves it."""
    query = """SELECT (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?p) AS ?properties)
      WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"""
    row = next(iter(store.query(query)))
    classes = next(iter(store.query("SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { ?s a ?c }")))["n"]
    entities = next(iter(store.query("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c FILTER(isIRI(?s)) }")))["n"]

    def count(term) -> ox.Literal:
        return ox.Literal(term.value, datatype=XSD_INTEGER)

    return {
        ox.Triple(dataset, v("triples"), count(row["triples"])),
        ox.Triple(dataset, v("distinctSubjects"), count(row["subjects"])),
        ox.Triple(dataset, v("properties"), count(row["properties"])),
        ox.Triple(dataset, v("classes"), count(classes)),
        ox.Triple(dataset, v("entities"), count(entities)),
    }
