"""Serving limits over real HTTP: slow queries, time limits, body sizes, no outbound fetches."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from conftest import select_values

UPDATE = {"Content-Type": "application/sparql-update"}
# Three independent patterns over N triples: N³ solutions to count, seconds of work for N = 400.
SLOW_QUERY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def fill(server, triples: int = 400) -> None:
    data = " ".join(f"<urn:s:{i}> <urn:p:v> {i} ." for i in range(triples))
    response = requests.post(f"{server.url}/sparql", data=f"INSERT DATA {{ {data} }}".encode(), headers=UPDATE,
                             timeout=60)
    assert response.status_code == 200, response.text


def cheap_query(server) -> None:
    """A trivial query that must be answered correctly (speed is measured in bench/, not here)."""
    response = requests.get(f"{server.url}/sparql", params={"query": "ASK { <urn:s:1> <urn:p:v> 1 }"}, timeout=30)
    assert response.status_code == 200 and response.json()["boolean"] is True


def test_slow_query_does_not_delay_a_cheap_one(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--timeout", "120")
    fill(server, 300)  # 27M solutions: ~3 s of CPU, time for dozens of cheap answers (400: ~7 s)
    slow_done = threading.Event()
    outcome = {}

    def slow():
        outcome["status"] = requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=300).status_code
        slow_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    # Cheap queries keep being answered while the slow one runs. Were queries served one at a
    # time, each cheap query sent after the slow one would wait for it, and at most one could
    # come back before it: the order of the answers, not their timing, is the test.
    answered_before_the_slow_one = 0
    while not slow_done.is_set():
        cheap_query(server)
        if not slow_done.is_set():
            answered_before_the_slow_one += 1
    thread.join()
    assert outcome["status"] == 200
    assert answered_before_the_slow_one >= 5


def test_query_over_the_time_limit_is_503_and_the_server_stays_healthy(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--timeout", "1")
    fill(server)
    response = requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
    assert response.status_code == 503
    assert "1 s limit" in response.text and "--timeout" in response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert requests.get(f"{server.url}/health", timeout=10).json()["status"] == "ok"
    cheap_query(server)


def test_query_over_the_time_limit_has_its_process_killed_and_a_fresh_one_answers_next(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--timeout", "1", "--workers", "1")
    fill(server)
    response = requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
    assert response.status_code == 503 and "query process was killed" in response.text
    # The only worker was replaced, not left finishing the runaway: the next query is answered,
    # not refused as "still finishing" (what the thread executor of a bare app does).
    cheap_query(server)


def test_on_disk_store_runaway_queries_are_killed_too(start_server, tmp_path):
    # An on-disk store's queries run in killable processes as well (reading a checkpoint of the
    # store), so a runaway ends with its process and the only worker is free at once.
    server = start_server("--empty", "--store", tmp_path / "store", "--allow-anonymous-updates",
                          "--timeout", "1", "--workers", "1")
    fill(server)
    response = requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
    assert response.status_code == 503 and "query process was killed" in response.text
    after = requests.get(f"{server.url}/sparql", params={"query": "ASK { <urn:s:1> <urn:p:v> 1 }"}, timeout=60)
    assert after.status_code == 200 and after.json()["boolean"] is True


def test_oversized_body_is_413_with_the_limit_and_the_server_stays_healthy(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--max-body-bytes", "2000")
    big = "ASK { " + " ".join(f"<urn:s:{i}> ?p ?o ." for i in range(200)) + " }"
    response = requests.post(f"{server.url}/sparql", data=big.encode(), timeout=30,
                             headers={"Content-Type": "application/sparql-query"})
    assert response.status_code == 413
    assert "2000 bytes" in response.text and "--max-body-bytes" in response.text
    put = requests.put(f"{server.url}/store", params={"graph": "urn:g"}, timeout=30,
                       data=b"<urn:s> <urn:p> \"" + b"x" * 5000 + b"\" .",
                       headers={"Content-Type": "application/n-triples"})
    assert put.status_code == 413
    assert requests.get(f"{server.url}/store", params={"graph": "urn:g"}, timeout=10).status_code == 404
    assert requests.post(f"{server.url}/sparql", data=b"ASK {}", timeout=10,
                         headers={"Content-Type": "application/sparql-query"}).json()["boolean"] is True


def test_results_over_the_size_limit_are_refused_and_the_server_stays_healthy(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--max-result-bytes", "20000")
    fill(server)
    response = requests.get(f"{server.url}/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"}, timeout=60)
    assert response.status_code == 403
    assert "20000-byte limit" in response.text and "--max-result-bytes" in response.text
    small = requests.get(f"{server.url}/sparql", timeout=60,
                         params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 10"})
    assert small.status_code == 200 and len(small.json()["results"]["bindings"]) == 10


@pytest.mark.parametrize("operation, text", [
    ("query", "SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"),
    ("update", "LOAD <http://example.org/data.ttl>"),
    ("update", "INSERT { ?s ?p ?o } WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"),
])
def test_no_outbound_fetches(start_server, operation, text):
    server = start_server("--empty", "--allow-anonymous-updates")
    response = requests.post(f"{server.url}/sparql", data=text.encode(), timeout=30,
                             headers={"Content-Type": f"application/sparql-{operation}"})
    assert response.status_code == 403
    assert "network" in response.text


def test_keywords_inside_strings_and_comments_are_not_refused(start_server):
    server = start_server("--empty", "--allow-anonymous-updates")
    text = 'INSERT DATA { <urn:s> <urn:p> "LOAD SERVICE" } # LOAD <http://example.org/>'
    response = requests.post(f"{server.url}/sparql", data=text.encode(), headers=UPDATE, timeout=30)
    assert response.status_code == 200, response.text
    found = requests.get(f"{server.url}/sparql", timeout=30,
                         params={"query": "SELECT ?o WHERE { <urn:s> <urn:p> ?o }"})
    assert select_values(found, "o") == ["LOAD SERVICE"]
