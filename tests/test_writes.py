"""Writes over real HTTP: who may write, validated all-or-nothing updates, serialised writers."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import run_cli, select_values

DATA = Path(__file__).parent / "data"
TOKEN = "correct horse battery staple"
UPDATE = {"Content-Type": "application/sparql-update"}
USER_GRAPH = "https://w3id.org/yokuryu/graph/user/archive"


def update(server, text: str, token: str | None = TOKEN, **headers) -> requests.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{server.url}/sparql", data=text.encode(), headers={**UPDATE, **headers}, timeout=300)


def ask(server, text: str) -> bool:
    response = requests.get(f"{server.url}/sparql", params={"query": text}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["boolean"]


def quad_count(server) -> int:
    response = requests.get(f"{server.url}/sparql", timeout=60,
                            params={"query": "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"})
    return int(select_values(response, "n")[0])


@pytest.fixture(scope="module")
def knowledge_graph():
    """The bundled knowledge graph, writable with a bearer token."""
    from conftest import ServerProcess
    server = ServerProcess("--update-token", TOKEN)
    yield server
    server.stop()


# --- who may write -------------------------------------------------------------------------------


def test_read_only_by_default(server):
    response = update(server, "INSERT DATA { GRAPH <urn:x:g> { <urn:x:s> <urn:x:p> 1 } }", token=None)
    assert response.status_code == 403
    assert "read-only" in response.text and "--update-token" in response.text
    put = requests.put(f"{server.url}/store", params={"graph": "urn:x:g"}, data=b"<urn:x:s> <urn:x:p> 1 .",
                       headers={"Content-Type": "application/n-triples"}, timeout=30)
    assert put.status_code == 403


def test_missing_token_is_401_and_wrong_token_is_403(knowledge_graph):
    text = f"INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <urn:x:s> rdfs:label 'x' }} }}"
    missing = update(knowledge_graph, text, token=None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = update(knowledge_graph, text, token="not the token")
    assert wrong.status_code == 403
    assert "not the server's update token" in wrong.text
    delete = requests.delete(f"{knowledge_graph.url}/store", params={"graph": USER_GRAPH}, timeout=30)
    assert delete.status_code == 401
    assert not ask(knowledge_graph, "ASK { <urn:x:s> ?p ?o }")


@pytest.mark.slow
def test_anonymous_updates_only_on_loopback():
    result = run_cli("serve", "--empty", "--allow-anonymous-updates", "--host", "0.0.0.0", timeout=60)
    assert result.returncode == 2
    assert "loopback" in result.stderr.decode()


# --- validated, all-or-nothing writes in the knowledge graph -------------------------------------


@pytest.mark.slow
def test_invalid_update_is_refused_with_the_report_and_nothing_applied(knowledge_graph):
    before = quad_count(knowledge_graph)
    triples = (DATA / "broken-estimate.ttl").read_text(encoding="utf-8")
    body = "\n".join(line for line in triples.splitlines() if not line.startswith("@prefix"))
    prefixes = "\n".join(f"PREFIX {line.split()[1]} {line.split()[2]}" for line in triples.splitlines()
                         if line.startswith("@prefix"))
    text = f"{prefixes}\nINSERT DATA {{ GRAPH <{USER_GRAPH}> {{ {body} }} }}"
    response = update(knowledge_graph, text)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "nothing was applied" in response.text
    assert "does not conform" in response.text and "https://example.org/bad-estimate" in response.text
    assert f"graph <{USER_GRAPH}>" in response.text  # where the problem is
    assert quad_count(knowledge_graph) == before
    assert not ask(knowledge_graph, "ASK { <https://example.org/bad-estimate> ?p ?o }")

    as_turtle = update(knowledge_graph, text, Accept="text/turtle")
    assert as_turtle.status_code == 422
    assert as_turtle.headers["Content-Type"].startswith("text/turtle")
    from rdflib import Graph
    from rdflib.namespace import SH
    report = Graph().parse(data=as_turtle.text, format="turtle")
    assert (None, SH.conforms, None) in report
    as_json = update(knowledge_graph, text, Accept="application/json")
    assert as_json.status_code == 422
    assert as_json.json()["applied"] is False and as_json.json()["results"]


@pytest.mark.slow
def test_misspelt_update_operation_names_the_word_and_applies_nothing(knowledge_graph):
    before = quad_count(knowledge_graph)
    # The first operation is fine; the second is misspelt: the whole update is refused.
    text = (f"INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <urn:x:misspelt> <urn:x:p> 1 }} }} ;\n"
            f"DELET DATA {{ GRAPH <{USER_GRAPH}> {{ <urn:x:misspelt> <urn:x:p> 1 }} }}")
    response = update(knowledge_graph, text)
    assert response.status_code == 400, response.text
    assert "line 2, column 1: 'DELET' is not a SPARQL update operation (did you mean DELETE?)" in response.text
    assert "INSERT, DELETE, WITH, LOAD" in response.text and "expected" not in response.text
    assert quad_count(knowledge_graph) == before
    assert not ask(knowledge_graph, "ASK { <urn:x:misspelt> ?p ?o }")

    as_query = update(knowledge_graph, "SELECT * WHERE { ?s ?p ?o }")
    assert as_query.status_code == 400
    assert "'SELECT' starts a query, not an update" in as_query.text


def test_invalid_graph_store_put_is_refused(knowledge_graph):
    response = requests.put(f"{knowledge_graph.url}/store", params={"graph": USER_GRAPH},
                            data=(DATA / "broken-estimate.ttl").read_bytes(),
                            headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"}, timeout=300)
    assert response.status_code == 422
    assert "https://example.org/bad-estimate" in response.text
    assert requests.get(f"{knowledge_graph.url}/store", params={"graph": USER_GRAPH}, timeout=30).status_code == 404


@pytest.mark.slow
def test_valid_write_is_committed_with_its_inferences(knowledge_graph):
    graph = "https://w3id.org/yokuryu/graph/user/extra-estimate"
    response = requests.put(f"{knowledge_graph.url}/store", params={"graph": graph},
                            data=(DATA / "extra-estimate.ttl").read_bytes(),
                            headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"}, timeout=300)
    assert response.status_code == 201, response.text
    estimate = "<https://example.org/my-archive/estimate-1>"
    assert ask(knowledge_graph, f"ASK {{ GRAPH <{graph}> {{ {estimate} a yk:Estimate }} }}")
    # The reasoner ran for the new state: an estimate is a claim, said in the inferred graph only.
    assert ask(knowledge_graph, f"ASK {{ GRAPH ykg:inferred {{ {estimate} a yk:Claim }} }}")
    assert not ask(knowledge_graph, f"ASK {{ GRAPH <{graph}> {{ {estimate} a yk:Claim }} }}")
    # Updates see the union default graph in WHERE, as queries do.
    copied = update(knowledge_graph, f"INSERT {{ GRAPH <{USER_GRAPH}> {{ ?e rdfs:seeAlso <urn:x:register> }} }} "
                                     f"WHERE {{ ?e a yk:Claim ; yk:basis 'a register in my archive'@en }}")
    assert copied.status_code == 200, copied.text
    assert "validated and reasoned over" in copied.text
    assert ask(knowledge_graph, f"ASK {{ GRAPH <{USER_GRAPH}> {{ {estimate} rdfs:seeAlso <urn:x:register> }} }}")

    deleted = requests.delete(f"{knowledge_graph.url}/store", params={"graph": graph},
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    assert deleted.status_code == 204
    assert not ask(knowledge_graph, f"ASK {{ GRAPH ykg:inferred {{ {estimate} a yk:Claim }} }}")


def test_an_update_that_changes_nothing_is_not_revalidated(knowledge_graph):
    response = update(knowledge_graph, f"DELETE WHERE {{ GRAPH <{USER_GRAPH}> {{ <urn:x:nobody> ?p ?o }} }}")
    assert response.status_code == 200
    assert response.text.startswith("Update applied: 0 quads added, 0 removed (")
    assert "nothing changed, so nothing needed checking" in response.text


@pytest.mark.parametrize("graph", ["ontology", "shapes", "inferred", "metadata"])
def test_writes_never_touch_derived_or_schema_graphs(knowledge_graph, graph):
    before = quad_count(knowledge_graph)
    response = update(knowledge_graph, f"INSERT DATA {{ GRAPH ykg:{graph} {{ <urn:x:s> rdfs:label 'x' }} }}")
    assert response.status_code == 403
    assert f"/graph/{graph}>" in response.text and "Nothing was applied" in response.text
    dropped = requests.delete(f"{knowledge_graph.url}/store",
                              params={"graph": f"https://w3id.org/yokuryu/graph/{graph}"},
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    assert dropped.status_code == 403
    assert quad_count(knowledge_graph) == before


def test_knowledge_graph_default_graph_is_not_writable_as_such(knowledge_graph):
    response = update(knowledge_graph, "INSERT DATA { <urn:x:s> rdfs:label 'x' }")
    assert response.status_code == 400
    assert "named graph" in response.text
    put = requests.put(f"{knowledge_graph.url}/store?default", data=b"<urn:x:s> <urn:x:p> 1 .", timeout=30,
                       headers={"Content-Type": "application/n-triples", "Authorization": f"Bearer {TOKEN}"})
    assert put.status_code == 400
    assert "union" in put.text


# --- serialised writers, consistent readers (plain mode) -------------------------------------------


def test_eight_concurrent_writers_lose_nothing(start_server):
    server = start_server("--empty", "--allow-anonymous-updates")

    def writer(number: int) -> list[int]:
        statuses = []
        with requests.Session() as session:
            for i in range(200):
                response = session.post(f"{server.url}/sparql", headers=UPDATE, timeout=60,
                                        data=f"INSERT DATA {{ <urn:w:{number}> <urn:p:n> {i} }}".encode())
                statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for result in pool.map(writer, range(8)) for s in result]
    assert statuses == [200] * 1600
    response = requests.get(f"{server.url}/sparql", timeout=30,
                            params={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s <urn:p:n> ?i }"})
    assert select_values(response, "n") == ["1600"]


def test_readers_see_the_old_or_the_new_state_never_half(start_server):
    server = start_server("--empty", "--allow-anonymous-updates")
    seen, stop = set(), threading.Event()

    def reader():
        with requests.Session() as session:
            while not stop.is_set():
                response = session.get(f"{server.url}/sparql", timeout=30, params={
                    "query": "SELECT (COUNT(*) AS ?n) WHERE { ?s <urn:p:batch> ?o }"})
                seen.add(int(select_values(response, "n")[0]))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for batch in range(30):
            triples = " ".join(f"<urn:b:{batch}-{i}> <urn:p:batch> {i} ." for i in range(50))
            assert requests.post(f"{server.url}/sparql", headers=UPDATE, timeout=60,
                                 data=f"INSERT DATA {{ {triples} }}".encode()).status_code == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert seen and all(n % 50 == 0 for n in seen), sorted(seen)
