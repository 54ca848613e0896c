"""Where compiled SPARQL runs: one small interface, an embedded pyoxigraph store behind it.

The validation and reasoning that Yokuryū compiles to SPARQL (``yokuryu.graph.shacl_sparql``,
``yokuryu.graph.owlrl_sparql``) talk only to a :class:`SparqlEngine`: SELECT, ASK, CONSTRUCT
and UPDATE over the store's *real* dataset (named graphs are named in the query text with
``GRAPH`` or ``FROM``; nothing depends on a union default graph). Anything that speaks
SPARQL 1.1 can stand behind it — the embedded store here, a remote server over the protocol
(``yokuryu.graph.remote``) — so the same checks run unchanged when the data outgrows one
machine. Keep engine-specific calls out of the compiled rules: they must stay plain SPARQL 1.1.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import pyoxigraph as ox

Term = ox.NamedNode | ox.BlankNode | ox.Literal
Row = dict[str, Term]


class SparqlEngine(Protocol):
    """A SPARQL 1.1 query and update service over one RDF dataset."""

    def select(self, query: str) -> list[Row]:
        """The solutions of a SELECT query, each a mapping of bound variable names to terms."""

    def ask(self, query: str) -> bool:
        """The answer of an ASK query."""

    def construct(self, query: str) -> list[ox.Triple]:
        """The triples of a CONSTRUCT (or DESCRIBE) query."""

    def update(self, update: str) -> None:
        """Apply a SPARQL 1.1 Update request, all of it or nothing."""

    def insert_quads(self, quads: Iterable[ox.Quad]) -> None:
        """Add quads (a bulk INSERT DATA; engines may load them faster than the text would)."""


class LocalEngine:
    """:class:`SparqlEngine` over an embedded pyoxigraph store (in memory or on disk)."""

    def __init__(self, store: ox.Store):
        self.store = store

    def select(self, query: str) -> list[Row]:
        results = self.store.query(query)
        names = [v.value for v in results.variables]
        rows = []
        for solution in results:
            row = {}
            for name in names:
                value = solution[name]
                if value is not None:
                    row[name] = value
            rows.append(row)
        return rows

    def ask(self, query: str) -> bool:
        return bool(self.store.query(query))

    def construct(self, query: str) -> list[ox.Triple]:
        return list(self.store.query(query))

    def update(self, update: str) -> None:
        self.store.update(update)

    def insert_quads(self, quads: Iterable[ox.Quad]) -> None:
        self.store.extend(quads)


def sparql_term(term: Term) -> str:
    """A term written as SPARQL/N-Triples text (for VALUES blocks and INSERT DATA)."""
    if isinstance(term, ox.Literal):
        return str(term)  # pyoxigraph prints literals in N-Triples syntax, escapes included
    if isinstance(term, ox.NamedNode):
        return f"<{term.value}>"
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    raise TypeError(f"cannot write {term!r} in SPARQL")
