"""Compact JSON-LD with one published ``@context``, for pages and CONSTRUCT results alike.

The context is the project's prefix table (plus the few external vocabularies the data links
to), served at ``/context.jsonld``; documents carry it inline too, so they read without a
network fetch. Compaction is rdflib's JSON-LD serializer: no hand-written JSON.
"""
from __future__ import annotations

import json

import pyoxigraph as ox
from rdflib import Dataset, Graph

from yokuryu.ontology import PREFIXES

CONTEXT_PATH = "/context.jsonld"
# Namespaces the data links to besides the predeclared prefixes.
LINKED = {
    "time": "http://www.w3.org/2006/time#",
    "dbr": "http://dbpedia.org/resource/",
    "wd": "http://www.wikidata.org/entity/",
    "src": PREFIXES["res"].rsplit("resource/", 1)[0] + "source/",
}


def context() -> dict:
    """The ``@context`` object: every prefix as a term, sorted."""
    return {name: iri for name, iri in sorted({**PREFIXES, **LINKED}.items())}


def context_document() -> bytes:
    return json.dumps({"@context": context()}, indent=2, ensure_ascii=False).encode("utf-8")


def compact_jsonld(triples) -> bytes:
    """``triples`` (pyoxigraph) as compact JSON-LD with the project's context inline."""
    graph = Graph()
    graph.parse(data=ox.serialize(list(triples), format=ox.RdfFormat.N_TRIPLES).decode("utf-8"), format="nt")
    return graph.serialize(format="json-ld", context=context(), auto_compact=True).encode("utf-8")


def compact_jsonld_quads(quads) -> bytes:
    """Quads as compact JSON-LD: one ``@graph`` entry per named graph, so provenance survives."""
    dataset = Dataset()
    dataset.parse(data=ox.serialize(list(quads), format=ox.RdfFormat.N_QUADS).decode("utf-8"), format="nquads")
    return dataset.serialize(format="json-ld", context=context(), auto_compact=True).encode("utf-8")
