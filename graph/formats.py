"""One table of the RDF and SPARQL-results formats Yokuryū reads and writes.

The CLI, the build and the server all pick formats here, so a format name, file extension
or media type means the same thing everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyoxigraph import QueryResultsFormat, RdfFormat


@dataclass(frozen=True)
class RdfSyntax:
    name: str
    oxigraph: RdfFormat
    media_types: tuple[str, ...]
    extensions: tuple[str, ...]

    @property
    def media_type(self) -> str:
        return self.media_types[0]

    @property
    def is_dataset(self) -> bool:
        """True when the syntax can carry named graphs (TriG, N-Quads)."""
        return self.oxigraph.supports_datasets


RDF_SYNTAXES: tuple[RdfSyntax, ...] = (
    RdfSyntax("turtle", RdfFormat.TURTLE, ("text/turtle", "application/x-turtle"), ("ttl",)),
    RdfSyntax("ntriples", RdfFormat.N_TRIPLES, ("application/n-triples", "text/plain"), ("nt",)),
    RdfSyntax("trig", RdfFormat.TRIG, ("application/trig", "application/x-trig"), ("trig",)),
    RdfSyntax("nquads", RdfFormat.N_QUADS, ("application/n-quads", "text/x-nquads"), ("nq",)),
    RdfSyntax("jsonld", RdfFormat.JSON_LD, ("application/ld+json",), ("jsonld", "json")),
    RdfSyntax("rdfxml", RdfFormat.RDF_XML, ("application/rdf+xml",), ("rdf", "owl", "xml")),
)


@dataclass(frozen=True)
class ResultsSyntax:
    name: str
    oxigraph: QueryResultsFormat
    media_types: tuple[str, ...]

    @property
    def media_type(self) -> str:
        return self.media_types[0]


RESULTS_SYNTAXES: tuple[ResultsSyntax, ...] = (
    ResultsSyntax("json", QueryResultsFormat.JSON, ("application/sparql-results+json", "application/json")),
    ResultsSyntax("xml", QueryResultsFormat.XML, ("application/sparql-results+xml", "application/xml")),
    ResultsSyntax("csv", QueryResultsFormat.CSV, ("text/csv",)),
    ResultsSyntax("tsv", QueryResultsFormat.TSV, ("text/tab-separated-values",)),
)


class UnknownFormat(ValueError):
    """Raised with a message that lists the formats that would have worked."""


def rdf_syntax(name: str) -> RdfSyntax:
    """Look an RDF syntax up by its short name (``turtle``, ``trig``…)."""
    for syntax in RDF_SYNTAXES:
        if syntax.name == name:
            return syntax
    raise UnknownFormat(f"unknown RDF format {name!r}; use one of: {', '.join(s.name for s in RDF_SYNTAXES)}")


def rdf_syntax_for_media_type(media_type: str) -> RdfSyntax | None:
    """The RDF syntax for a media type (parameters such as charset are ignored), or None."""
    bare = media_type.split(";", 1)[0].strip().lower()
    for syntax in RDF_SYNTAXES:
        if bare in syntax.media_types:
            return syntax
    return None


def rdf_syntax_for_path(path: str | Path) -> RdfSyntax:
    """Guess the RDF syntax of a file from its extension (``.gz`` is not supported)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    for syntax in RDF_SYNTAXES:
        if suffix in syntax.extensions:
            return syntax
    known = ", ".join("." + e for s in RDF_SYNTAXES for e in s.extensions)
    raise UnknownFormat(f"{path}: cannot tell the RDF format from the extension {Path(path).suffix!r}; use one of {known}")


def results_syntax(name: str) -> ResultsSyntax:
    for syntax in RESULTS_SYNTAXES:
        if syntax.name == name:
            return syntax
    raise UnknownFormat(f"unknown results format {name!r}; use one of: {', '.join(s.name for s in RESULTS_SYNTAXES)}")
