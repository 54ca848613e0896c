"""``/sparql``: the SPARQL 1.1 Protocol — queries, updates and the service description.

One handler, read top to bottom: read the operation from the request exactly as the protocol
defines it (GET, POST form, POST direct), check it, negotiate the result format, evaluate, and
answer. Every client mistake has its own status and a message that says how to fix it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qs, urlencode

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, redirect, request

from yokuryu.graph.formats import RdfSyntax, ResultsSyntax
from yokuryu.ontology import PREFIXES
from yokuryu.server.auth import require_write_access
from yokuryu.graph.remote import RemoteError
from yokuryu.server.errors import ProtocolError, remote_failure
from yokuryu.graph.offline import run_offline
from yokuryu.graph.query_guard import (SparqlFacts, SparqlLimits, SparqlRefused, check_sparql, is_network_refusal,
                                       network_refused_message)
from yokuryu.graph.sparql_mistakes import explain_syntax_error
from yokuryu.graph.sparql_text import (DatasetConflict, SparqlTextError, shape_key,
                                       where_counts, with_update_dataset)
from yokuryu.server.security import refuse_large_update
from yokuryu.server.jsonld import compact_jsonld
from yokuryu.server.executor import (NotAcceptable, QueryRequest, ResultsTooLarge, TooManySolutions,
                                     UncountableWhere, UpdateCheck, check_update_syntax)
from yokuryu.server.negotiation import (FORMAT_PARAMETERS, fresh, named_formats, prefers_html, protocol_offers,
                                        rdf_syntax_for, results_syntax_for, with_charset)
from yokuryu.server.store_access import get_config, get_store
from yokuryu.server.writes import apply_update, memory_only_note

log = logging.getLogger(__name__)

blueprint = Blueprint("sparql", __name__)

FORM = "application/x-www-form-urlencoded"
QUERY_MEDIA_TYPE = "application/sparql-query"
UPDATE_MEDIA_TYPE = "application/sparql-update"
QUERY_DATASET = ("default-graph-uri", "named-graph-uri")
UPDATE_DATASET = ("using-graph-uri", "using-named-graph-uri")


@dataclass
class Operation:
    """What a protocol request asks for: a query or an update, and the dataset it names."""

    kind: str | None  # "query", "update", or None (no operation: the service description)
    text: str = ""
    params: dict[str, list[str]] = field(default_factory=dict)

    def graphs(self, name: str) -> list[str]:
        return self.params.get(name, [])


@blueprint.route("/sparql", methods=["GET", "POST"])
def sparql():
    operation = read_operation()
    if operation.kind is None:
        if prefers_html():
            return _to_the_ui("/query")
        from yokuryu.server.service_description import service_description_response
        return service_description_response()
    if operation.kind == "query":
        if request.method in ("GET", "HEAD") and prefers_html() and not _format_values(operation):
            # People get the query UI, with their query filled in.
            return _to_the_ui("/query?" + urlencode({"query": operation.text}))
        return run_query(operation)
    return run_update(operation)


def _to_the_ui(location: str) -> Response:
    response = redirect(location, code=303)
    response.headers["Vary"] = "Accept"  # the same URL gives machines results, people the page
    return response


# --- reading the request ------------------------------------------------------------------


def read_operation() -> Operation:
    """The operation of this request, or the precise 400/415 for a malformed one."""
    params = _as_lists(request.args)
    if request.method in ("GET", "HEAD"):  # HEAD: the same answer without its body
        if "update" in params:
            raise ProtocolError("400 Bad Request: an update must be sent by POST, as "
                                f"{UPDATE_MEDIA_TYPE} or as the 'update' field of {FORM}")
        return _operation(params)
    if not request.content_type:
        raise ProtocolError(f"415 Unsupported Media Type: the POST has no Content-Type; send a query as "
                            f"{QUERY_MEDIA_TYPE}, an update as {UPDATE_MEDIA_TYPE}, or either as {FORM}", 415)
    media_type = request.mimetype.lower()
    if media_type == FORM:
        body = _utf8_body(request.get_data(cache=False), "form")
        try:
            fields = parse_qs(body, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict")
        except UnicodeDecodeError as error:
            raise ProtocolError(f"400 Bad Request: a form field is not UTF-8 once percent-decoded ({error})") from error
        for name, values in fields.items():
            params.setdefault(name, []).extend(values)
        operation = _operation(params)
        if operation.kind is None:
            raise ProtocolError("400 Bad Request: the form has neither a 'query' nor an 'update' field")
        return operation
    if media_type in (QUERY_MEDIA_TYPE, UPDATE_MEDIA_TYPE):
        kind = "query" if media_type == QUERY_MEDIA_TYPE else "update"
        if kind in params or ({"query", "update"} - {kind}) & params.keys():
            raise ProtocolError(f"400 Bad Request: a {media_type} body is the whole {kind}; "
                                "do not also give 'query' or 'update' in the URL")
        text = _utf8_body(request.get_data(cache=False), kind)
        return _checked(Operation(kind, text, params))
    raise ProtocolError(f"415 Unsupported Media Type: {request.mimetype!r} is not a SPARQL request; "
                        f"send a query as {QUERY_MEDIA_TYPE}, an update as {UPDATE_MEDIA_TYPE}, or either as {FORM}",
                        415)


def _operation(params: dict[str, list[str]]) -> Operation:
    queries, updates = params.pop("query", []), params.pop("update", [])
    if queries and updates:
        raise ProtocolError("400 Bad Request: a request carries a query or an update, not both")
    if len(queries) > 1 or len(updates) > 1:
        what = "query" if queries else "update"
        raise ProtocolError(f"400 Bad Request: give exactly one '{what}' parameter (got {max(len(queries), len(updates))})")
    if queries:
        return _checked(Operation("query", queries[0], params))
    if updates:
        return _checked(Operation("update", updates[0], params))
    return Operation(None, "", params)


def _checked(operation: Operation) -> Operation:
    """Dataset parameters must fit the operation and be IRIs."""
    wrong = UPDATE_DATASET if operation.kind == "query" else QUERY_DATASET
    for name in wrong:
        if name in operation.params:
            right = "default-graph-uri/named-graph-uri" if operation.kind == "query" else "using-graph-uri/using-named-graph-uri"
            raise ProtocolError(f"400 Bad Request: '{name}' does not apply to a {operation.kind}; use {right}")
    for name in (*QUERY_DATASET, *UPDATE_DATASET):
        for iri in operation.graphs(name):
            try:
                ox.NamedNode(iri)
            except ValueError as error:
                raise ProtocolError(f"400 Bad Request: {name}={iri!r} is not an absolute IRI ({error})") from error
    return operation


def _utf8_body(body: bytes, what: str) -> str:
    charset = request.mimetype_params.get("charset")
    if charset and charset.lower().replace("-", "") != "utf8":
        raise ProtocolError(f"415 Unsupported Media Type: the {what} is declared as charset={charset}; "
                            "SPARQL requests must be UTF-8", 415)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"400 Bad Request: the {what} body is not valid UTF-8 ({error})") from error


def _as_lists(multidict) -> dict[str, list[str]]:
    return {key: multidict.getlist(key) for key in multidict.keys()}


# --- queries --------------------------------------------------------------------------------


def run_query(operation: Operation) -> Response:
    facts = _checked_text(operation)
    # Negotiate before evaluating: a client that can read nothing we write gets its 406 at once.
    results_syntax, rdf_syntax, not_acceptable = _offers(_format_values(operation), request.headers.get("Accept"))
    config = get_config()
    query = query_request(operation, facts, config, request.base_url, results_syntax, rdf_syntax)
    try:
        body, media_type = current_app.extensions["yokuryu.executor"].run(query)
    except Exception as error:  # noqa: BLE001 - query_failure says which are the client's
        failure = query_failure(error, operation.text, not_acceptable, config.empty)
        if failure is None:
            raise
        raise failure from None
    body, media_type = as_requested(body, media_type, rdf_syntax)
    response = Response(body, status=200)
    response.headers["Content-Type"] = with_charset(media_type)
    response.headers["Vary"] = "Accept"
    return response


def query_request(operation: Operation, facts: SparqlFacts, config, base_iri: str,
                  results_syntax: ResultsSyntax | None, rdf_syntax: RdfSyntax | None) -> QueryRequest:
    """What the executor evaluates for ``operation`` (also built by :mod:`yokuryu.server.sparql_fast`)."""
    # The protocol's dataset replaces the query's FROM / FROM NAMED entirely; and a query's own
    # FROM / FROM NAMED replaces the union default graph of the knowledge graph.
    protocol_dataset = bool(operation.params) and any(operation.graphs(name) for name in QUERY_DATASET)
    return QueryRequest(
        text=operation.text, base_iri=base_iri, predeclared_prefixes=not config.empty,
        union_default_graph=config.union_default_graph and not protocol_dataset and not facts.names_dataset,
        default_graph=tuple(operation.graphs("default-graph-uri")) if protocol_dataset else None,
        named_graphs=tuple(operation.graphs("named-graph-uri")) if protocol_dataset else None,
        results_format=results_syntax.name if results_syntax else None,
        # JSON-LD is compacted here (below), from N-Triples the engine writes fast.
        graph_format=("ntriples" if rdf_syntax.name == "jsonld" else rdf_syntax.name) if rdf_syntax else None,
        max_result_bytes=config.max_result_bytes)


def query_failure(error: Exception, text: str, not_acceptable: dict[str, ProtocolError],
                  empty: bool) -> ProtocolError | None:
    """The client's answer for a query that failed with ``error``; None for a server fault (re-raise it)."""
    if isinstance(error, ProtocolError):
        return error
    if isinstance(error, RemoteError):
        return remote_failure(error)
    if isinstance(error, NotAcceptable):
        return fresh(not_acceptable[error.kind])
    if isinstance(error, ResultsTooLarge):
        return ProtocolError(
            f"403 Forbidden: the results are larger than the {error.limit}-byte limit; narrow the query "
            "(LIMIT, fewer variables) or raise the limit with 'yokuryu serve --max-result-bytes N' "
            "or YOKURYU_MAX_RESULT_BYTES.", 403)
    if isinstance(error, SyntaxError):
        return ProtocolError(f"400 Bad Request: SPARQL syntax error: {readable_syntax_error(str(error), text, empty)}")
    if isinstance(error, (ValueError, TypeError)):
        return ProtocolError(f"400 Bad Request: the query cannot be evaluated: {error}")
    if isinstance(error, OSError):
        if is_network_refusal(error):
            return ProtocolError(f"403 Forbidden: {network_refused_message('query')}", 403)
        return ProtocolError(f"500 Internal Server Error: the store failed while evaluating the query: {error}", 500)
    return None


