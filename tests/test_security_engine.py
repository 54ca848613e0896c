"""Issue 10, the query side: what anyone who can send a query (or, with a token, an update) must
not be able to do to the server. One test per finding, each against a real ``yokuryu serve``:
no fetch from the network, no crash, no unbounded memory, no quadratic CPU, no starvation."""
from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import select_values
from test_limits import SLOW_QUERY, UPDATE, fill
from test_query_processes import running, tree

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")

QUERY = {"Content-Type": "application/sparql-query"}
JSON = {"Accept": "application/sparql-results+json"}


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it receives."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self):
        self.socket.close()


@pytest.fixture
def listener():
    found = Listener()
    yield found
    found.close()


def alive(server, before: list[int]) -> None:
    """The server answers, and the same main process, zygote and workers are still running."""
    assert server.process.poll() is None
    assert requests.get(f"{server.url}/health", timeout=20).status_code == 200
    assert all(running(pid) for pid in before), "a query process died"


# --- 1. no request makes the server fetch from the network ---------------------------------------


def remote_probes(port: int) -> list[tuple[str, str]]:
    target = f"http://127.0.0.1:{port}/secret"
    prefix = "PREFIX ex: <http://e/> "
    return [
        ("query", f"SELECT * WHERE {{ SERVICE <{target}> {{ ?s ?p ?o }} }}"),
        ("query", f"select * where {{ service silent <{target}> {{ ?s ?p ?o }} }}"),
        # the issue's escape tricks: '\#' and '\'' hid the rest of the line from the old filter
        ("query", prefix + f"SELECT * WHERE {{ OPTIONAL {{ ?a ?b ex:a\\#x }} SERVICE <{target}> {{ ?s ?p ?o }} }}"),
        ("query", prefix + f"SELECT * WHERE {{ ?a ?b ex:a\\'x . SERVICE <{target}> {{ ?s ?p ?o }} }} # '"),
        ("query", f"SELECT * FROM <{target}> WHERE {{ ?s ?p ?o }}"),
        ("query", f"SELECT * FROM NAMED <{target}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"),
        ("query", "SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }"),
        ("update", f"LOAD <{target}>"),
        ("update", f"LOAD SILENT <{target}> INTO GRAPH <urn:g>"),
        ("update", "LOAD <file:///etc/passwd>"),
        ("update", prefix + f"INSERT {{ ?s ?p ex:a\\#x }} WHERE {{ }} ; LOAD <{target}>"),
        ("update", prefix + f"INSERT {{ <urn:s> <urn:p> ex:a\\'x }} WHERE {{ }} ; LOAD <{target}> # '"),
        ("update", f"INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE <{target}> {{ ?s ?p ?o }} }}"),
        # SPARQL 1.1 §19.2: \u and \U escapes are decoded before parsing, anywhere in the text. pyoxigraph
        # reads this as a string; a remote server that follows the grammar (Jena: Fuseki) calls SERVICE.
        ("query", f'SELECT * WHERE {{ ?s ?p ?o FILTER(?o = "a\\u0022) }} SERVICE <{target}> {{ ?s ?p ?o }} #") }}'),
        ("query", f'SELECT * WHERE {{ ?s ?p ?o FILTER(?o = "\\U00000022) }} \\u0053ERVICE <{target}> {{ ?s ?p ?o }} #") }}'),
        ("update", f'INSERT DATA {{ <urn:s> <urn:p> "\\u0022 }} ; LOAD <{target}> ; INSERT DATA {{ <urn:s> <urn:p> \\u0022" }}'),
    ]


def test_no_query_or_update_reaches_the_network(start_server, listener):
    server = start_server("--empty", "--allow-anonymous-updates")
    for kind, text in remote_probes(listener.port):
        response = requests.post(f"{server.url}/sparql", data=text.encode(), timeout=30,
                                 headers={**JSON, "Content-Type": f"application/sparql-{kind}"})
        assert response.status_code < 500, (text, response.text)
        if "SERVICE" in text.upper() or "LOAD" in text:
            assert response.status_code == 403 and "network" in response.text, (text, response.text)
        assert "secret" not in response.text.replace(f"{listener.port}/secret", "")
    # The file: and remote FROM probes name graphs, nothing is read from them.
    empty = requests.get(f"{server.url}/sparql", headers=JSON, timeout=30,
                         params={"query": "SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }"})
    assert empty.json()["results"]["bindings"] == []
    assert listener.connections == 0


