"""Queries passed through to a remote SPARQL server (``yokuryu serve --remote-query URL``).

The endpoint still reads, checks and negotiates every request itself (``server/sparql.py``):
the query is parsed here first (a syntax error is the client's 400, with its position), so
what reaches the remote server is a valid query in the format the client asked for. The
server's answer is passed through when it is already in that format, and re-serialised by
pyoxigraph when the server chose another; the result size limit applies while reading.
Over the knowledge graph every query names its dataset (the visible graphs), so no query sees
the staging graphs of a write being checked on the server. A remote failure is a 502, a remote server that does not answer within the query timeout a
504: the request never hangs.
"""
from __future__ import annotations

import io

import pyoxigraph as ox

from yokuryu.graph.formats import rdf_syntax, results_syntax
from yokuryu.graph.remote import (
    RemoteEngine,
    ResponseTooLarge,
    _parse_rdf,
    parse_results,
    prologue,
    query_form,
    reader_dataset,
)
from yokuryu.ontology import PREFIXES
from yokuryu.server.executor import NotAcceptable, QueryRequest, ResultsTooLarge


class RemoteQueryExecutor:
    """The executor of ``/sparql`` when the data lives on a remote server."""

    holds_a_copy = False

    def __init__(self, engine: RemoteEngine, knowledge_graph: bool = True):
        self.engine = engine
        # The knowledge graph (the union of the server's graphs): every query names its dataset,
        # so that none reads the staging graphs of a write being checked (``reader_dataset``).
        # Plain mode (``--empty``) passes the server's own default graph through as it is.
        self.knowledge_graph = knowledge_graph

    def run(self, request: QueryRequest) -> tuple[bytes, str]:
        text = prologue(request.base_iri, PREFIXES if request.predeclared_prefixes else None) + request.text
        form = query_form(text)  # SyntaxError → 400, before anything is sent
        is_graph = form is ox.QueryTriples
        name = request.graph_format if is_graph else request.results_format
        if name is None:
            raise NotAcceptable("graph" if is_graph else "results")
        syntax = rdf_syntax(name) if is_graph else results_syntax(name)
        if self.knowledge_graph:
            params = reader_dataset(self.engine, text, request.default_graph, request.named_graphs)
        else:
            params = [("default-graph-uri", g) for g in request.default_graph or ()]
            params += [("named-graph-uri", g) for g in request.named_graphs or ()]
        # Ask for the wanted format first, and for one pyoxigraph reads back as a fallback.
        fallback = "application/n-triples;q=0.5" if is_graph else "application/sparql-results+json;q=0.5"
        try:
            body, media_type = self.engine.query(text, accept=f"{syntax.media_type}, {fallback}", params=params,
                                                 max_bytes=request.max_result_bytes)
        except ResponseTooLarge:
            raise ResultsTooLarge(request.max_result_bytes) from None
        if media_type.split(";", 1)[0].strip().lower() in syntax.media_types:
            return body, syntax.media_type
        return _reserialise(body, media_type, syntax, is_graph, self.engine.query_url, request.max_result_bytes), \
            syntax.media_type

    def shutdown(self) -> None:
        pass


def _reserialise(body: bytes, media_type: str, syntax, is_graph: bool, url: str, limit: int) -> bytes:
    out = io.BytesIO()
    if is_graph:
        ox.serialize(list(_parse_rdf(body, media_type, url)), out, format=syntax.oxigraph)
    else:
        parse_results(body, media_type, url).serialize(out, format=syntax.oxigraph)
    if out.tell() > limit:
        raise ResultsTooLarge(limit)
    return out.getvalue()
