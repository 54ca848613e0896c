"""Bounded queries are answered in the server process (server/executor.py's InProcessReads).

Over real HTTP against ``yokuryu serve``: such queries fork no query process, answer exactly
what the query processes answer, see every write that was answered, and do not keep a runaway
query from stopping at the time limit. A write that makes the store's out-degree large sends
long chains back to the query processes.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys

import pytest
import requests

from conftest import YOKURYU, select_values
from test_limits import SLOW_QUERY, UPDATE, fill
from test_query_processes import children, private_mib, zygote_and_workers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")


@pytest.fixture
def start_server(start_server):
    """One process answering (the tests count the zygote's children; readers are its children too:
    tests/test_read_processes.py)."""
    return functools.partial(start_server, "--read-processes", "1")

DATA = """INSERT DATA {
  <urn:camp:1> <urn:p:label> "Camp 7"@en , "Лагерь 7"@ru ; <urn:p:in> <urn:city:1> ; <urn:p:size> 1200 .
  <urn:city:1> <urn:p:label> "Karaganda" ; <urn:p:in> <urn:region:1> .
  <urn:region:1> <urn:p:label> "Kazakh SSR" ; <urn:p:founded> "1936-12-05"^^<http://www.w3.org/2001/XMLSchema#date> .
  <urn:person:1> <urn:p:heldIn> <urn:camp:1> ; <urn:p:label> "Person \\"one\\"" .
}"""

BOUNDED = [
    ("SELECT ?p ?o WHERE { <urn:camp:1> ?p ?o }", "application/sparql-results+json"),
    ("SELECT ?p ?o WHERE { <urn:camp:1> ?p ?o }", "text/csv"),
    ("SELECT ?p ?o WHERE { <urn:camp:1> ?p ?o }", "text/tab-separated-values"),
    ("SELECT ?p ?o WHERE { <urn:camp:1> ?p ?o }", "application/sparql-results+xml"),
    ("SELECT ?place WHERE { <urn:camp:1> <urn:p:in>+ ?place }", "application/sparql-results+json"),
    ("SELECT ?n ?l WHERE { <urn:person:1> <urn:p:heldIn> ?c . ?c <urn:p:in> ?city . ?city <urn:p:label> ?n ; "
     "<urn:p:in> ?r . ?r ?q ?l }", "application/sparql-results+json"),
    ("ASK { <urn:camp:1> <urn:p:size> 1200 }", "application/sparql-results+json"),
    ("ASK { <urn:camp:1> <urn:p:size> 1201 }", "application/sparql-results+json"),
    ("CONSTRUCT { ?c <urn:p:near> ?o } WHERE { <urn:person:1> <urn:p:heldIn> ?c . ?c ?p ?o }", "application/n-triples"),
    ("CONSTRUCT WHERE { <urn:region:1> ?p ?o }", "text/turtle"),
    ("DESCRIBE <urn:city:1>", "application/n-triples"),
    ("SELECT ?o WHERE { <urn:camp:1> <urn:p:nothing> ?o }", "application/sparql-results+json"),
    ("SELECT ?o WHERE { <urn:camp:1> nope:label ?o }", "application/sparql-results+json"),  # 400: the engine's syntax error
    ("SELECT ?o WHERE { <urn:camp:1> <urn:p:label> ?o }", "text/turtle"),  # 406
]


def _post(server, text: str) -> None:
    response = requests.post(f"{server.url}/sparql", data=text.encode(), headers=UPDATE, timeout=60)
    assert response.status_code == 200, response.text


def _comparable(response: requests.Response):
    """Status, media type, and the body with its lines in order (row order is the engine's choice)."""
    media_type = response.headers.get("Content-Type")
    if media_type.startswith("application/sparql-results+json"):
        data = response.json()
        if "results" in data:
            data["results"]["bindings"].sort(key=repr)
        return response.status_code, media_type, data
    if media_type.startswith("application/sparql-results+xml"):
        return response.status_code, media_type, sorted(response.text.split("<result>"))
    return response.status_code, media_type, sorted(response.text.splitlines())


def test_bounded_queries_fork_no_query_process_and_answer_as_the_query_processes_do(start_server):
    here = start_server("--empty", "--allow-anonymous-updates", "--workers", "1")
    there = start_server("--empty", "--allow-anonymous-updates", "--workers", "1",
                         env={"YOKURYU_IN_PROCESS_READS": "0"})
    for server in (here, there):
        _post(server, DATA)  # the write retires the idle query process
    zygote, workers = zygote_and_workers(here)
    assert workers == []
    for query, accept in BOUNDED:
        answers = [requests.get(f"{server.url}/sparql", params={"query": query}, headers={"Accept": accept},
                                timeout=60) for server in (here, there)]
        assert _comparable(answers[0]) == _comparable(answers[1]), query
    assert children(zygote) == [], "no bounded query may need a query process"
    # A query outside the class still goes to one.
    scan = requests.get(f"{here.url}/sparql", params={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"},
                        timeout=60)
    assert select_values(scan, "n") == ["10"]
    assert len(children(zygote)) == 1


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_every_answered_write_is_seen_by_the_next_bounded_read(start_server, tmp_path, where):
    # On disk the bound is measured after the start, while the first writes and reads go on.
    store = ["--store", tmp_path / "store"] if where == "disk" else []
    server = start_server("--empty", "--allow-anonymous-updates", *store)
    for value in range(30):
        _post(server, f"DELETE WHERE {{ <urn:counter> <urn:p:value> ?v }} ; "
                      f"INSERT DATA {{ <urn:counter> <urn:p:value> {value} }}")
        found = requests.get(f"{server.url}/sparql", timeout=30,
                             params={"query": "SELECT ?v WHERE { <urn:counter> <urn:p:value> ?v }"})
        assert select_values(found, "v") == [str(value)]


def test_a_runaway_query_still_stops_at_the_time_limit(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--timeout", "1", "--workers", "1")
    fill(server)
    runaway = requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
    assert runaway.status_code == 503 and "1 s limit" in runaway.text
    point = requests.get(f"{server.url}/sparql", params={"query": "ASK { <urn:s:1> <urn:p:v> 1 }"}, timeout=30)
    assert point.status_code == 200 and point.json()["boolean"] is True


def test_a_hub_written_into_the_store_sends_long_chains_to_the_query_processes(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "1")
    _post(server, "INSERT DATA { <urn:hub> <urn:p> <urn:n0> . <urn:n0> <urn:p> <urn:hub> }")
    chain = {"query": 'ASK { <urn:hub> <urn:p> ?a . ?a <urn:p> ?b . ?b <urn:p> ?c . ?c <urn:q> "absent" }'}
    zygote, _ = zygote_and_workers(server)
    assert requests.get(f"{server.url}/sparql", params=chain, timeout=60).json()["boolean"] is False
    assert children(zygote) == [], "while every subject has two quads at most, the chain is bounded"
    edges = " ".join(f"<urn:hub> <urn:p> <urn:n{i}> . <urn:n{i}> <urn:p> <urn:hub> ." for i in range(1, 1000))
    _post(server, f"INSERT DATA {{ {edges} }}")
    answer = requests.get(f"{server.url}/sparql", params=chain, timeout=60)
    assert answer.status_code in (200, 503)  # evaluated where it can be stopped, in whatever time it takes
    assert len(children(zygote)) == 1, "a hub of 1,000 out-edges makes the chain a query process's work"


@pytest.mark.slow
def test_the_knowledge_graph_answers_alike_with_its_prefixes_and_union_default_graph(start_server):
    here = start_server()
    there = start_server(env={"YOKURYU_IN_PROCESS_READS": "0"})
    first = requests.get(f"{here.url}/sparql", timeout=60,
                         params={"query": "SELECT ?camp WHERE { ?camp a yk:LabourCamp } ORDER BY ?camp LIMIT 1"})
    (camp,) = select_values(first, "camp")
    queries = [f"SELECT ?p ?o WHERE {{ <{camp}> ?p ?o }}",  # asserted and inferred quads alike
               f"SELECT ?label WHERE {{ <{camp}> rdfs:label ?label }}",  # a predeclared prefix
               f"SELECT ?place WHERE {{ <{camp}> yk:locatedIn+ ?place }}",
               f"CONSTRUCT WHERE {{ <{camp}> a ?class }}"]
    zygote, _ = zygote_and_workers(here)
    busy_before = children(zygote)
    for query in queries:
        answers = [requests.get(f"{server.url}/sparql", params={"query": query}, timeout=60,
                                headers={"Accept": "application/sparql-results+json, application/n-triples"})
                   for server in (here, there)]
        assert answers[0].status_code == 200, answers[0].text
        assert _comparable(answers[0]) == _comparable(answers[1]), query
    assert children(zygote) == busy_before, "bounded queries need no more query processes"
    described = requests.get(f"{here.url}/sparql", params={"query": queries[0]}, timeout=60)
    assert "https://w3id.org/yokuryu/ontology#LabourCamp" in select_values(described, "o")


def test_the_protocols_dataset_sends_a_bounded_query_to_the_query_processes(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "1")
    _post(server, "INSERT DATA { GRAPH <urn:g> { <urn:s> <urn:p> 1 } }")
    zygote, _ = zygote_and_workers(server)
    query = {"query": "SELECT ?o WHERE { <urn:s> <urn:p> ?o }"}
    assert select_values(requests.get(f"{server.url}/sparql", params=query, timeout=60), "o") == []
    assert children(zygote) == []
    found = requests.get(f"{server.url}/sparql", params={**query, "default-graph-uri": "urn:g"}, timeout=60)
    assert select_values(found, "o") == ["1"]
    assert len(children(zygote)) == 1


def test_above_its_memory_limit_the_server_sends_bounded_reads_to_the_query_processes(start_server):
    # YOKURYU_IN_PROCESS_READS_MEMORY: MiB of the server's own memory; any server holds more than 1.
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "1",
                          env={"YOKURYU_IN_PROCESS_READS_MEMORY": "1"})
    assert any("bounded reads go to the query processes from now on" in line for line in server.output)
    _post(server, DATA)  # the write retires the idle query process
    zygote, workers = zygote_and_workers(server)
    assert workers == []
    point = requests.get(f"{server.url}/sparql", params={"query": BOUNDED[0][0]}, timeout=60)
    assert len(point.json()["results"]["bindings"]) == 4  # two labels, a place, a size
    assert len(children(zygote)) == 1, "the lookup was answered by a query process"


def test_a_negative_memory_limit_for_in_process_reads_is_refused():
    done = subprocess.run([YOKURYU, "serve", "--empty", "--port", "0"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "YOKURYU_IN_PROCESS_READS_MEMORY": "-5"})
    assert done.returncode == 2
    assert "YOKURYU_IN_PROCESS_READS_MEMORY is MiB of the server's own memory (0: no limit), not -5" in done.stderr


@pytest.mark.slow
def test_in_process_reads_stop_copying_the_store_at_the_memory_limit(start_server, tmp_path):
    # A chain of 100,000 links: a path from its start is a bounded read that walks all of it, and
    # in memory it makes the server copy the store's pages it touches (~70 MB here).
    journal = tmp_path / "chain.journal"
    with open(journal, "wb") as out:
        out.write(b"# yokuryu journal 1 base=empty\nTX\n")
        out.writelines(f'A <urn:n{i}> <urn:next> <urn:n{i + 1}> .\nA <urn:n{i}> <urn:label> "node {i}" .\n'.encode()
                       for i in range(100_000))
        out.write(b"TC\n")
    server = start_server("--empty", "--journal", journal, "--workers", "1",
                          env={"YOKURYU_IN_PROCESS_READS_MEMORY": "64"})
    assert not any("bounded reads go to the query processes" in line for line in server.output)
    assert private_mib(server.process.pid) < 64
    walk = {"query": "SELECT ?x WHERE { <urn:n0> <urn:next>+ ?x }"}
    first = requests.get(f"{server.url}/sparql", params=walk, headers={"Accept": "text/csv"}, timeout=120)
    assert len(first.text.splitlines()) == 100_001  # the header and every node after the first
    over = private_mib(server.process.pid)
    assert over > 64, "the first walk was read here and copied pages"
    for _ in range(3):  # now in the query process: the server copies nothing more
        again = requests.get(f"{server.url}/sparql", params=walk, headers={"Accept": "text/csv"}, timeout=120)
        assert again.text == first.text
    assert private_mib(server.process.pid) < over + 16
    server.process.terminate()
    server.process.wait(timeout=10)
    output = "".join(server.output) + server.process.stdout.read()
    assert "(limit 64 MiB, YOKURYU_IN_PROCESS_READS_MEMORY): bounded reads go to the query processes" in output
