"""The SPARQL protocol's hot path: plain queries by GET and POST, answered without Flask.

A point lookup costs the engine about 0.1 ms; Flask's request and response objects, its hooks
and werkzeug's header handling cost several times that (bench/RESULTS.md). This WSGI layer sits
in front of the Flask app and answers the common case itself — ``GET /sparql?query=…``, a POST
of ``application/sparql-query``, or a form whose only field is ``query`` — with the same checks,
the same evaluation (:mod:`yokuryu.server.sparql`'s functions and the app's executor), the same
answer and the same headers.

Anything else, and any request that a check would refuse, goes to Flask untouched (it has not
been evaluated yet), so every refusal keeps its one implementation and message: updates, the
dataset and format parameters, HEAD and OPTIONS, browsers that prefer HTML, host names not on
the list, bodies without a length or over the limit, text the guard refuses. Only failures of
the evaluation itself (time limit, syntax, result size) are answered here, with the messages of
:func:`yokuryu.server.sparql.query_failure`.
"""
from __future__ import annotations

import io
from functools import lru_cache
from urllib.parse import parse_qsl

from werkzeug.http import parse_options_header
from werkzeug.sansio.utils import get_current_url, get_host

from yokuryu.graph.query_guard import SparqlLimits, SparqlRefused
from yokuryu.server import cors, security
from yokuryu.server.errors import ProtocolError
from yokuryu.server.negotiation import prefers_html_for, protocol_offers, with_charset
from yokuryu.server.sparql import (FORM, QUERY_MEDIA_TYPE, REMEMBERED_TEXT, Operation, as_requested, query_failure,
                                   query_request, text_verdict)

PATH = "/sparql"
# What every answer of the Flask app carries besides its own headers (security.py, cors.py).
_COMMON = (*security.HEADERS.items(), ("Content-Security-Policy", security.DATA_POLICY),
           ("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", cors.EXPOSED_HEADERS))


class SparqlFastPath:
    """WSGI middleware: ``app.wsgi_app = SparqlFastPath(app, app.wsgi_app)``."""

    def __init__(self, app, flask_wsgi):
        self.app = app
        self.flask = flask_wsgi

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH:
            return self.flask(environ, start_response)
        answer = self._answer(environ)
        if answer is None:
            return self.flask(environ, start_response)
        status, headers, body = answer
        start_response(status, headers)
        return [body]

    def _answer(self, environ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """The answer to a plain query, or None: Flask answers this request."""
        config = self.app.config["YOKURYU"]
        text = _query_text(environ, config.max_body_bytes)
        if text is None:
            return None
        host = environ.get("HTTP_HOST")
        if not host or not _host_allowed(host, security.allowed_hosts(config)):
            return None
        accept = environ.get("HTTP_ACCEPT")
        if prefers_html_for(accept):
            return None  # people get the query UI (a redirect)
        facts = text_verdict(text, "query", _limits(config.max_query_nesting, config.max_query_clauses))
        if isinstance(facts, SparqlRefused):
            return None
        # A kind without a format is a 406 only if the query gives that kind of answer.
        results_syntax, rdf_syntax, not_acceptable = protocol_offers(accept)
        base_iri = _base_url(environ.get("wsgi.url_scheme", "http"), host, environ.get("SERVER_NAME"),
                             environ.get("SERVER_PORT"), environ.get("SCRIPT_NAME", ""))
        query = query_request(Operation("query", text), facts, config, base_iri, results_syntax, rdf_syntax)
        try:
            body, media_type = self.app.extensions["yokuryu.executor"].run(query)
        except Exception as error:  # noqa: BLE001 - query_failure says which are the client's
            failure = query_failure(error, text, not_acceptable, config.empty)
            if failure is None:
                raise
            return _failure(failure)
        body, media_type = as_requested(body, media_type, rdf_syntax)
        content_type, *others = _ok_headers(media_type)
        return "200 OK", [content_type, ("Content-Length", str(len(body))), *others], body


def _query_text(environ, max_body_bytes: int) -> str | None:
    """The text of a plain query request (nothing but one ``query``), or None."""
    method = environ.get("REQUEST_METHOD")
    url_fields = _fields(environ.get("QUERY_STRING", ""))
    if method == "GET":
        return _only_query(url_fields)
    if method != "POST" or url_fields != []:
        return None
    media_type, options = _media_type(environ.get("CONTENT_TYPE", ""))
    if media_type not in (FORM, QUERY_MEDIA_TYPE) or options.keys() - {"charset"}:
        return None
    if options.get("charset", "utf-8").lower().replace("-", "") != "utf8":
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None  # no length (chunked) or a bad one: Flask's reading of bodies applies
    if not 0 <= length <= max_body_bytes:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)  # Flask can still read it if it answers instead
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if media_type == QUERY_MEDIA_TYPE:
        return text
    return _only_query(_fields(text))


def _fields(encoded: str) -> list[tuple[str, str]] | None:
    """Percent-decoded ``name=value`` pairs; None for anything unusual (Flask decodes it its way)."""
    if not encoded:
        return []
    if len(encoded) <= REMEMBERED_TEXT:
        return _remembered_fields(encoded)
    return _decoded_fields(encoded)


def _decoded_fields(encoded: str) -> list[tuple[str, str]] | None:
    if not encoded.isascii():
        return None
    try:
        return parse_qsl(encoded, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None


# Clients repeat their query strings; at most 2,048 of at most 4,096 characters are remembered.
_remembered_fields = lru_cache(maxsize=2048)(_decoded_fields)


def _only_query(fields: list[tuple[str, str]] | None) -> str | None:
    if fields is None or len(fields) != 1 or fields[0][0] != "query":
        return None
    return fields[0][1]


@lru_cache(maxsize=64)
def _media_type(header: str) -> tuple[str, dict[str, str]]:
    value, options = parse_options_header(header)
    return value.lower(), options


@lru_cache(maxsize=64)
def _limits(max_nesting: int, max_clauses: int) -> SparqlLimits:
    return SparqlLimits(max_nesting, max_clauses)


@lru_cache(maxsize=64)
def _ok_headers(media_type: str) -> tuple[tuple[str, str], ...]:
    """A 200's headers but Content-Length, in the order the Flask app writes them."""
    return (("Content-Type", with_charset(media_type)), ("Vary", "Accept"), *_COMMON)


def _host_allowed(host: str, hosts: tuple[str, ...] | None) -> bool:
    """True when the host name is plainly allowed; otherwise Flask applies the full rule (and its 400)."""
    return hosts is None or "*" in hosts or _host_name(host) in hosts


_host_name = lru_cache(maxsize=256)(security.host_name)  # clients send the same few Host headers


@lru_cache(maxsize=64)
def _base_url(scheme: str, host_header: str, server_name: str | None, server_port: str | None,
              script_name: str) -> str:
    """``request.base_url`` of a request to /sparql, as werkzeug computes it."""
    server = (server_name, int(server_port)) if server_name and server_port and server_port.isdigit() else None
    host = get_host(scheme, host_header, server)
    return get_current_url(scheme, host, script_name, PATH)


def _failure(error: ProtocolError) -> tuple[str, list[tuple[str, str]], bytes]:
    """A failed evaluation's answer, as the Flask app's error handler writes it."""
    from werkzeug.http import HTTP_STATUS_CODES
    body = (error.message.rstrip("\n") + "\n").encode("utf-8")
    status = f"{error.status} {HTTP_STATUS_CODES.get(error.status, 'Unknown').upper()}"
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
               *error.headers.items(), *_COMMON]
    return status, headers, body
