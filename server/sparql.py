"""``/sparql``: SPARQL 1.1 queries by GET and POST, with results by content negotiation."""
from __future__ import annotations

import io

import pyoxigraph as ox
from flask import Blueprint, Response, request

from yokuryu.server.errors import ProtocolError
from yokuryu.server.negotiation import choose_rdf_syntax, choose_results_syntax, with_charset
from yokuryu.server.store_access import get_config, get_store

blueprint = Blueprint("sparql", __name__)


@blueprint.route("/sparql", methods=["GET", "POST"])
def sparql():
    query = _query_text()
    config = get_config()
    try:
        results = get_store().query(query, union_default_graph=config.union_default_graph)
    except SyntaxError as error:
        raise ProtocolError(f"400 Bad Request: SPARQL syntax error: {error}") from error
    return _results_response(results)


def _query_text() -> str:
    if request.method == "GET":
        queries = request.args.getlist("query")
    else:
        media_type = (request.mimetype or "").lower()
        if media_type == "application/sparql-query":
            body = request.get_data(cache=False)
            try:
                return body.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ProtocolError(f"400 Bad Request: the query body is not UTF-8 ({error})") from error
        if media_type != "application/x-www-form-urlencoded":
            raise ProtocolError(
                "415 Unsupported Media Type: POST a query as application/sparql-query "
                "or as the 'query' field of application/x-www-form-urlencoded", 415)
        queries = request.form.getlist("query")
    if not queries:
        raise ProtocolError("400 Bad Request: missing the 'query' parameter")
    if len(queries) > 1:
        raise ProtocolError("400 Bad Request: give exactly one 'query' parameter")
    return queries[0]


def _results_response(results) -> Response:
    out = io.BytesIO()
    if isinstance(results, ox.QueryTriples):
        syntax = choose_rdf_syntax("turtle")
        results.serialize(out, format=syntax.oxigraph)
    else:
        syntax = choose_results_syntax("json")
        results.serialize(out, format=syntax.oxigraph)
    response = Response(out.getvalue(), status=200)
    response.headers["Content-Type"] = with_charset(syntax.media_type)
    response.headers["Vary"] = "Accept"
    return response
