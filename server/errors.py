"""Errors as HTTP answers: each kind of problem maps to one status with a plain-text message."""
from __future__ import annotations

from flask import Flask, Response
from werkzeug.exceptions import HTTPException


class ProtocolError(Exception):
    """A client error with the HTTP status it deserves and a message a person can act on."""

    status = 400

    def __init__(self, message: str, status: int | None = None, headers: dict | None = None,
                 body: bytes | None = None, media_type: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}
        # A body in another format (a validation report in Turtle or JSON) replaces the message.
        self.body = body
        self.media_type = media_type


def plain(message: str, status: int, headers: dict | None = None) -> Response:
    response = Response(message.rstrip("\n") + "\n", status=status, mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ProtocolError)
    def protocol_error(error: ProtocolError):
        if error.body is not None:
            response = Response(error.body, status=error.status)
            response.headers["Content-Type"] = f"{error.media_type}; charset=utf-8"
            response.headers["Vary"] = "Accept"
            response.headers.update(error.headers)
            return response
        return plain(error.message, error.status, error.headers)

    from yokuryu.graph.remote import RemoteError

    @app.errorhandler(RemoteError)
    def remote_error(error: RemoteError):
        answer = remote_failure(error)
        return plain(answer.message, answer.status, answer.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        message = error.description or error.name
        if error.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = (f"request body too large: the limit is {limit} bytes "
                       "(set YOKURYU_MAX_BODY_BYTES or --max-body-bytes to raise it)")
        response = plain(f"{error.code} {error.name}: {message}", error.code or 500)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response


def remote_failure(error: Exception) -> ProtocolError:
    """The 502/504 for a remote server (serve --remote-query) that failed: not the client's fault."""
    from yokuryu.graph.remote import RemoteTimeout
    if isinstance(error, RemoteTimeout):
        return ProtocolError(f"504 Gateway Timeout: {error}. Narrow the query, or raise the limit with "
                             "'yokuryu serve --timeout SECONDS'.", 504, {"Retry-After": "5"})
    return ProtocolError(f"502 Bad Gateway: {error}", 502, {"Retry-After": "5"})
