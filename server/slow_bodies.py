"""At most a few request bodies received at once, so that slow ones cannot take every HTTP thread (granian).

granian calls a WSGI application as soon as a request's headers are in; reading the body then
blocks one of its HTTP threads (``--workers`` + 4) until the client has sent all of it, and
nothing in granian limits how long that takes (its only timeout is for the headers). A few
dozen connections that sent headers and part of a body, then nothing, held every thread: no
request was answered, /health included, for as long as they stayed open. (waitress reads a
body before it calls the application, and drops a connection idle for 30 s.)

A body cannot be read elsewhere (granian's body object read from another thread stalls its
event loop) nor cut off, so the number of bodies being received at once is bounded instead:
``--workers`` of them, leaving four HTTP threads that never wait for a body; a request with a
body that finds no place within :data:`WAIT` seconds is answered 503 at once. Slow bodies can
then hold up other bodies (POSTed queries, writes), never GET queries, pages or /health. Where
the server faces clients that may be hostile, serve with ``--http-server waitress`` or behind a
reverse proxy that buffers request bodies.
"""
from __future__ import annotations

import io
import threading

from yokuryu.server.errors import ProtocolError

WAIT = 0.5  # seconds a request with a body waits for a place (a prompt client's body takes far less)


class BodiesFirst:
    """WSGI middleware: the body read (up to ``max_body_bytes`` + 1) before ``app`` is called,
    by at most ``places`` requests at once."""

    def __init__(self, app, max_body_bytes: int, places: int):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._places = threading.BoundedSemaphore(places)

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or (-1 if chunked else 0))
        except ValueError:
            return self.app(environ, start_response)  # the application answers a bad length
        if length == 0 or length > self.max_body_bytes:
            return self.app(environ, start_response)  # nothing to read, or a 413 from the length alone
        if not self._places.acquire(timeout=WAIT):
            from yokuryu.server.sparql_fast import _failure
            status, headers, body = _failure(ProtocolError(
                "503 Service Unavailable: too many request bodies are being received at once (some clients "
                "send theirs slowly); try again", 503, headers={"Retry-After": "5"}))
            start_response(status, headers)
            return [body]
        try:
            body = read_body(environ["wsgi.input"], length, self.max_body_bytes)
        finally:
            self._places.release()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))  # past max_body_bytes for a long chunked body: its 413
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        return self.app(environ, start_response)



def read_body(stream, length: int, max_body_bytes: int) -> bytes:
    """A request's body: ``length`` bytes, or (chunked, ``length`` -1) up to one byte past
    ``max_body_bytes``, so that the application can answer 413 without reading more."""
    if length >= 0:
        return stream.read(length)
    chunks, total = [], 0
    while total <= max_body_bytes:
        chunk = stream.read(min(65536, max_body_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