def as_requested(body: bytes, media_type: str, rdf_syntax: RdfSyntax | None) -> tuple[bytes, str]:
    """JSON-LD is compacted here from the N-Triples the engine wrote; other formats are as evaluated."""
    if rdf_syntax is not None and rdf_syntax.name == "jsonld" and media_type.startswith("application/n-triples"):
        return compact_jsonld(ox.parse(body, format=ox.RdfFormat.N_TRIPLES)), rdf_syntax.media_type
    return body, media_type


def readable_syntax_error(message: str, text: str, empty: bool | None = None) -> str:
    """The engine's syntax error as a sentence that names the mistake, where it is and the fix
    (:mod:`yokuryu.graph.sparql_mistakes`: the CLI says the same)."""
    if empty is None:
        empty = get_config().empty
    return explain_syntax_error(text, message, "query", () if empty else PREFIXES)


def _format_values(operation: Operation) -> list[str]:
    return [v for name in FORMAT_PARAMETERS for v in operation.params.get(name, []) if v.strip()]


def _offers(format_values: list[str], accept: str | None = None
            ) -> tuple[ResultsSyntax | None, RdfSyntax | None, dict[str, ProtocolError]]:
    """The results and graph formats this request accepts (None where nothing fits).

    A format parameter (``format``, ``output`` or ``results``: a short name such as ``csv`` or
    ``turtle``, or a media type), as Fuseki, Virtuoso and SPARQLWrapper use, wins over Accept:
    it makes plain download links possible. ``json`` names both SPARQL JSON results and JSON-LD,
    so SPARQLWrapper's ``format=json`` works for SELECT and CONSTRUCT alike.
    """
    if not format_values:
        return protocol_offers(accept)
    chosen, errors = {}, {}
    named = dict(zip(("results", "graph"), named_formats(format_values)))
    shown = ", ".join(format_values)
    for key, choose in (("results", results_syntax_for), ("graph", rdf_syntax_for)):
        if named.get(key) is not None:
            chosen[key] = named[key]
            continue
        if named:
            chosen[key] = None
            errors[key] = ProtocolError(
                f"406 Not Acceptable: format={shown} cannot represent SELECT or ASK results; use json, xml, csv or tsv"
                if key == "results" else
                f"406 Not Acceptable: format={shown} cannot represent the RDF graph of a CONSTRUCT or DESCRIBE; "
                "use turtle, ntriples, nquads, trig, jsonld or rdfxml", 406)
            continue
        try:
            chosen[key] = choose(accept)
        except ProtocolError as error:
            chosen[key], errors[key] = None, error
    return chosen["results"], chosen["graph"], errors


