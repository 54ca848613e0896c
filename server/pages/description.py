"""What the server says about one IRI: the triples of its page, each with the graphs that hold it.

A description is the thing's own statements (and those of its hash IRIs, ``…#s3``, which its
document also describes) plus the statements that point at it. The HTML page and every RDF
serialisation are made from the same :class:`Description`, so they cannot disagree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyoxigraph as ox

from yokuryu.ontology import INFERRED_GRAPH, SHAPES_GRAPH

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_INFERRED = str(INFERRED_GRAPH)
# Shapes mention classes and properties only as targets and paths: not statements about them.
_SKIPPED_GRAPHS = {str(SHAPES_GRAPH)}


@dataclass
class Statement:
    subject: ox.NamedNode | ox.BlankNode
    predicate: ox.NamedNode
    object: ox.NamedNode | ox.BlankNode | ox.Literal
    graphs: list[str] = field(default_factory=list)

    @property
    def inferred(self) -> bool:
        """Only the reasoner says so: every graph that holds it is the inferred graph."""
        return all(g == _INFERRED for g in self.graphs)

    @property
    def triple(self) -> ox.Triple:
        return ox.Triple(self.subject, self.predicate, self.object)


@dataclass
class Description:
    iri: str
    subjects: list[str]
    outgoing: dict[str, list[Statement]]
    incoming: dict[str, list[Statement]]

    @property
    def exists(self) -> bool:
        return any(self.outgoing.values()) or any(self.incoming.values())

    def statements(self) -> list[Statement]:
        found = [s for subject in self.subjects for s in self.outgoing[subject]]
        found += [s for subject in self.subjects for s in self.incoming[subject]]
        return found

    def triples(self) -> list[ox.Triple]:
        """The description as RDF, each triple once, in a stable order."""
        unique = {(str(t.subject), str(t.predicate), str(t.object)): t for t in (s.triple for s in self.statements())}
        return [unique[key] for key in sorted(unique)]

    def quads(self) -> list[ox.Quad]:
        """The description with each statement's named graph (asserted, external, inferred), once each."""
        unique = {}
        for statement in self.statements():
            for graph in statement.graphs:
                quad = ox.Quad(statement.subject, statement.predicate, statement.object,
                               ox.NamedNode(graph) if graph else ox.DefaultGraph())
                unique[str(quad)] = quad
        return [unique[key] for key in sorted(unique)]

    def types(self, subject: str | None = None) -> list[str]:
        subject = subject or self.iri
        return [s.object.value for s in self.outgoing.get(subject, [])
                if s.predicate == RDF_TYPE and isinstance(s.object, ox.NamedNode)]

    def values(self, predicate: str, subject: str | None = None) -> list:
        subject = subject or self.iri
        return [s.object for s in self.outgoing.get(subject, []) if s.predicate.value == predicate]


def describe(store, iri: str) -> Description:
    """Gather the description of ``iri`` from every graph of the store (but the shapes)."""
    subjects = [iri] + _hash_children(store, iri)
    outgoing = {s: _statements(store, ox.NamedNode(s), None) for s in subjects}
    incoming = {s: [st for st in _statements(store, None, ox.NamedNode(s)) if not str(st.subject.value).startswith(iri + "#")
                    or st.subject.value == s]
                for s in subjects}
    return Description(iri, subjects, outgoing, incoming)


def _statements(store, subject, obj) -> list[Statement]:
    by_triple: dict[tuple, Statement] = {}
    for quad in store.oxigraph.quads_for_pattern(subject, None, obj, None):
        graph = quad.graph_name.value if isinstance(quad.graph_name, ox.NamedNode) else ""
        if graph in _SKIPPED_GRAPHS:
            continue
        key = (quad.subject, quad.predicate, quad.object)
        statement = by_triple.get(key)
        if statement is None:
            statement = by_triple[key] = Statement(quad.subject, quad.predicate, quad.object)
        if graph not in statement.graphs:
            statement.graphs.append(graph)
    return sorted(by_triple.values(), key=lambda s: (s.predicate != RDF_TYPE, s.predicate.value,
                                                      str(s.subject), str(s.object)))


def _hash_children(store, iri: str) -> list[str]:
    """IRIs ``iri#…`` that have statements of their own (the sentences of a source document)."""
    if "#" in iri:
        return []
    query = ("SELECT DISTINCT ?s WHERE { GRAPH ?g { ?s ?p ?o } "
             f"FILTER(isIRI(?s) && STRSTARTS(STR(?s), {ox.Literal(iri + '#')})) }}")
    found = [row["s"].value for row in store.query(query, union_default_graph=False)]
    return sorted(found, key=_natural_key)


def _natural_key(text: str):
    """Order ``#s2`` before ``#s10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
