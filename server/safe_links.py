"""Which IRIs may become a link: anyone who can write chooses IRIs, and a page must not run them.

An IRI such as ``javascript:alert(document.cookie)`` or ``data:text/html,…`` is a valid IRI and
may be stored, shown and queried like any other; rendered as ``href`` it would run in the
page when clicked. Pages therefore link only relative references and the schemes below; any
other IRI is shown as text. Views compute hrefs with :func:`href_for`, and templates filter
every href that holds data with ``link_target`` as well. (The strict Content-Security-Policy blocks ``javascript:`` URLs as
well: two defences, either one enough.) ``server/static/query-ui.js`` applies the same rule to
query results.
"""
from __future__ import annotations

import re

from flask import Flask

LINKABLE_SCHEMES = ("http", "https", "mailto")

# Browsers drop ASCII tab and newlines anywhere in a URL and strip leading C0 controls and
# spaces before they read the scheme, so "java\tscript:" is javascript: to them.
_IGNORED_BY_BROWSERS = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def link_target(value) -> str | None:
    """``value`` if a browser may follow it as a link (http, https, mailto or relative), else None."""
    if value is None:
        return None
    text = _IGNORED_BY_BROWSERS.sub("", str(value)).lstrip(_C0_AND_SPACE)
    if not text:
        return None
    scheme = _SCHEME.match(text)
    if scheme is None:
        # No scheme: a path, query or fragment ("/resource/x.html", "#s3"); it keeps the page's own
        # (safe) scheme, even when protocol-relative ("//host/…").
        return str(value)
    return str(value) if scheme.group(1).lower() in LINKABLE_SCHEMES else None


def href_for(iri: str, base: str) -> str | None:
    """Where a page links ``iri``: this server's page about it, the IRI itself if it may be
    followed, else None (the template shows the IRI as text)."""
    from yokuryu.server.pages.labels import local_page
    return local_page(iri, base) or link_target(iri)


def register(app: Flask) -> None:
    app.add_template_filter(link_target, "link_target")
