"""The Yokuryū ontology: namespace constants, well-known IRIs and a loader for the TBox."""
from __future__ import annotations

from importlib import resources

from rdflib import Graph, Namespace

BASE = "https://w3id.org/yokuryu/"
YK = Namespace(BASE + "ontology#")
"""Ontology terms (classes, properties and named individuals of the vocabulary)."""
RES = Namespace(BASE + "resource/")
"""Things the graph is about: people, states, treaties, camps, works, events, claims."""
SOURCE = Namespace(BASE + "source/")
"""Source documents; their sentences are hash IRIs, e.g. ``…/source/<doc>#s10``."""
GRAPH = Namespace(BASE + "graph/")
"""Named graphs of the dataset."""
GENID = Namespace(BASE + ".well-known/genid/")
"""Skolem IRIs that replace blank nodes, so every build yields the same graph."""

ONTOLOGY_IRI = BASE + "ontology"
DATASET_IRI = BASE + "dataset"

# Named graphs. Every asserted graph keeps its own IRI; the union is the default graph when served.
ONTOLOGY_GRAPH = GRAPH.ontology
SHAPES_GRAPH = GRAPH.shapes
EXTERNAL_GRAPH = GRAPH.external
INFERRED_GRAPH = GRAPH.inferred
METADATA_GRAPH = GRAPH.metadata
# Links out (skos:exactMatch/closeMatch) curated by the project: neither the source's nor history's.
LINKS_GRAPH = GRAPH.links

DATA_LICENSE = "https://creativecommons.org/licenses/by-sa/4.0/"
CODE_LICENSE = "https://www.apache.org/licenses/LICENSE-2.0"


def source_graph(doc_slug: str):
    """The named graph holding what one source document asserts."""
    return GRAPH["source/" + doc_slug]


def ontology_files():
    """The Turtle files that make up the ontology, in a stable order."""
    folder = resources.files(__name__)
    return sorted((f for f in folder.iterdir() if f.name.endswith(".ttl")), key=lambda f: f.name)


def load_ontology() -> Graph:
    """Parse the bundled ontology into one rdflib graph."""
    graph = Graph()
    for file in ontology_files():
        graph.parse(data=file.read_text(encoding="utf-8"), format="turtle", publicID=ONTOLOGY_IRI)
    return graph


# Prefixes predeclared for queries (the CLI and the endpoint), so examples stay short.
# A query's own PREFIX declarations win over these.
PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
    "schema": "https://schema.org/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "sh": "http://www.w3.org/ns/shacl#",
    "void": "http://rdfs.org/ns/void#",
    "yk": str(YK),
    "res": str(RES),
    "ykg": str(GRAPH),
}
