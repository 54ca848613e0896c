"""Content negotiation in one place: which representation a request's Accept header gets."""
from __future__ import annotations

from flask import request
from werkzeug.datastructures import MIMEAccept

from yokuryu.graph.formats import RDF_SYNTAXES, RESULTS_SYNTAXES, RdfSyntax, ResultsSyntax
from yokuryu.server.errors import ProtocolError


def _choose(offers: list[tuple[str, object]], default, what: str):
    """Pick the best offer for the request's Accept header (q-values honoured, werkzeug's parser).

    No Accept header, or ``*/*``, gets ``default``; nothing acceptable is a 406 that lists
    what would have worked.
    """
    accept = _without_parameters(request.accept_mimetypes)
    if not accept or accept.provided is False:
        return default
    media_types = [m for m, _ in offers]
    best = accept.best_match(media_types, default=None)
    if best is None:
        raise ProtocolError(
            f"406 Not Acceptable: none of the media types in Accept: {request.headers.get('Accept')!r} "
            f"can represent {what}; available: {', '.join(dict.fromkeys(media_types))}", 406)
    if accept.quality(best) == accept.quality("*/*") and best not in accept.values() and default is not None:
        return default  # only a wildcard matched: give the natural default
    return dict(offers)[best]


def _without_parameters(accept: MIMEAccept) -> MIMEAccept:
    """``text/turtle; charset=utf-8`` accepts Turtle: media-type parameters do not narrow a match."""
    if accept.provided is False:
        return accept
    return MIMEAccept([(value.split(";", 1)[0].strip(), quality) for value, quality in accept])


def choose_results_syntax(default_name: str = "json") -> ResultsSyntax:
    offers = [(m, s) for s in RESULTS_SYNTAXES for m in s.media_types]
    default = next(s for s in RESULTS_SYNTAXES if s.name == default_name)
    return _choose(offers, default, "SPARQL results")


def choose_rdf_syntax(default_name: str = "turtle", datasets: bool = True) -> RdfSyntax:
    offers = [(m, s) for s in RDF_SYNTAXES if datasets or not s.is_dataset for m in s.media_types]
    default = next(s for s in RDF_SYNTAXES if s.name == default_name)
    return _choose(offers, default, "an RDF graph")


def prefers_html() -> bool:
    """True when the client names HTML explicitly and likes it at least as much as any data format.

    Browsers send ``text/html,…,*/*;q=0.8``; SPARQL clients name their result formats and
    never HTML, and ``*/*`` alone (curl) is not a preference for HTML.
    """
    accept = request.accept_mimetypes
    html = max((q for value, q in accept if value in ("text/html", "application/xhtml+xml")), default=0)
    if html <= 0:
        return False
    data_types = [m for s in (*RESULTS_SYNTAXES, *RDF_SYNTAXES) for m in s.media_types]
    best_data = max((q for value, q in accept if value in data_types), default=0)
    return html >= best_data


def with_charset(media_type: str) -> str:
    """Text formats are UTF-8; say so in Content-Type."""
    return f"{media_type}; charset=utf-8"
