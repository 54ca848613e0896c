"""Slow clients against a really started ``yokuryu serve``: request bodies that arrive slowly (or
never) must not hold up requests without one (GET queries, pages, /health).

granian calls the application as soon as the headers are in, and reading the body then blocks
one of its few threads until the client has sent it all; waitress reads bodies before it calls
the application. Over real sockets: many connections that send headers and a part of a body,
then nothing, while others ask.
"""
from __future__ import annotations

import socket

import pytest
import requests

SLOW = 40  # well past the HTTP threads of every process (--workers 2: 6 each)


def _slow_bodies(server, count: int) -> list[socket.socket]:
    port = int(server.url.rsplit(":", 1)[1])
    opened = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=30)
        connection.sendall(b"POST /sparql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/sparql-query\r\n"
                           b"Content-Length: 1000\r\n\r\nSELECT")
        opened.append(connection)
    return opened


@pytest.mark.parametrize("http_server", ["granian", "waitress"])
def test_bodies_that_never_arrive_do_not_lock_out_other_requests(start_server, http_server):
    server = start_server("--empty", "--workers", "2", "--http-server", http_server)
    slow = _slow_bodies(server, SLOW)
    try:
        for _ in range(5):  # fresh connections: the kernel spreads them over every process
            assert requests.get(f"{server.url}/health", timeout=20).status_code == 200
            asked = requests.get(f"{server.url}/sparql", params={"query": "ASK {}"}, timeout=20)
            assert asked.status_code == 200
        # A body meanwhile: answered under waitress; under granian at once, 503 while the slow ones hold
        # every place for bodies (granian cannot cut a slow body off).
        posted = requests.post(f"{server.url}/sparql", data=b"ASK {}", timeout=20,
                               headers={"Content-Type": "application/sparql-query"})
        assert posted.status_code in ((200,) if http_server == "waitress" else (200, 503)), posted.text
        if posted.status_code == 503:
            assert "too many request bodies" in posted.text and posted.headers["Retry-After"]
    finally:
        for connection in slow:
            connection.close()


def test_prompt_bodies_are_read_whole_and_a_long_chunked_one_is_413(start_server):
    server = start_server("--empty", "--max-body-bytes", "1000")
    form = requests.post(f"{server.url}/sparql", data={"query": "ASK { ?s ?p ?o }"}, timeout=30)
    assert form.status_code == 200 and form.json()["boolean"] is False
    chunked = requests.post(f"{server.url}/sparql", data=iter([b"ASK ", b"{ ", b"}"]), timeout=30,
                            headers={"Content-Type": "application/sparql-query"})
    assert chunked.status_code == 200, chunked.text
    long = requests.post(f"{server.url}/sparql", data=iter([b"ASK { " + b" " * 600, b" " * 600 + b"}"]), timeout=30,
                         headers={"Content-Type": "application/sparql-query"})
    assert long.status_code == 413, long.text