# --- updates --------------------------------------------------------------------------------


def run_update(operation: Operation) -> Response:
    config = get_config()
    require_write_access(config)
    _checked_text(operation)
    text = operation.text
    base_iri = request.base_url
    using, using_named = operation.graphs("using-graph-uri"), operation.graphs("using-named-graph-uri")
    run_text = text
    if using or using_named:
        try:
            run_text = with_update_dataset(text, using, using_named, protocol=True)
        except DatasetConflict as error:
            raise ProtocolError(f"400 Bad Request: {error}") from error
    _check_update_syntax(text, base_iri, run_text)
    text = run_text
    outcome = apply_update(get_store(), config, text, base_iri=base_iri)
    message = outcome.describe() + memory_only_note(get_store())
    response = Response(message + "\n", status=200)
    response.headers["Content-Type"] = with_charset("text/plain")
    return response


def _check_update_syntax(text: str, base_iri: str, run_text: str | None = None) -> None:
    """Parse errors with positions in the client's own text (before any rewriting).

    pyoxigraph offers no parse-only call for updates, so the update runs against an empty,
    throw-away store in a query process (offline, and where a crash harms nothing): parsing is
    complete, and evaluation over nothing is immediate.

    Each WHERE of an update is also evaluated there first, under ``--timeout`` and ``--query-memory``,
    because in the server nothing bounds it (a cross product grew it to 7 GB): the solutions of each
    WHERE of ``run_text`` (the text as it will run: the protocol's dataset applied) are counted on
    the query process's store (:func:`yokuryu.graph.sparql_text.where_counts`), in memory and on
    disk alike. A runaway is the query's 503.
    """
    config = get_config()
    prefixes = None if config.empty else tuple(sorted(PREFIXES.items()))
    union = not config.empty and config.union_default_graph
    try:
        counts = tuple((count.query, union and not count.names_dataset, count.inserts)
                       for count in where_counts(run_text if run_text is not None else text))
    except SparqlTextError:
        counts = ()  # the parse below reports it
    check = UpdateCheck(text, base_iri, prefixes, where_counts=counts, max_inserting_solutions=config.max_write_quads)
    executor = current_app.extensions["yokuryu.executor"]
    try:
        if hasattr(executor, "check_update"):
            data_quads = executor.check_update(check)
        else:  # a remote store's executor: parse here, in a thread without network
            data_quads = run_offline(check_update_syntax, check)
    except SyntaxError as error:
        raise ProtocolError("400 Bad Request: SPARQL update syntax error: "
                            f"{explain_syntax_error(text, str(error), 'update', dict(prefixes or ()))}") from error
    except OSError as error:
        if is_network_refusal(error):
            raise ProtocolError(f"403 Forbidden: {network_refused_message('update')}", 403) from None
        raise
    except TooManySolutions as error:
        raise ProtocolError(
            f"413 Content Too Large: the update's WHERE has {error.solutions} solutions, and its INSERT template is "
            f"written once for each: more than the {error.limit} quads one write may add; split it into several "
            "updates (narrow the WHERE), or raise the limit with --max-write-quads or YOKURYU_MAX_WRITE_QUADS. "
            "Nothing was applied.", 413) from None
    except UncountableWhere as error:
        log.warning("the WHERE of an update could not be counted on its own: %s", error)
        raise ProtocolError("400 Bad Request: the update's WHERE could not be evaluated on its own to bound its cost "
                            f"({error}); nothing was applied") from None
    # What the update inserts into nothing is its data: an 800 KB Turtle list is 800,000 quads.
    refuse_large_update(data_quads, get_config())


