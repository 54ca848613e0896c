"""Content negotiation in one place: which representation a request gets.

Every view that can answer in more than one format asks here — the SPARQL endpoint (results
or a graph), the linked-data documents (HTML or RDF), VoID, the write reports — so Accept
(q-values, wildcards, media-type parameters) and the ``format`` parameter mean the same
thing on every URL.
"""
from __future__ import annotations

from functools import lru_cache

from flask import request
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from yokuryu.graph.formats import RDF_SYNTAXES, RESULTS_SYNTAXES, RdfSyntax, ResultsSyntax
from yokuryu.server.errors import ProtocolError

HTML_TYPES = ("text/html", "application/xhtml+xml")
# The parameters through which widely used clients name a format besides Accept: Fuseki and
# Virtuoso read ``format``, Joseki ``output``; SPARQLWrapper sends all three (``results``
# too), often twice each (a short name and a media type).
FORMAT_PARAMETERS = ("format", "output", "results")
# Short names clients send that are neither our names nor extensions.
ALIASES = {"rdf+xml": "rdfxml", "json-ld": "jsonld", "ld+json": "jsonld", "n-triples": "ntriples",
           "n-quads": "nquads", "ttl": "turtle", "sparql-results+json": "json", "sparql-results+xml": "xml"}


def choose_results_syntax(default_name: str = "json") -> ResultsSyntax:
    offers = [(m, s) for s in RESULTS_SYNTAXES for m in s.media_types]
    default = next(s for s in RESULTS_SYNTAXES if s.name == default_name)
    return _choose(offers, default, "SPARQL results")


def choose_rdf_syntax(default_name: str = "turtle", datasets: bool = True) -> RdfSyntax:
    offers = [(m, s) for s in RDF_SYNTAXES if datasets or not s.is_dataset for m in _rdf_media_types(s)]
    default = next(s for s in RDF_SYNTAXES if s.name == default_name)
    return _choose(offers, default, "an RDF graph")


def results_syntax_for(accept: str | None) -> ResultsSyntax:
    """:func:`choose_results_syntax` for an Accept header given explicitly (outside a Flask request)."""
    return _choose_for(accept, _RESULTS_OFFERS, _RESULTS_DEFAULT, "SPARQL results")


def rdf_syntax_for(accept: str | None) -> RdfSyntax:
    """:func:`choose_rdf_syntax` (datasets included, Turtle by default) for an explicit Accept header."""
    return _choose_for(accept, _RDF_OFFERS, _RDF_DEFAULT, "an RDF graph")


@lru_cache(maxsize=512)
def protocol_offers(accept: str | None) -> tuple[ResultsSyntax | None, RdfSyntax | None, dict[str, ProtocolError]]:
    """The results and graph syntaxes for an Accept header, and the 406 for each kind that has none.

    Remembered per header with its refusals (a client asking for SPARQL JSON has no graph
    format, and would otherwise have that worked out again on every request). The errors are
    templates: raise a copy (:func:`fresh`).
    """
    chosen, errors = {}, {}
    for kind, choose in (("results", results_syntax_for), ("graph", rdf_syntax_for)):
        try:
            chosen[kind] = choose(accept)
        except ProtocolError as error:
            chosen[kind], errors[kind] = None, error
    return chosen["results"], chosen["graph"], errors


def fresh(error: ProtocolError) -> ProtocolError:
    """A new exception with ``error``'s answer (a remembered one must not collect tracebacks)."""
    return ProtocolError(error.message, error.status, dict(error.headers), error.body, error.media_type)


def named_formats(values: list[str]) -> tuple[ResultsSyntax | None, RdfSyntax | None]:
    """The results and graph syntaxes that the ``format``-like parameter values name.

    Empty values are ignored; a value that names nothing is a 400 that lists the names; values
    that name different formats of one kind (``format=csv&output=tsv``) are a 400 too.
    """
    results: set[ResultsSyntax] = set()
    graphs: set[RdfSyntax] = set()
    for raw in values:
        # SPARQLWrapper copies its Accept list into the parameter: "application/ld+json,application/x-json+ld".
        choices = [ALIASES.get(c, c) for c in (part.split(";", 1)[0].strip().lower() for part in raw.split(",")) if c]
        if not choices:
            continue
        result = next((s for c in choices for s in RESULTS_SYNTAXES if c == s.name or c in s.media_types), None)
        graph = next((s for c in choices for s in RDF_SYNTAXES
                      if c == s.name or c in _rdf_media_types(s) or c in s.extensions), None)
        if result is None and graph is None:
            names = ", ".join(s.name for s in (*RESULTS_SYNTAXES, *RDF_SYNTAXES))
            raise ProtocolError(f"400 Bad Request: format={raw!r} is not a format this endpoint writes; "
                                f"use one of {names}")
        results |= {result} if result else set()
        graphs |= {graph} if graph else set()
    for kind, found in (("results", results), ("graph", graphs)):
        if len(found) > 1:
            raise ProtocolError(f"400 Bad Request: the format parameters name different {kind} formats "
                                f"({', '.join(sorted(s.name for s in found))}); give one")
    return next(iter(results), None), next(iter(graphs), None)


def format_values() -> list[str]:
    """Every value of the format-naming query parameters of this request."""
    return [value for name in FORMAT_PARAMETERS for value in request.args.getlist(name)]


