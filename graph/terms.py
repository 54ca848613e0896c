"""Conversions between pyoxigraph terms (the store) and rdflib terms (owlrl, pyshacl).

Oxigraph parses, stores and queries; rdflib is what the reasoner and the validator run on.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyoxigraph as ox
from rdflib import BNode, Literal, URIRef
from rdflib.term import Node

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def to_rdflib(term) -> Node:
    """An rdflib term for a pyoxigraph NamedNode, BlankNode or Literal."""
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        datatype = term.datatype.value
        if datatype == _XSD_STRING:
            return Literal(term.value)
        # normalize=False keeps the lexical form exactly as written (no "01"→"1" rewriting).
        return Literal(term.value, datatype=URIRef(datatype), normalize=False)
    raise TypeError(f"RDF-star triple terms are not supported here: {term!r}")


def to_oxigraph(term: Node):
    """A pyoxigraph term for an rdflib URIRef, BNode or Literal."""
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype is not None and str(term.datatype) != _RDF_LANG_STRING:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    raise TypeError(f"unsupported rdflib term {term!r}")


def graph_name_to_oxigraph(name):
    """The pyoxigraph graph name for an rdflib graph identifier (None → default graph)."""
    if name is None:
        return ox.DefaultGraph()
    return to_oxigraph(name)


def rdflib_triples_to_quads(triples: Iterable[tuple[Node, Node, Node]], graph_name) -> Iterator[ox.Quad]:
    """pyoxigraph quads, all in the graph ``graph_name`` (an rdflib IRI or None for default)."""
    g = graph_name_to_oxigraph(graph_name)
    for s, p, o in triples:
        yield ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o), g)
