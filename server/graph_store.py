"""``/store``: the SPARQL 1.1 Graph Store HTTP Protocol.

Graphs are named indirectly (``/store?graph=IRI``, ``/store?default``) or directly (the
request URL ``/store/<path>`` is the graph IRI). GET and HEAD read a graph in any RDF syntax;
PUT replaces it, POST adds to it (or, on ``/store`` alone, creates a new graph and answers
201 with its IRI in ``Location``), DELETE removes it. Writes are SPARQL updates run through
``yokuryu.server.writes``, so they are authorised, validated and atomic like any update.
"""
from __future__ import annotations

import io
import uuid

import pyoxigraph as ox
from flask import Blueprint, Response, request

from yokuryu.graph.formats import RDF_SYNTAXES, RdfSyntax, rdf_syntax_for_media_type
from yokuryu.graph.untrusted_rdf import UntrustedRdfError, parse_untrusted
from yokuryu.server.auth import require_write_access
from yokuryu.server.errors import ProtocolError
from yokuryu.server.negotiation import choose_rdf_syntax, with_charset
from yokuryu.server.security import write_limits
from yokuryu.server.store_access import get_config, get_store
from yokuryu.server.writes import apply_update, drop, insert_data

blueprint = Blueprint("graph_store", __name__)

METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
DEFAULT = None  # the default graph, as a target


@blueprint.route("/store", methods=METHODS)
@blueprint.route("/store/<path:_path>", methods=METHODS)
def graph_store(_path: str | None = None):
    direct = _path is not None
    if request.method in ("GET", "HEAD"):
        return read(_target(direct, required=False))
    require_write_access(get_config())
    if request.method == "POST" and not direct and not _names_graph():
        return create_graph()
    target = _target(direct, required=True)
    if request.method == "DELETE":
        return delete(target)
    triples = _triples_from_body(target)
    return replace(target, triples) if request.method == "PUT" else add(target, triples)


# --- operations ------------------------------------------------------------------------------


def read(target) -> Response:
    """GET/HEAD: one graph (or, on ``/store`` with no graph named, the whole dataset)."""
    store, config = get_store(), get_config()
    if target == "dataset":
        syntax = choose_rdf_syntax("trig")
        return _rdf_response(store.dump(syntax), syntax)
    if target is not DEFAULT and not store.oxigraph.contains_named_graph(ox.NamedNode(target)):
        raise ProtocolError(f"404 Not Found: the store has no graph <{target}>", 404)
    syntax = choose_rdf_syntax("turtle")
    if target is DEFAULT:
        triples = _union_triples(store) if config.union_default_graph else _triples_of(store, ox.DefaultGraph())
        return _rdf_response(_serialize(triples, syntax), syntax)
    if syntax.is_dataset:
        body = store.dump(syntax, target)
    else:
        body = _serialize(_triples_of(store, ox.NamedNode(target)), syntax)
    return _rdf_response(body, syntax)


def replace(target, triples: list[ox.Triple]) -> Response:
    existed = _exists(target)
    update = drop(target)
    if triples:
        update += " ;\n" + insert_data(target, triples)
    elif target is not DEFAULT:
        update += f" ;\nCREATE SILENT GRAPH <{target}>"
    _write(update)
    return Response(status=204 if existed else 201)


def add(target, triples: list[ox.Triple]) -> Response:
    existed = _exists(target)
    update = insert_data(target, triples) if triples else (
        f"CREATE SILENT GRAPH <{target}>" if target is not DEFAULT else "")
    if update:
        _write(update)
    return Response(status=204 if existed else 201)


def create_graph() -> Response:
    """POST to the store itself: a new graph under ``/store/``, named in ``Location``."""
    iri = request.url_root + "store/" + uuid.uuid4().hex
    triples = _triples_from_body(iri)
    _write(insert_data(iri, triples) if triples else f"CREATE GRAPH <{iri}>")
    response = Response(status=201)
    response.headers["Location"] = iri
    return response


def delete(target) -> Response:
    if target is not DEFAULT and not _exists(target):
        raise ProtocolError(f"404 Not Found: the store has no graph <{target}>", 404)
    _refuse_union_default(target)
    _write(f"DROP GRAPH <{target}>" if target is not DEFAULT else "DROP DEFAULT")
    return Response(status=204)


# --- request details ---------------------------------------------------------------------------


def _names_graph() -> bool:
    return "graph" in request.args or "default" in request.args