def _checked_text(operation: Operation) -> SparqlFacts:
    """The facts of the operation's text, or its 400/403 before any parser sees it."""
    config = get_config()
    verdict = text_verdict(operation.text, operation.kind,
                           SparqlLimits(config.max_query_nesting, config.max_query_clauses))
    if isinstance(verdict, SparqlRefused):
        status = {400: "400 Bad Request", 403: "403 Forbidden"}[verdict.status]
        raise ProtocolError(f"{status}: {verdict.message}", verdict.status) from None
    return verdict


REMEMBERED_TEXT = 4096  # characters: longer texts are checked every time (their check is cheap beside them)


def text_verdict(text: str, kind: str, limits: SparqlLimits) -> SparqlFacts | SparqlRefused:
    """:func:`check_sparql`'s facts or refusal; for short texts remembered per template
    (:func:`shape_key`: texts that differ only in their numbers), since clients fill templates."""
    if len(text) > REMEMBERED_TEXT:
        return _verdict(text, kind, limits)
    key = shape_key(text)
    verdict = _remembered_verdict(key, kind, limits)
    if isinstance(verdict, SparqlRefused) and key != text:
        return _verdict(text, kind, limits)  # the same refusal, with positions in the client's text
    return verdict


def _verdict(text: str, kind: str, limits: SparqlLimits) -> SparqlFacts | SparqlRefused:
    try:
        return check_sparql(text, kind, limits)
    except SparqlRefused as refusal:
        return refusal


# At most 2,048 texts of at most 4,096 characters: a bounded 8 MiB at worst.
_remembered_verdict = lru_cache(maxsize=2048)(_verdict)
