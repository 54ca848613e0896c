"""What every page and document of this package shares: the RDF document formats, the 404
page, and HTTP caching (ETag, Last-Modified, 304, gzip) applied to all of them in one place."""
from __future__ import annotations

import gzip
import hashlib
from email.utils import formatdate

import pyoxigraph as ox
from flask import Response, render_template, request

from yokuryu.graph.formats import RDF_SYNTAXES, RdfSyntax
from yokuryu.ontology import PREFIXES
from yokuryu.server.jsonld import compact_jsonld, compact_jsonld_quads
from yokuryu.server.negotiation import wants_html
from yokuryu.server.store_access import get_store

# A description as a graph (the triple syntaxes), or as a dataset that keeps each statement's
# named graph — asserted, external, inferred — (TriG, N-Quads); each with its document suffix.
DOCUMENT_SYNTAXES: dict[str, RdfSyntax] = {s.extensions[0]: s for s in RDF_SYNTAXES
                                           if s.name in ("turtle", "ntriples", "jsonld", "rdfxml")}
DATASET_SYNTAXES: dict[str, RdfSyntax] = {s.extensions[0]: s for s in RDF_SYNTAXES if s.name in ("trig", "nquads")}
NAMES = {"ttl": "Turtle", "nt": "N-Triples", "jsonld": "JSON-LD", "rdf": "RDF/XML", "trig": "TriG", "nq": "N-Quads"}
# Bodies smaller than this are not worth compressing.
GZIP_MIN_BYTES = 1024


def serialize(triples: list[ox.Triple], syntax: RdfSyntax) -> bytes:
    """Triples in ``syntax``; JSON-LD is compact, with the published context."""
    if syntax.name == "jsonld":
        return compact_jsonld(triples)
    return ox.serialize(triples, format=syntax.oxigraph, prefixes=PREFIXES)


def serialize_quads(quads: list[ox.Quad], syntax: RdfSyntax) -> bytes:
    if syntax.name == "jsonld":
        return compact_jsonld_quads(quads)
    return ox.serialize(quads, format=syntax.oxigraph, prefixes=PREFIXES)


def rdf_response(body: bytes, syntax: RdfSyntax) -> Response:
    response = Response(body, mimetype=syntax.media_type)
    response.headers["Content-Type"] = f"{syntax.media_type}; charset=utf-8"
    return response


def not_found(iri: str) -> Response:
    """404 with a page that says what was looked for and offers a search."""
    guess = iri.rstrip("/").rsplit("/", 1)[-1].replace("-", " ").split("#")[-1]
    if not wants_html():
        return Response(f"404 Not Found: the graph says nothing about <{iri}>; "
                        f"search for it at /search?q={guess}\n", status=404, mimetype="text/plain")
    body = render_template("not_found.html", iri=iri, guess=guess, title="Not found")
    return Response(body, status=404, mimetype="text/html")


def cache_and_compress(response: Response) -> Response:
    """Validators and compression for a successful GET of a page or document.

    The ETag is the digest of the uncompressed body (suffixed ``-gz`` for the gzip form: a
    different representation), Last-Modified is when the store last changed; a matching
    ``If-None-Match``/``If-Modified-Since`` gets ``304 Not Modified``. Pages change when the
    data changes, so they must be revalidated (``no-cache``), which a 304 makes cheap.
    """
    if request.method not in ("GET", "HEAD") or response.status_code != 200 or response.direct_passthrough:
        return response
    if response.headers.get("Content-Encoding") or response.mimetype == "application/gzip":
        return response
    body = response.get_data()
    zipped = "gzip" in request.headers.get("Accept-Encoding", "").lower() and len(body) >= GZIP_MIN_BYTES
    response.set_etag(hashlib.sha256(body).hexdigest()[:32] + ("-gz" if zipped else ""))
    response.headers["Last-Modified"] = formatdate(int(get_store().changed_at), usegmt=True)
    response.headers.setdefault("Cache-Control", "no-cache")
    response.vary.add("Accept-Encoding")
    response.make_conditional(request)
    if response.status_code == 200 and zipped:
        response.set_data(gzip.compress(body, compresslevel=6, mtime=0))
        response.headers["Content-Encoding"] = "gzip"
    return response