def test_query_processes_cannot_open_network_sockets_even_if_the_text_check_is_bypassed(listener, store):
    # The defence is in the engine's process, not in the text: send SERVICE straight to a worker.
    from yokuryu.graph.query_guard import is_network_refusal
    from yokuryu.server.executor import QueryRequest, UpdateCheck
    from yokuryu.server.query_processes import QueryProcesses

    processes = QueryProcesses(store, workers=1, timeout=30)
    try:
        request = QueryRequest(
            text=f"SELECT * WHERE {{ SERVICE <http://127.0.0.1:{listener.port}/x> {{ ?s ?p ?o }} }}",
            base_iri=None, predeclared_prefixes=False, union_default_graph=False, default_graph=None,
            named_graphs=None, results_format="json", graph_format=None, max_result_bytes=1 << 20)
        with pytest.raises(OSError) as refused:
            processes.run(request)
        assert is_network_refusal(refused.value), refused.value
        with pytest.raises(OSError) as refused:
            processes.check_update(UpdateCheck(f"LOAD <http://127.0.0.1:{listener.port}/x>", None, None))
        assert is_network_refusal(refused.value), refused.value
    finally:
        processes.shutdown()
    assert listener.connections == 0


def test_updates_in_the_server_process_cannot_open_network_sockets(listener):
    # Updates change the server's own store, so they run there: in a thread locked out of the network.
    import pyoxigraph as ox

    from yokuryu.graph.offline import run_offline
    from yokuryu.graph.query_guard import is_network_refusal

    with pytest.raises(OSError) as refused:
        run_offline(ox.Store().update, f"LOAD <http://127.0.0.1:{listener.port}/x>")
    assert is_network_refusal(refused.value), refused.value
    assert listener.connections == 0
    socket.create_connection(("127.0.0.1", listener.port)).close()  # other threads keep their network
    deadline = time.monotonic() + 5
    while listener.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert listener.connections == 1


# --- 2. nesting never crashes anything ----------------------------------------------------------------


def nesting_payloads() -> list[tuple[str, str]]:
    return [
        ("query", "SELECT * WHERE { FILTER(" + "(" * 10_000 + "1" + ")" * 10_000 + ") }"),
        ("query", "SELECT * WHERE { " + " ".join(f"BIND({i} AS ?v{i})" for i in range(20_000)) + " }"),
        ("query", "SELECT * WHERE " + "{" * 10_000 + "}" * 10_000),
        ("query", "SELECT * WHERE { " + "OPTIONAL { " * 10_000 + "}" * 10_000 + " }"),
        ("query", "SELECT * WHERE { FILTER(" + "!" * 10_000 + "true) }"),
        ("query", "SELECT * WHERE { " + " UNION ".join(["{ ?s ?p ?o }"] * 20_000) + " }"),
        ("update", "INSERT { <urn:s> <urn:p> <urn:o> } WHERE " + "{" * 10_000 + "}" * 10_000),
        ("update", "INSERT DATA { GRAPH <urn:g> " + "{" * 10_000 + "}" * 10_000 + " }"),
    ]


@pytest.mark.slow
def test_deeply_nested_queries_and_updates_are_400_and_nothing_dies(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "2")
    requests.get(f"{server.url}/sparql", params={"query": "ASK {}"}, timeout=30)
    before = tree(server.process.pid)
    for kind, text in nesting_payloads():
        if kind == "query" and len(text) < 70_000:  # as a GET, like the 60 KB request
            response = requests.get(f"{server.url}/sparql", params={"query": text}, timeout=60)
        else:
            response = requests.post(f"{server.url}/sparql", data=text.encode(), timeout=60,
                                     headers={"Content-Type": f"application/sparql-{kind}"})
        assert response.status_code in (400, 413), (text[:60], response.status_code, response.text)
        assert "--max-query-" in response.text or "--max-body-bytes" in response.text
    alive(server, before)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["memory", "disk"])
