"""Defences that do not depend on what a request asks: the host names the server answers for,
where a write may come from, and the headers every answer carries.

- **Host.** A page on ``evil.example`` whose name is re-pointed at 127.0.0.1 (DNS rebinding)
  reaches a local server as a same-origin page; only the ``Host`` header still says
  ``evil.example``. When the server knows its names (``--allowed-hosts``, or by default the
  loopback names when it listens on loopback) any other ``Host`` is refused with 400.
- **Origin.** A form on any site can POST to a local server (no CORS preflight for a form), so
  with ``--allow-anonymous-updates`` it could run ``DROP ALL``. A write that carries an
  ``Origin`` (browsers send one with every cross-site POST, PUT, DELETE) must come from the
  server's own origin; clients that send none (curl, SPARQL libraries) are not browsers and
  are unaffected.
- **Headers.** Pages run only the server's own scripts and styles (a strict
  Content-Security-Policy), cannot be framed, do not leak their URL (which may hold a query)
  to other sites, and nothing is sniffed as another type.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from yokuryu.graph.untrusted_rdf import RdfLimits
from yokuryu.server.config import ServerConfig
from yokuryu.server.errors import ProtocolError

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

# HTML: our own scripts, styles and fetches only; no inline code, no plugins, no framing.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# Anything else (RDF, results, text): never a document that runs code, even if opened directly.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
}


def register(app: Flask) -> None:
    app.before_request(refuse_unknown_host)
    app.after_request(add_security_headers)


def allowed_hosts(config: ServerConfig) -> tuple[str, ...] | None:
    """The host names this server answers for, or None when it answers for any.

    Anonymous writes are accepted only on loopback, so they imply the loopback names.
    """
    if config.allowed_hosts is not None:
        return config.allowed_hosts
    if config.allow_anonymous_updates:
        return LOOPBACK_HOSTS
    return None


def write_limits(config: ServerConfig) -> RdfLimits:
    """The limits on an RDF body sent to be written (see ``yokuryu.graph.untrusted_rdf``)."""
    return RdfLimits(max_quads=config.max_write_quads, max_expansion=config.max_write_expansion,
                     max_depth=config.max_rdf_depth, timeout=config.query_timeout)


def refuse_large_update(quads: int, config: ServerConfig) -> None:
    """413 for an update whose data alone is more quads than one write may send."""
    if quads > config.max_write_quads:
        raise ProtocolError(
            f"413 Content Too Large: the update inserts {quads} quads of data, more than the {config.max_write_quads} "
            "one write may send; split it into several updates, or raise the limit with --max-write-quads or "
            "YOKURYU_MAX_WRITE_QUADS. Nothing was applied.", 413)


def refuse_unknown_host() -> None:
    hosts = allowed_hosts(current_app.config["YOKURYU"])
    if hosts is None or "*" in hosts:
        return
    name = host_name(request.host)
    if not any(name == h or (h.startswith(".") and (name.endswith(h) or name == h[1:])) for h in hosts):
        raise ProtocolError(
            f"400 Bad Request: this server does not answer for the host name {name!r} (the request's Host "
            f"header); it answers for {', '.join(hosts)}. If the name is yours, add it with "
            "'yokuryu serve --allowed-hosts NAME,…' or YOKURYU_ALLOWED_HOSTS.")


def refuse_cross_site_write() -> None:
    """Raise 403 unless this write comes from a non-browser client or from the server's own pages."""
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if origin is None:
        if fetch_site in ("cross-site", "same-site"):
            _refuse("another site")
        return
    if origin == "null":
        _refuse("a page with an opaque origin ('Origin: null': a sandboxed frame, a file, a redirect)")
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc or _netloc(parts.netloc, parts.scheme) != _netloc(request.host, parts.scheme):
        _refuse(f"the web page at {origin}")


def add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    is_page = response.mimetype in ("text/html", "application/xhtml+xml")
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY if is_page else DATA_POLICY)
    return response


def host_name(host: str) -> str:
    """``[::1]:8000`` → ``::1``; ``Example.org:80`` → ``example.org``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _netloc(netloc: str, scheme: str) -> str:
    """``host:port`` with the scheme's default port dropped, for comparing origins."""
    netloc = netloc.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme.lower())
    if default and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return netloc


def _refuse(source: str) -> None:
    raise ProtocolError(
        f"403 Forbidden: a write from {source} was refused and nothing was applied. This server accepts "
        "writes only from its own pages or from clients that send no Origin header (curl, SPARQL "
        "libraries), so a web page cannot change the data behind the user's back.", 403)