def _target(direct: bool, *, required: bool):
    """The graph a request is about: an IRI, DEFAULT, or "dataset" (only for reads)."""
    if direct:
        if _names_graph():
            raise ProtocolError("400 Bad Request: this URL names its graph directly; drop ?graph / ?default")
        try:
            return ox.NamedNode(request.base_url).value
        except ValueError as error:  # e.g. /store/%C2%80: a control character is no part of an IRI
            raise ProtocolError(f"400 Bad Request: {request.base_url!r} is not an IRI, so it names no graph "
                                f"({error})") from error
    graphs, default = request.args.getlist("graph"), "default" in request.args
    if graphs and default or len(graphs) > 1:
        raise ProtocolError("400 Bad Request: name one graph: either ?graph=IRI or ?default")
    if default:
        return DEFAULT
    if graphs:
        try:
            return ox.NamedNode(graphs[0]).value
        except ValueError as error:
            raise ProtocolError(f"400 Bad Request: graph={graphs[0]!r} is not an absolute IRI ({error})") from error
    if required:
        raise ProtocolError("400 Bad Request: say which graph: /store?graph=IRI, /store?default, or /store/<path>")
    return "dataset"


def _triples_from_body(target) -> list[ox.Triple]:
    """The triples sent in the body: one RDF document, or several as multipart/form-data."""
    _refuse_union_default(target)
    if request.mimetype == "multipart/form-data":
        triples: list[ox.Triple] = []
        for part in request.files.values():
            syntax = _syntax_of(part.mimetype, part.mimetype_params.get("charset"))
            triples += _parse(part.read(), syntax, target, part.filename)
        limit = get_config().max_write_quads
        if len(triples) > limit:  # each part was within the limit; together they are one write
            raise ProtocolError(f"413 Content Too Large: the parts hold {len(triples)} triples together, more than the "
                                f"{limit} one write may send; send them in several writes, or raise the limit with "
                                "--max-write-quads or YOKURYU_MAX_WRITE_QUADS. Nothing was applied.", 413)
        return triples
    return _parse(request.get_data(cache=False), _syntax_of(request.mimetype, request.mimetype_params.get("charset")),
                  target, None)


def _syntax_of(media_type: str, charset: str | None) -> RdfSyntax:
    if not media_type:
        raise ProtocolError("415 Unsupported Media Type: the request has no Content-Type; "
                            f"send RDF as one of {', '.join(s.media_type for s in RDF_SYNTAXES)}", 415)
    syntax = rdf_syntax_for_media_type(media_type)
    if syntax is None:
        raise ProtocolError(f"415 Unsupported Media Type: {media_type!r} is not an RDF syntax this store reads; "
                            f"use one of {', '.join(s.media_type for s in RDF_SYNTAXES)}", 415)
    if charset and charset.lower().replace("-", "") != "utf8":
        raise ProtocolError(f"415 Unsupported Media Type: charset={charset}; RDF must be sent as UTF-8", 415)
    return syntax


def _parse(data: bytes, syntax: RdfSyntax, target, filename: str | None) -> list[ox.Triple]:
    what = f"the body (part {filename!r})" if filename else "the body"
    base = target if isinstance(target, str) else request.base_url
    try:
        # Bounded and in a child process: a body may not crash, fill or wedge the server (issue #10).
        quads = parse_untrusted(data, syntax.oxigraph, write_limits(get_config()), base_iri=base, what=what)
    except UntrustedRdfError as error:
        raise ProtocolError(f"{_REASONS[error.status]}: {error}", error.status) from error
    if any(not isinstance(q.graph_name, ox.DefaultGraph) for q in quads):
        raise ProtocolError(f"400 Bad Request: {what} names graphs of its own; a graph store request "
                            "sends the triples of one graph (use Turtle or N-Triples, or TriG without GRAPH blocks)")
    return [ox.Triple(q.subject, q.predicate, q.object) for q in quads]


_REASONS = {400: "400 Bad Request", 413: "413 Content Too Large", 503: "503 Service Unavailable"}


def _refuse_union_default(target) -> None:
    config = get_config()
    if target is DEFAULT and config.union_default_graph:
        raise ProtocolError("400 Bad Request: the default graph is served as the union of all graphs and cannot "
                            "be written as such; write a named graph (?graph=IRI), or serve with "
                            "--no-union-default-graph")


def _exists(target) -> bool:
    if target is DEFAULT:
        return True
    return get_store().oxigraph.contains_named_graph(ox.NamedNode(target))


def _write(update: str) -> None:
    apply_update(get_store(), get_config(), update, base_iri=request.base_url)


def _triples_of(store, graph) -> list[ox.Triple]:
    return [ox.Triple(q.subject, q.predicate, q.object) for q in store.oxigraph.quads_for_pattern(None, None, None, graph)]


def _union_triples(store) -> list[ox.Triple]:
    return sorted({ox.Triple(q.subject, q.predicate, q.object) for q in store.oxigraph}, key=str)


def _serialize(triples: list[ox.Triple], syntax: RdfSyntax) -> bytes:
    if syntax.is_dataset:  # TriG / N-Quads: the triples stay in the default graph
        triples = [ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in triples]
    out = io.BytesIO()
    ox.serialize(triples, out, format=syntax.oxigraph)
    return out.getvalue()


def _rdf_response(body: bytes, syntax: RdfSyntax) -> Response:
    response = Response(body, status=200)
    response.headers["Content-Type"] = with_charset(syntax.media_type)
    response.headers["Vary"] = "Accept"
    return response