def test_a_crash_in_the_engine_takes_down_only_its_query_process(start_server, tmp_path, where):
    # With the text limits raised far above what the engine survives, the parser's stack
    # overflow happens — in a query process, and the client gets a 400. The 60 KB GET
    # killed a --store server: on disk, queries run in query processes too.
    store = ("--store", tmp_path / "store") if where == "disk" else ()
    server = start_server("--empty", *store, "--allow-anonymous-updates", "--workers", "2",
                          "--max-query-nesting", "1000000", "--max-query-clauses", "1000000")
    deep = "SELECT * WHERE { FILTER(" + "(" * 10_000 + "1" + ")" * 10_000 + ") }"
    response = requests.get(f"{server.url}/sparql", params={"query": deep}, timeout=60)
    assert response.status_code == 400 and "too deeply nested" in response.text, response.text
    update = "INSERT { <urn:s> <urn:p> <urn:o> } WHERE " + "{" * 20_000 + "}" * 20_000
    response = requests.post(f"{server.url}/sparql", data=update.encode(), headers=UPDATE, timeout=60)
    assert response.status_code == 400 and "too deeply nested" in response.text, response.text
    assert server.process.poll() is None
    after = requests.get(f"{server.url}/sparql", params={"query": "ASK {}"}, headers=JSON, timeout=30)
    assert after.status_code == 200 and after.json()["boolean"] is True


# --- 3. a query's memory is bounded ----------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


