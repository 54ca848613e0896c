"""Who may write: nobody by default; bearer-token holders; or anyone, on a loopback-only server."""
from __future__ import annotations

import hmac

from flask import request

from yokuryu.server.config import ServerConfig
from yokuryu.server.errors import ProtocolError
from yokuryu.server.security import refuse_cross_site_write

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="yokuryu"'}


def require_write_access(config: ServerConfig) -> None:
    """Raise the precise 401/403 unless this request may change the store."""
    # First where it comes from: a page on another site must not write even where anyone may.
    refuse_cross_site_write()
    if config.allow_anonymous_updates:
        return
    if not config.update_token:
        raise ProtocolError(
            "403 Forbidden: this endpoint is read-only. Start the server with "
            "'yokuryu serve --update-token TOKEN' (or YOKURYU_UPDATE_TOKEN) to accept updates "
            "from requests that send 'Authorization: Bearer TOKEN'.", 403)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        raise ProtocolError(
            "401 Unauthorized: writes need the header 'Authorization: Bearer TOKEN' "
            "with the server's update token.", 401, headers=_CHALLENGE)
    # Constant-time comparison: the time taken says nothing about how much of the token matched.
    if not hmac.compare_digest(token.strip().encode(), config.update_token.encode()):
        raise ProtocolError("403 Forbidden: the bearer token is not the server's update token.", 403,
                            headers={"WWW-Authenticate": 'Bearer realm="yokuryu", error="invalid_token"'})