def choose_document(documents: dict[str, RdfSyntax], html: bool = True) -> str:
    """The suffix of the document a request for a thing is sent to: ``html`` or an RDF one.

    ``?format=`` (a suffix, a syntax name or a media type) wins over Accept. Browsers, a bare
    ``*/*`` and no Accept at all get the page; a client that names an RDF type gets that.
    """
    values = [v for v in request.args.getlist("format") if v.strip()]
    if values:
        wanted = ALIASES.get(values[0].strip().lower(), values[0].strip().lower())
        if html and wanted in ("html", *HTML_TYPES):
            return "html"
        for ext, syntax in documents.items():
            if wanted in (ext, syntax.name, *_rdf_media_types(syntax), *syntax.extensions):
                return ext
        names = sorted({"html", *documents, *(s.name for s in documents.values())} - (set() if html else {"html"}))
        raise ProtocolError(f"400 Bad Request: unknown format {values[0]!r}; use one of: {', '.join(names)}")
    accept = _without_parameters(request.accept_mimetypes)
    if not accept:
        return "html" if html else next(iter(documents))
    offers = (list(HTML_TYPES) if html else []) + [m for s in documents.values() for m in _rdf_media_types(s)]
    best = accept.best_match(offers)
    if best is None:
        raise ProtocolError(
            f"406 Not Acceptable: Accept: {request.headers.get('Accept')!r} matches none of: "
            f"{', '.join(offers)}", 406)
    wildcard_only = accept.quality(best) <= accept.quality("*/*") and best not in accept.values()
    if html and (best in HTML_TYPES or wildcard_only):
        return "html"  # browsers and wildcards get the page
    if wildcard_only:
        return next(iter(documents))
    return next(ext for ext, s in documents.items() if best in _rdf_media_types(s))


def wants_html() -> bool:
    """Whether an error page should be HTML: no Accept, or HTML is what the client likes best."""
    accept = request.accept_mimetypes
    offers = list(HTML_TYPES) + [m for s in RDF_SYNTAXES for m in s.media_types] + ["text/plain"]
    return not accept or accept.best_match(offers) in HTML_TYPES


def choose_report(offers: tuple[str, ...] = ("text/plain", "text/turtle", "application/json")) -> str:
    """A report's media type: the first offer unless the client names another one itself.

    A bare ``*/*`` gets the first (plain text), so curl users read the report as text.
    """
    accept = request.accept_mimetypes
    best = accept.best_match(list(offers), default=offers[0])
    named = {value.split(";", 1)[0].strip() for value, _ in accept}
    return best if best in named else offers[0]


def prefers_html() -> bool:
    """True when the client names HTML explicitly and likes it at least as much as any data format.

    Browsers send ``text/html,…,*/*;q=0.8``; SPARQL clients name their result formats and
    never HTML, and ``*/*`` alone (curl) is not a preference for HTML.
    """
    return prefers_html_for(request.headers.get("Accept"))


@lru_cache(maxsize=512)
def prefers_html_for(header: str | None) -> bool:
    """:func:`prefers_html` for an Accept header given explicitly; remembered per header."""
    accept = parse_accept_header(header, MIMEAccept)
    html = max((q for value, q in accept if value in HTML_TYPES), default=0)
    if html <= 0:
        return False
    data_types = [m for s in (*RESULTS_SYNTAXES, *RDF_SYNTAXES) for m in s.media_types]
    best_data = max((q for value, q in accept if value in data_types), default=0)
    return html >= best_data


def with_charset(media_type: str) -> str:
    """Text formats are UTF-8; say so in Content-Type."""
    return f"{media_type}; charset=utf-8"


def _rdf_media_types(syntax: RdfSyntax) -> tuple[str, ...]:
    """A syntax's media types; plain ``application/json`` is JSON-LD when a graph is wanted
    (JSON-LD is JSON, and clients that know no better ask for JSON)."""
    return (*syntax.media_types, "application/json") if syntax.name == "jsonld" else syntax.media_types


def _choose(offers: list[tuple[str, object]], default, what: str):
    """Pick the best offer for the request's Accept header (q-values honoured, werkzeug's parser).

    No Accept header, or ``*/*``, gets ``default``; nothing acceptable is a 406 that lists
    what would have worked. Clients send the same few Accept headers over and over, so the
    choice is remembered per header (it depends on nothing else).
    """
    return _choose_for(request.headers.get("Accept"), tuple(offers), default, what)


@lru_cache(maxsize=512)
def _choose_for(header: str | None, offers: tuple[tuple[str, object], ...], default, what: str):
    accept = _without_parameters(parse_accept_header(header, MIMEAccept))
    if not accept or accept.provided is False:
        return default
    media_types = [m for m, _ in offers]
    best = accept.best_match(media_types, default=None)
    if best is None:
        raise ProtocolError(
            f"406 Not Acceptable: none of the media types in Accept: {header!r} "
            f"can represent {what}; available: {', '.join(dict.fromkeys(media_types))}", 406)
    if accept.quality(best) == accept.quality("*/*") and best not in accept.values() and default is not None:
        return default  # only a wildcard matched: give the natural default
    return dict(offers)[best]


def _without_parameters(accept: MIMEAccept) -> MIMEAccept:
    """``text/turtle; charset=utf-8`` accepts Turtle: media-type parameters do not narrow a match."""
    if accept.provided is False:
        return accept
    return MIMEAccept([(value.split(";", 1)[0].strip(), quality) for value, quality in accept])


# The offers of the SPARQL protocol's two kinds of answer, built once (``_choose_for`` is keyed on them).
_RESULTS_OFFERS = tuple((m, s) for s in RESULTS_SYNTAXES for m in s.media_types)
_RESULTS_DEFAULT = next(s for s in RESULTS_SYNTAXES if s.name == "json")
_RDF_OFFERS = tuple((m, s) for s in RDF_SYNTAXES for m in _rdf_media_types(s))
_RDF_DEFAULT = next(s for s in RDF_SYNTAXES if s.name == "turtle")