@pytest.mark.slow
def test_group_concat_over_a_cross_product_stops_at_the_memory_ceiling(start_server):
    server = start_server("--query-memory", "256", "--timeout", "120", "--workers", "1")
    requests.get(f"{server.url}/sparql", params={"query": "ASK {}"}, timeout=30)
    baseline = max(rss_bytes(pid) for pid in tree(server.process.pid))
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            for pid in tree(server.process.pid):
                peak[0] = max(peak[0], rss_bytes(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        query = "SELECT (GROUP_CONCAT(CONCAT(STR(?a),STR(?d))) AS ?x) WHERE { ?a ?b ?c . ?d ?e ?f }"
        response = requests.get(f"{server.url}/sparql", params={"query": query}, headers=JSON, timeout=180)
    finally:
        done.set()
        sampler.join()
    assert response.status_code in (403, 503), response.text
    if response.status_code == 503:
        assert "256 MiB" in response.text and "--query-memory" in response.text
    assert peak[0] < baseline + 320 * 1024 * 1024, (peak[0] >> 20, baseline >> 20)
    after = requests.get(f"{server.url}/sparql", params={"query": "ASK { ?s ?p ?o }"}, headers=JSON, timeout=30)
    assert after.status_code == 200 and after.json()["boolean"] is True


# --- 4. reading the text costs linear time ------------------------------------------------------


def test_the_tokenizer_payload_is_refused_without_blocking_anyone(start_server):
    server = start_server("--empty", "--workers", "2")
    payload = ('"""' + '\\"' * 50_000).encode()  # the body, 100 KB: minutes of CPU before
    answers = []

    def post():
        answers.append(requests.post(f"{server.url}/sparql", data=payload, headers=QUERY, timeout=120))

    posts = [threading.Thread(target=post) for _ in range(8)]
    for thread in posts:
        thread.start()
    # The hang guard is generous; before the fix /health did not answer for minutes.
    assert requests.get(f"{server.url}/health", timeout=20).status_code == 200
    for thread in posts:
        thread.join(timeout=120)
    assert [a.status_code for a in answers] == [400] * 8
    assert "never closed" in answers[0].text


def test_the_text_check_reads_escapes_and_strings_as_the_sparql_grammar_does():
    from yokuryu.graph.query_guard import SparqlRefused, check_sparql

    for text in ("PREFIX ex: <http://e/> SELECT * WHERE { ?a ?b ex:a\\#x SERVICE <http://x/> {} }",
                 "PREFIX ex: <http://e/> SELECT * WHERE { ?a ?b ex:a\\'x SERVICE <http://x/> {} }",
                 "SELECT * WHERE { ?a ?b '''it''s''' SERVICE <http://x/> {} }"):
        with pytest.raises(SparqlRefused) as refused:
            check_sparql(text)
        assert refused.value.status == 403
    facts = check_sparql('SELECT * WHERE { ?s ?p "SERVICE \\" LOAD" } # SERVICE')
    assert not facts.names_dataset
    assert check_sparql("SELECT * FROM <urn:g> WHERE { ?s ?p ?o }").names_dataset


# --- 6. nobody is starved ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_on_disk_runaway_queries_do_not_starve_later_requests(start_server, tmp_path):
    server = start_server("--empty", "--store", tmp_path / "store", "--allow-anonymous-updates",
                          "--timeout", "2", "--workers", "2")
    fill(server)
    statuses = []

    def runaway():
        statuses.append(requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=120).status_code)

    runaways = [threading.Thread(target=runaway) for _ in range(8)]
    for thread in runaways:
        thread.start()
    for thread in runaways:
        thread.join(timeout=120)
    assert statuses == [503] * 8
    # Every runaway was killed with its process: the next query is answered, not refused.
    response = requests.get(f"{server.url}/sparql", params={"query": "ASK { <urn:s:1> <urn:p:v> 1 }"},
                            headers=JSON, timeout=30)
    assert response.status_code == 200 and response.json()["boolean"] is True


def test_idle_half_open_connections_do_not_lock_out_health(start_server):
    server = start_server("--empty")
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    idle = []
    try:
        for _ in range(105):
            connection = socket.create_connection((host, int(port)), timeout=10)
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")  # never finished
            idle.append(connection)
        assert requests.get(f"{server.url}/health", timeout=20).status_code == 200
    finally:
        for connection in idle:
            connection.close()


# --- 9. smaller ones ---------------------------------------------------------------------------------------


def test_from_is_honoured_in_knowledge_graph_mode(server):
    ontology = "https://w3id.org/yokuryu/graph/ontology"
    count = "SELECT (COUNT(*) AS ?n) {} WHERE {{ ?s ?p ?o }}"
    everything = requests.get(f"{server.url}/sparql", params={"query": count.format("")}, headers=JSON, timeout=30)
    only = requests.get(f"{server.url}/sparql", params={"query": count.format(f"FROM <{ontology}>")},
                        headers=JSON, timeout=30)
    direct = requests.get(f"{server.url}/sparql", headers=JSON, timeout=30, params={
        "query": f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{ontology}> {{ ?s ?p ?o }} }}"})
    total, in_ontology = int(select_values(everything, "n")[0]), int(select_values(only, "n")[0])
    assert 0 < in_ontology < total
    assert in_ontology == int(select_values(direct, "n")[0])


def test_a_10_mb_body_is_answered_413_not_reset(server):
    response = requests.post(f"{server.url}/sparql", data=b"#" * 10_000_000, headers=QUERY, timeout=60)
    assert response.status_code == 413
    assert "--max-body-bytes" in response.text


def test_an_on_disk_store_is_queried_in_processes_whatever_its_literals(start_server, tmp_path):
    # The query processes open a checkpoint of the store, no dump: a literal over pyoxigraph's
    # 16 MiB N-Quads line limit (which once sent such a store to threads) is no obstacle.
    import pyoxigraph as ox

    store = ox.Store(str(tmp_path / "store"))
    store.add(ox.Quad(ox.NamedNode("urn:s"), ox.NamedNode("urn:p"), ox.Literal("x" * 17_000_000)))
    store.flush()
    del store
    server = start_server("--empty", "--store", tmp_path / "store")
    assert any("queries in killable processes" in line for line in server.output)
    response = requests.get(f"{server.url}/sparql", headers=JSON, timeout=60,
                            params={"query": "SELECT (STRLEN(?o) AS ?n) WHERE { <urn:s> <urn:p> ?o }"})
    assert select_values(response, "n") == ["17000000"]


def test_an_on_disk_store_whose_checkpoint_cannot_be_made_is_still_served(start_server, tmp_path):
    # A file where the checkpoints' folder goes: the store is served with queries in threads,
    # and the operator is told why.
    import pyoxigraph as ox

    store = ox.Store(str(tmp_path / "store"))
    store.add(ox.Quad(ox.NamedNode("urn:s"), ox.NamedNode("urn:p"), ox.Literal("x")))
    store.flush()
    del store
    (tmp_path / "store" / "query-snapshots").write_text("not a folder")
    server = start_server("--empty", "--store", tmp_path / "store")
    assert any("queries in threads" in line for line in server.output)
    assert any("could not open a checkpoint of the store" in line for line in server.output)
    response = requests.get(f"{server.url}/sparql", headers=JSON, timeout=60,
                            params={"query": "SELECT ?o WHERE { <urn:s> <urn:p> ?o }"})
    assert select_values(response, "o") == ["x"]


@pytest.mark.slow
def test_an_update_whose_where_runs_away_is_stopped_in_a_query_process(start_server):
    """An INSERT … WHERE over a cross product was evaluated in the server process, with no limit of
    time or memory (7 GB in two minutes over the bundled graph's 4,447 quads). Its WHERE is now
    counted first in a query process, under --timeout and --query-memory (on disk: the next test)."""
    server = start_server("--empty", "--allow-anonymous-updates", "--timeout", "3", "--query-memory", "256")
    data = " ".join(f"<urn:s:{i}> <urn:p> {i} ." for i in range(2000))
    update = {"Content-Type": "application/sparql-update"}
    assert requests.post(f"{server.url}/sparql", data=f"INSERT DATA {{ {data} }}", headers=update,
                         timeout=60).status_code == 200
    runaway = "INSERT { GRAPH <urn:g:x> { ?a <urn:q> ?i } } WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    answer = requests.post(f"{server.url}/sparql", data=runaway, headers=update, timeout=120)
    assert answer.status_code == 503, answer.text
    assert "3 s limit" in answer.text or "256 MiB" in answer.text, answer.text
    assert not requests.get(f"{server.url}/sparql", params={"query": "ASK { GRAPH <urn:g:x> { ?s ?p ?o } }"},
                            headers=JSON, timeout=30).json()["boolean"], "nothing of it was applied"
    alive(server, [server.process.pid])
    # An update with a WHERE that fits goes through as before, its effect visible.
    fits = "INSERT { GRAPH <urn:g:y> { ?s <urn:q> ?o } } WHERE { ?s <urn:p> ?o FILTER(?o < 3) }"
    assert requests.post(f"{server.url}/sparql", data=fits, headers=update, timeout=60).status_code == 200
    seen = requests.get(f"{server.url}/sparql", headers=JSON, timeout=30,
                        params={"query": "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <urn:g:y> { ?s ?p ?o } }"})
    assert seen.json()["results"]["bindings"][0]["n"]["value"] == "3"


@pytest.mark.slow
def test_an_update_whose_where_runs_away_is_stopped_on_disk_too(start_server, tmp_path):
    """On disk the query processes read a read-only checkpoint, where no update can be tried: each
    DELETE/INSERT … WHERE's solutions are counted there instead, read as the update reads them
    (USING as FROM, WITH as its graph, DELETE WHERE's pattern), under --timeout and --query-memory."""
    server = start_server("--empty", "--store", tmp_path / "store", "--allow-anonymous-updates",
                          "--timeout", "3", "--query-memory", "256", "--max-write-quads", "5000")
    data = " ".join(f"<urn:s:{i}> <urn:p> {i} ." for i in range(2000))
    update = {"Content-Type": "application/sparql-update"}

    def post(text: str) -> requests.Response:
        return requests.post(f"{server.url}/sparql", data=text, headers=update, timeout=120)

    def count(pattern: str) -> int:
        seen = requests.get(f"{server.url}/sparql", headers=JSON, timeout=30,
                            params={"query": f"SELECT (COUNT(*) AS ?n) WHERE {{ {pattern} }}"})
        return int(seen.json()["results"]["bindings"][0]["n"]["value"])

    assert post(f"INSERT DATA {{ {data} GRAPH <urn:g:d> {{ {data} }} }}").status_code == 200
    cross = "{ ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    for runaway in (f"INSERT {{ GRAPH <urn:g:x> {{ ?a <urn:q> ?i }} }} WHERE {cross}",
                    f"DELETE WHERE {cross}",
                    f"INSERT {{ GRAPH <urn:g:x> {{ ?a <urn:q> ?i }} }} USING <urn:g:d> WHERE {cross}",
                    f"PREFIX g: <urn:g:> WITH g:d DELETE {{ ?a ?b ?c }} INSERT {{ ?a <urn:q> ?i }} WHERE {cross}",
                    f"INSERT DATA {{ <urn:s:a> <urn:p> 1 }} ; INSERT {{ GRAPH <urn:g:x> {{ ?a <urn:q> ?i }} }} WHERE {cross}"):
        answer = post(runaway)
        assert answer.status_code == 503, (runaway, answer.text)
        assert "3 s limit" in answer.text or "256 MiB" in answer.text, answer.text
    assert count("GRAPH <urn:g:x> { ?s ?p ?o }") == 0, "nothing of them was applied"
    assert count("?s ?p ?o") == 2000 and count("GRAPH <urn:g:d> { ?s ?p ?o }") == 2000
    assert count("<urn:s:a> ?p ?o") == 0, "not even an operation before the runaway"
    alive(server, [server.process.pid])
    # The same cross product over an empty USING or WITH graph is no runaway: the dataset is the update's.
    assert post(f"INSERT {{ GRAPH <urn:g:x> {{ ?a <urn:q> ?i }} }} USING <urn:g:none> WHERE {cross}").status_code == 200
    assert post(f"WITH <urn:g:none> INSERT {{ ?a <urn:q> ?i }} WHERE {cross}").status_code == 200
    # Updates whose WHERE fits go through, with their effect.
    fits = "INSERT { GRAPH <urn:g:y> { ?s <urn:q> ?o } } USING <urn:g:d> WHERE { ?s <urn:p> ?o FILTER(?o < 3) }"
    assert post(fits).status_code == 200
    assert count("GRAPH <urn:g:y> { ?s ?p ?o }") == 3
    assert post("WITH <urn:g:d> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o FILTER(?o < 2) }").status_code == 200
    assert count("GRAPH <urn:g:d> { ?s ?p ?o }") == 1998
    assert post("PREFIX s: <urn:s:> DELETE WHERE { s:5 <urn:p> ?o }").status_code == 200
    assert count("?s ?p ?o") == 1999
    # A WHERE that finishes in time but has more solutions than one write may add quads (its INSERT
    # template is written for each) is refused with the limit's name; deleting as many is not.
    wide = "INSERT { GRAPH <urn:g:z> { ?s <urn:q> ?t } } WHERE { ?s <urn:p> ?o . GRAPH <urn:g:d> { ?t <urn:p> 7 } } ; " \
        "INSERT { GRAPH <urn:g:z> { ?s <urn:r> ?o } } USING <urn:g:d> USING <urn:g:none> WHERE { ?s ?p ?o . ?t ?p 9 }"
    refused = post(wide.replace("?t <urn:p> 7", "?t <urn:p> ?u FILTER(?u < 5)"))
    assert refused.status_code == 413 and "--max-write-quads" in refused.text and "5997 solutions" in refused.text, \
        refused.text
    assert count("GRAPH <urn:g:z> { ?s ?p ?o }") == 0
    assert post(wide).status_code == 200
    assert count("GRAPH <urn:g:z> { ?s ?p ?o }") == 1999 + 1998
    assert post("DELETE { ?s ?p ?o } WHERE { ?s ?p ?o . ?t <urn:p> ?u FILTER(?u < 4) }").status_code == 200
    assert count("?s ?p ?o") == 0
