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
from flask import Blueprint, Response, jsonify, redirect, render_template, request

from yokuryu.server.jsonld import CONTEXT_PATH, context_document
from yokuryu.server.negotiation import choose_document
from yokuryu.server.pages.description import Description, describe
from yokuryu.server.pages.documents import (DATASET_SYNTAXES, DOCUMENT_SYNTAXES, NAMES, not_found, rdf_response,
                                            serialize, serialize_quads)
from yokuryu.server.errors import ProtocolError
from yokuryu.server.pages.labels import Labeller, local_page
from yokuryu.server.pages.view import page_view
from yokuryu.server.safe_links import href_for
from yokuryu.server.store_access import get_config, get_store

blueprint = Blueprint("pages", __name__)

# Every document a thing has: its page, the graph formats, and the dataset formats that keep
# each statement's named graph.
ALL_DOCUMENTS = {**DOCUMENT_SYNTAXES, **DATASET_SYNTAXES}


# Every IRI below these paths is a thing of the graph (or its document), answered the same way.
THING_PATHS = {"resource": "<path:local>", "source": "<path:local>", "graph": "<path:local>",
               ".well-known/genid": "<local>"}


def thing_at(prefix: str):
    def view(local: str):
        return thing_or_document(f"{prefix}/{local}")
    return view


for _prefix, _rest in THING_PATHS.items():
    blueprint.add_url_rule(f"/{_prefix}/{_rest}", endpoint=_prefix.rpartition("/")[2], view_func=thing_at(_prefix),
                           methods=["GET"])


@blueprint.get("/dataset")
@blueprint.get("/dataset.<ext>")
def dataset(ext: str | None = None):
    return thing_or_document("dataset" + (f".{ext}" if ext else ""))


@blueprint.get(CONTEXT_PATH)
def jsonld_context():
    """The ``@context`` every JSON-LD document of this server uses (and carries inline)."""
    response = Response(context_document(), mimetype="application/ld+json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blueprint.route("/labels", methods=["GET", "POST"])
def labels():
    """Labels for IRIs (``iri`` given once per IRI, in the query or a form), as JSON: the query
    page shows results by name, the way every page names things. At most 1,000 per request."""
    iris = request.values.getlist("iri")
    if len(iris) > MAX_LABELS:
        raise ProtocolError(f"400 Bad Request: {len(iris)} IRIs asked for; ask for at most {MAX_LABELS} at once")
    base = get_config().base_iri
    label = Labeller(get_store(), base)
    named = {iri: label(iri) for iri in dict.fromkeys(iris) if is_iri(iri)}
    return jsonify({iri: {"label": text, "href": local_page(iri, base)} for iri, text in named.items()})


MAX_LABELS = 1000


@blueprint.get("/search")
def search():
    """Find things by any of their names or their IRI: the way out of a 404 and the search box of every page."""
    text = request.args.get("q", "").strip()
    hits = _search(text) if text else []
    return render_template("search.html", q=text, hits=hits, title=f"Search: {text}" if text else "Search")


def thing_or_document(path: str) -> Response:
    """``path`` is the IRI below the base: a thing (303 to a document) or a document (200)."""
    base = get_config().base_iri
    if not is_iri(base + path):
        return not_found(base + path)
    stem, dot, ext = path.rpartition(".")
    if dot and "/" not in ext and (ext == "html" or ext in ALL_DOCUMENTS):
        description = describe(get_store(), base + stem)
        if not description.exists:
            return not_found(base + stem)
        return document_response(description, ext, stem)
    iri = base + path
    description = describe(get_store(), iri)
    if not description.exists:
        return not_found(iri)
    ext = choose_document(ALL_DOCUMENTS)
    response = redirect(f"/{path}.{ext}", code=303)
    response.headers["Vary"] = "Accept"
    return response


def document_response(description: Description, ext: str, stem: str) -> Response:
    """The document about a thing, in the format its suffix names."""
    if ext == "html":
        hide = request.args.get("inferred", "")
        if hide not in ("", "hide"):
            raise ProtocolError(f"400 Bad Request: inferred={hide!r}: give inferred=hide to leave out what the "
                                "reasoner derived, or nothing to show it")
        view = page_view(get_store(), description, get_config().base_iri, asserted_only=hide == "hide")
        body = render_template("resource.html", view=view, title=view["label"], alternates=alternates(),
                               format_names=NAMES)
        response = Response(body, mimetype="text/html")
    elif ext in DATASET_SYNTAXES:
        response = rdf_response(serialize_quads(description.quads(), DATASET_SYNTAXES[ext]), DATASET_SYNTAXES[ext])
    else:
        response = rdf_response(serialize(description.triples(), DOCUMENT_SYNTAXES[ext]), DOCUMENT_SYNTAXES[ext])
    response.headers["Link"] = ", ".join(
        f'</{stem}.{e}>; rel="alternate"; type="{t}"' for e, t in alternates().items() if e != ext)
    return response


def is_iri(text: str) -> bool:
    """Whether ``text`` is a valid IRI (a path with spaces or brackets is not, and names nothing)."""
    try:
        ox.NamedNode(text)
    except ValueError:
        return False
    return True


def alternates() -> dict[str, str]:
    return {"html": "text/html", **{ext: s.media_type for ext, s in ALL_DOCUMENTS.items()}}


def _search(text: str) -> list[dict]:
    """Labels, alternative and hidden labels (other spellings, abbreviations) and IRIs."""
    needle = ox.Literal(text.lower())
    query = f"""SELECT ?s (SAMPLE(?main) AS ?name) (SAMPLE(?label) AS ?matched) WHERE {{
      {{ ?s rdfs:label|skos:prefLabel|dcterms:title|skos:altLabel|skos:hiddenLabel ?label }}
      FILTER(isIRI(?s) && (CONTAINS(LCASE(STR(?label)), {needle}) || CONTAINS(LCASE(STR(?s)), {needle})))
      OPTIONAL {{ ?s rdfs:label ?main FILTER(LANG(?main) IN ("en", "")) }}
    }} GROUP BY ?s ORDER BY LCASE(STR(COALESCE(?name, ?matched))) LIMIT 200"""
    base = get_config().base_iri
    hits = []
    for row in get_store().query(query):
        iri = row["s"].value
        name = (row["name"] or row["matched"]).value
        also = row["matched"].value if row["matched"] is not None and row["matched"].value != name else None
        hits.append({"iri": iri, "label": name, "matched": also, "href": href_for(iri, base)})
    return hits
