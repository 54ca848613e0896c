"""Linked-data pages: every IRI of the graph is answered here, for people and for machines.

Cool URIs, the 303 way. A slash IRI such as ``…/resource/potsdam-declaration`` names the
thing itself (a declaration, a person), not a web page about it, so the server never answers
it with a document: it answers ``303 See Other`` pointing at the document that describes the
thing, chosen by content negotiation — ``…/potsdam-declaration.html`` for browsers,
``.ttl``, ``.nt``, ``.jsonld`` or ``.rdf`` for machines (``?format=`` overrides Accept). The
documents are ordinary ``200`` resources with a fixed format, so they can be bookmarked,
cached and linked. Hash IRIs (ontology terms ``…/ontology#Treaty``, sentences
``…/source/<doc>#s3``) need no redirect: the client strips the fragment and receives the
document that describes all of them. The resource IRIs were fixed as slash IRIs before this
module, and 303 is the only Cool-URI answer that keeps the thing and its description apart
for them; the ontology and the source documents are documents by nature, so their hash
terms are served with a 200.
"""
from __future__ import annotations

import pyoxigraph as ox
from flask import Blueprint, Response, redirect, render_template, request

from yokuryu.graph.formats import RDF_SYNTAXES, RdfSyntax
from yokuryu.ontology import PREFIXES
from yokuryu.server.errors import ProtocolError
from yokuryu.server.labels import local_page
from yokuryu.server.pages_description import Description, describe
from yokuryu.server.pages_view import page_view
from yokuryu.server.store_access import get_config, get_store

blueprint = Blueprint("pages", __name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
# A description is one graph: the triple syntaxes, each with the suffix of its document.
DOCUMENT_SYNTAXES: dict[str, RdfSyntax] = {s.extensions[0]: s for s in RDF_SYNTAXES
                                           if s.name in ("turtle", "ntriples", "jsonld", "rdfxml")}
FORMAT_NAMES = {"html": "html", **{ext: ext for ext in DOCUMENT_SYNTAXES},
                **{s.name: s.extensions[0] for s in DOCUMENT_SYNTAXES.values()}}


@blueprint.get("/resource/<path:local>")
def resource(local: str):
    return thing_or_document(f"resource/{local}")


@blueprint.get("/source/<path:local>")
def source(local: str):
    return thing_or_document(f"source/{local}")


@blueprint.get("/graph/<path:local>")
def graph(local: str):
    return thing_or_document(f"graph/{local}")


@blueprint.get("/.well-known/genid/<local>")
def genid(local: str):
    return thing_or_document(f".well-known/genid/{local}")


@blueprint.get("/dataset")
@blueprint.get("/dataset.<ext>")
def dataset(ext: str | None = None):
    return thing_or_document("dataset" + (f".{ext}" if ext else ""))


@blueprint.get("/search")
def search():
    """Find things by label or IRI: the way out of a 404 and the search box of every page."""
    text = request.args.get("q", "").strip()
    hits = _search(text) if text else []
    return render_template("search.html", q=text, hits=hits, title=f"Search: {text}" if text else "Search")


def thing_or_document(path: str) -> Response:
    """``path`` is the IRI below the base: a thing (303 to a document) or a document (200)."""
    base = get_config().base_iri
    if not is_iri(base + path):
        return not_found(base + path)
    stem, dot, ext = path.rpartition(".")
    if dot and "/" not in ext and (ext == "html" or ext in DOCUMENT_SYNTAXES):
        description = describe(get_store(), base + stem)
        if not description.exists:
            return not_found(base + stem)
        return document_response(description, ext, stem)
    iri = base + path
    description = describe(get_store(), iri)
    if not description.exists:
        return not_found(iri)
    ext = requested_extension()
    response = redirect(f"/{path}.{ext}", code=303)
    response.headers["Vary"] = "Accept"
    return response


def document_response(description: Description, ext: str, stem: str) -> Response:
    """The document about a thing, in the format its suffix names."""
    if ext == "html":
        view = page_view(get_store(), description, get_config().base_iri)
        body = render_template("resource.html", view=view, title=view["label"],
                               alternates=_alternates())
        response = Response(body, mimetype="text/html")
    else:
        syntax = DOCUMENT_SYNTAXES[ext]
        response = Response(serialize(description.triples(), syntax), mimetype=syntax.media_type)
        response.headers["Content-Type"] = f"{syntax.media_type}; charset=utf-8"
    response.headers["Link"] = ", ".join(
        f'</{stem}.{e}>; rel="alternate"; type="{t}"' for e, t in _alternates().items() if e != ext)
    return response


def is_iri(text: str) -> bool:
    """Whether ``text`` is a valid IRI (a path with spaces or brackets is not, and names nothing)."""
    try:
        ox.NamedNode(text)
    except ValueError:
        return False
    return True


def serialize(triples: list[ox.Triple], syntax: RdfSyntax) -> bytes:
    return ox.serialize(triples, format=syntax.oxigraph, prefixes=PREFIXES)


def not_found(iri: str) -> Response:
    """404 with a page that says what was looked for and offers a search."""
    guess = iri.rstrip("/").rsplit("/", 1)[-1].replace("-", " ")
    offers = list(HTML_TYPES) + [m for s in DOCUMENT_SYNTAXES.values() for m in s.media_types]
    wants_html = not request.accept_mimetypes or request.accept_mimetypes.best_match(offers) in HTML_TYPES
    if not wants_html:
        return Response(f"404 Not Found: the graph says nothing about <{iri}>; "
                        f"search for it at /search?q={guess}\n", status=404, mimetype="text/plain")
    body = render_template("not_found.html", iri=iri, guess=guess, title="Not found")
    return Response(body, status=404, mimetype="text/html")


def requested_extension() -> str:
    """The document suffix a request for a thing should be redirected to."""
    wanted = request.args.get("format")
    if wanted is not None:
        if wanted.lower() not in FORMAT_NAMES:
            raise ProtocolError(f"400 Bad Request: unknown format {wanted!r}; use one of: "
                                f"{', '.join(sorted(FORMAT_NAMES))}")
        return FORMAT_NAMES[wanted.lower()]
    accept = request.accept_mimetypes
    if not accept:
        return "html"
    offers = list(HTML_TYPES) + [m for s in DOCUMENT_SYNTAXES.values() for m in s.media_types]
    best = accept.best_match(offers)
    if best is None:
        raise ProtocolError(
            f"406 Not Acceptable: Accept: {request.headers.get('Accept')!r} matches none of: "
            f"{', '.join(offers)}", 406)
    if best in HTML_TYPES or accept.quality(best) <= accept.quality("*/*") and best not in accept.values():
        return "html"  # browsers and wildcards get the page
    return next(ext for ext, s in DOCUMENT_SYNTAXES.items() if best in s.media_types)


def _alternates() -> dict[str, str]:
    return {"html": "text/html", **{ext: s.media_type for ext, s in DOCUMENT_SYNTAXES.items()}}


def _search(text: str) -> list[dict]:
    needle = ox.Literal(text.lower())
    query = f"""SELECT ?s (SAMPLE(?label) AS ?name) WHERE {{
      {{ ?s rdfs:label ?label }} UNION {{ ?s skos:prefLabel ?label }} UNION {{ ?s dcterms:title ?label }}
      FILTER(isIRI(?s) && (CONTAINS(LCASE(STR(?label)), {needle}) || CONTAINS(LCASE(STR(?s)), {needle})))
    }} GROUP BY ?s ORDER BY LCASE(STR(?name)) LIMIT 200"""
    base = get_config().base_iri
    hits = []
    for row in get_store().query(query):
        iri = row["s"].value
        hits.append({"iri": iri, "label": row["name"].value, "href": local_page(iri, base) or iri})
    return hits
