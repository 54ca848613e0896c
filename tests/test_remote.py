"""Scaling out: build into a real ``oxigraph serve`` and serve Yokuryū over it.

The oxigraph server (PyPI ``oxigraph``) runs on a free port with an on-disk location, so it
can be killed and started again with the same data (the recovery test).
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from conftest import ServerProcess, free_port, run_cli, select_values

pytestmark = pytest.mark.slow

OXIGRAPH = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or shutil.which("oxigraph")
TOKEN = "remote-test-token"
USER_GRAPH = "https://w3id.org/yokuryu/graph/user/remote-notes"
TREATY_QUERY = "SELECT ?t WHERE { ?t a yk:Treaty } ORDER BY ?t"


class Oxigraph:
    """``oxigraph serve --union-default-graph`` on a free port, over a directory that outlives restarts."""

    def __init__(self, location: Path):
        assert OXIGRAPH, "the oxigraph command is missing (pip install -e '.[test]' installs it)"
        self.location = location
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [OXIGRAPH, "serve", "--location", str(self.location), "--bind", f"127.0.0.1:{self.port}",
             "--union-default-graph"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("oxigraph serve exited at start")
                time.sleep(0.1)
        raise RuntimeError("oxigraph serve did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def select(self, query: str) -> list[dict]:
        response = requests.post(f"{self.url}/query", data={"query": query},
                                 headers={"Accept": "application/sparql-results+json"}, timeout=30)
        response.raise_for_status()
        return response.json()["results"]["bindings"]

    def ask(self, query: str) -> bool:
        response = requests.post(f"{self.url}/query", data={"query": query},
                                 headers={"Accept": "application/sparql-results+json"}, timeout=30)
        response.raise_for_status()
        return response.json()["boolean"]

    def remote_args(self) -> list[str]:
        return ["--remote-query", f"{self.url}/query", "--remote-update", f"{self.url}/update"]


class RecordingProxy:
    """An HTTP proxy in front of the upstream that counts requests and the bytes it answers,
    and can refuse updates (the upstream failing at the moment a write commits)."""

    def __init__(self, target: str):
        self.target = target
        self.requests = 0
        self.answered_bytes = 0
        self.fail_updates = False
        # hold_after_staging(): the first query that reads a write's staging graphs, once the write
        # has staged them, waits until release() (a check in progress, as long as the test likes).
        self.hold = None
        self.holding = threading.Event()
        self._released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _forward(self, body) -> None:
                proxy.requests += 1
                if body is not None and proxy.hold is not None:
                    proxy.hold(self.path, body)
                if body is not None and self.path.startswith("/update") and proxy.fail_updates:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # the upstream dies mid-request
                    return
                request = urllib.request.Request(proxy.target + self.path, data=body, method=self.command)
                for name in ("Content-Type", "Accept", "Authorization"):
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                try:
                    with urllib.request.urlopen(request, timeout=120) as answer:
                        status, headers, data = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, headers, data = error.code, error.headers, error.read()
                proxy.answered_bytes += len(data)
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def remote_args(self) -> list[str]:
        return ["--remote-query", f"{self.url}/query", "--remote-update", f"{self.url}/update"]

    def reset(self) -> None:
        self.requests = self.answered_bytes = 0

    def hold_after_staging(self) -> None:
        staging = urllib.parse.quote("reasoner/staging/", safe="").encode()
        state = {"staged": False}

        def hold(path: str, body: bytes) -> None:
            if staging not in body:
                return
            if path.startswith("/update"):
                state["staged"] = True
            elif state["staged"] and not self.holding.is_set():
                self.holding.set()
                self._released.wait(timeout=120)

        self._released.clear()
        self.holding.clear()
        self.hold = hold

    def release(self) -> None:
        self.hold = None
        self._released.set()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write(server, update: str) -> requests.Response:
    return requests.post(f"{server.url}/sparql", data=update.encode(), timeout=300, headers={
        "Content-Type": "application/sparql-update", "Authorization": f"Bearer {TOKEN}"})


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    server = Oxigraph(tmp_path_factory.mktemp("oxigraph"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def built_upstream(upstream):
    result = run_cli("build", *upstream.remote_args())
    assert result.returncode == 0, result.stderr.decode()
    return upstream


@pytest.fixture(scope="module")
def yokuryu(built_upstream):
    server = ServerProcess(*built_upstream.remote_args(), "--update-token", TOKEN, "--timeout", "10")
    yield server
    server.stop()


def test_build_loads_every_graph_and_is_idempotent(built_upstream):
    def counts():
        rows = built_upstream.select("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
        return {row["g"]["value"]: int(row["n"]["value"]) for row in rows}

    first = counts()
    for graph in ("ontology", "inferred", "metadata", "external"):
        assert first.get(f"https://w3id.org/yokuryu/graph/{graph}", 0) > 0, graph
    # A second build, this time through the Graph Store Protocol, replaces each graph: same counts.
    again = run_cli("build", "--remote-query", f"{built_upstream.url}/query",
                    "--remote-store", f"{built_upstream.url}/store")
    assert again.returncode == 0, again.stderr.decode()
    assert "Graph Store Protocol" in again.stdout.decode()
    assert counts() == first


def test_query_through_yokuryu_with_its_formats_and_prefixes(yokuryu, built_upstream):
    response = requests.get(f"{yokuryu.url}/sparql", params={"query": TREATY_QUERY},
                            headers={"Accept": "application/sparql-results+json"}, timeout=30)
    assert response.status_code == 200
    treaties = select_values(response, "t")
    upstream_treaties = [row["t"]["value"] for row in built_upstream.select(
        "SELECT ?t WHERE { ?t a <https://w3id.org/yokuryu/ontology#Treaty> } ORDER BY ?t")]
    assert treaties and treaties == upstream_treaties

    csv = requests.get(f"{yokuryu.url}/sparql", params={"query": TREATY_QUERY, "format": "csv"}, timeout=30)
    assert csv.headers["Content-Type"].startswith("text/csv") and csv.text.splitlines()[0] == "t"

    graph = requests.get(f"{yokuryu.url}/sparql", params={"query": "CONSTRUCT WHERE { ?t a yk:Treaty }"},
                         headers={"Accept": "text/turtle"}, timeout=30)
    assert graph.status_code == 200 and graph.headers["Content-Type"].startswith("text/turtle")

    bad = requests.get(f"{yokuryu.url}/sparql", params={"query": "SELECT * WHERE { ?s ?p "}, timeout=30)
    assert bad.status_code == 400 and "syntax" in bad.text
    refused = requests.get(f"{yokuryu.url}/sparql", params={"query": TREATY_QUERY},
                           headers={"Accept": "text/turtle"}, timeout=30)
    assert refused.status_code == 406


def test_pages_and_ui_are_served_over_the_remote_server(yokuryu):
    home = requests.get(f"{yokuryu.url}/", timeout=60)
    assert home.status_code == 200 and "inferred" in home.text
    page = requests.get(f"{yokuryu.url}/resource/soviet-japanese-neutrality-pact",
                        headers={"Accept": "text/html"}, timeout=60)
    assert page.status_code == 200 and "Neutrality" in page.text
    void = requests.get(f"{yokuryu.url}/.well-known/void", headers={"Accept": "text/turtle"}, timeout=60)
    assert void.status_code == 200 and "void:" in void.text
    health = requests.get(f"{yokuryu.url}/health", timeout=30).json()
    assert health["quads"] > 1000


def test_invalid_write_is_refused_and_never_reaches_the_remote_server(yokuryu, built_upstream):
    update = f"INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <https://w3id.org/yokuryu/resource/unsigned> a yk:Treaty }} }}"
    response = requests.post(f"{yokuryu.url}/sparql", data=update.encode(), timeout=120, headers={
        "Content-Type": "application/sparql-update", "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422, response.text
    assert not built_upstream.ask("ASK { <https://w3id.org/yokuryu/resource/unsigned> ?p ?o }")
    unauthorised = requests.post(f"{yokuryu.url}/sparql", data=update.encode(), timeout=30,
                                 headers={"Content-Type": "application/sparql-update"})
    assert unauthorised.status_code == 401


def test_valid_write_reaches_the_remote_server_with_its_inferences(yokuryu, built_upstream):
    subject = "https://w3id.org/yokuryu/resource/soviet-japanese-neutrality-pact"
    update = f'INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <{subject}> rdfs:comment "checked by a remote test" }} }}'
    response = requests.post(f"{yokuryu.url}/sparql", data=update.encode(), timeout=120, headers={
        "Content-Type": "application/sparql-update", "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    rows = built_upstream.select(f"SELECT ?c WHERE {{ GRAPH <{USER_GRAPH}> {{ <{subject}> "
                                 "<http://www.w3.org/2000/01/rdf-schema#comment> ?c } }")
    assert [row["c"]["value"] for row in rows] == ["checked by a remote test"]
    # Read-your-writes through Yokuryū too.
    seen = requests.get(f"{yokuryu.url}/sparql", params={
        "query": f"SELECT ?c WHERE {{ <{subject}> rdfs:comment ?c }}"},
        headers={"Accept": "application/sparql-results+json"}, timeout=30)
    assert "checked by a remote test" in select_values(seen, "c")


def test_upstream_down_is_502_and_service_recovers(yokuryu, built_upstream):
    built_upstream.stop()
    try:
        down = requests.get(f"{yokuryu.url}/sparql", params={"query": TREATY_QUERY}, timeout=30,
                            headers={"Accept": "application/sparql-results+json"})
        assert down.status_code == 502 and "127.0.0.1" in down.text
        assert requests.get(f"{yokuryu.url}/", timeout=30).status_code == 502
    finally:
        built_upstream.start()
    back = requests.get(f"{yokuryu.url}/sparql", params={"query": TREATY_QUERY}, timeout=30,
                        headers={"Accept": "application/sparql-results+json"})
    assert back.status_code == 200 and select_values(back, "t")


def test_upstream_that_never_answers_is_504(built_upstream):
    # A server that accepts the connection and then says nothing.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        from yokuryu.graph.remote import RemoteEngine, RemoteKnowledgeStore
        from yokuryu.server import create_app
        from yokuryu.server.config import ServerConfig
        from yokuryu.server.remote_executor import RemoteQueryExecutor

        engine = RemoteEngine(f"http://127.0.0.1:{port}/query", timeout=1.0)
        app = create_app(ServerConfig(query_timeout=1.0), RemoteKnowledgeStore(engine),
                         executor=RemoteQueryExecutor(engine))
        response = app.test_client().get("/sparql", query_string={"query": TREATY_QUERY},
                                          headers={"Accept": "application/sparql-results+json"})
        assert response.status_code == 504
        assert "did not answer within 1 s" in response.get_data(as_text=True)
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        silent.close()


def test_upstream_that_answers_a_byte_at_a_time_is_504_not_a_hang():
    """Each byte within the socket timeout, the whole never: the request's own limit still ends it."""
    dripping = socket.socket()
    dripping.bind(("127.0.0.1", 0))
    dripping.listen(16)
    port = dripping.getsockname()[1]
    stop = threading.Event()

    def serve():
        dripping.settimeout(0.2)
        while not stop.is_set():
            try:
                connection = dripping.accept()[0]
            except OSError:
                continue
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\n"
                                   b"Content-Length: 100000\r\n\r\n")
                while not stop.wait(0.3):
                    connection.sendall(b" ")
            except OSError:
                pass
            finally:
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        from yokuryu.graph.remote import RemoteEngine, RemoteKnowledgeStore
        from yokuryu.server import create_app
        from yokuryu.server.config import ServerConfig
        from yokuryu.server.remote_executor import RemoteQueryExecutor

        engine = RemoteEngine(f"http://127.0.0.1:{port}/query", timeout=1.0)
        app = create_app(ServerConfig(query_timeout=1.0), RemoteKnowledgeStore(engine),
                         executor=RemoteQueryExecutor(engine, knowledge_graph=False))
        answered = {}
        asking = threading.Thread(target=lambda: answered.update(response=app.test_client().get(
            "/sparql", query_string={"query": "ASK {}"}, headers={"Accept": "application/sparql-results+json"})),
            daemon=True)
        asking.start()
        asking.join(30)  # a hang guard, far above the 1 s limit
        assert "response" in answered, "the request hung on an upstream that never finishes its answer"
        response = answered["response"]
        assert response.status_code == 504, response.get_data(as_text=True)
        assert "did not answer within 1 s" in response.get_data(as_text=True)
    finally:
        stop.set()
        thread.join()
        dripping.close()


def test_serve_refuses_a_remote_server_without_a_build(tmp_path):
    empty = Oxigraph(tmp_path / "empty")
    try:
        result = run_cli("serve", "--port", "0", *empty.remote_args(), timeout=60)
        assert result.returncode == 1
        assert b"holds no Yokuryu" in result.stderr.replace("ū".encode(), b"u") and b"yokuryu build" in result.stderr
    finally:
        empty.stop()


def test_compiled_validation_runs_unchanged_on_the_remote_server(built_upstream, tmp_path):
    """The shapes compiled to SPARQL give the same results through RemoteEngine as on a local copy."""
    import pyoxigraph as ox

    from yokuryu.graph.remote import RemoteEngine
    from yokuryu.graph.shacl_sparql import CompiledShapes
    from yokuryu.graph.sparql_engine import LocalEngine
    from yokuryu.ontology import load_ontology
    from yokuryu.shapes import load_shapes

    remote = RemoteEngine(f"{built_upstream.url}/query", f"{built_upstream.url}/update", timeout=120)
    broken = "https://w3id.org/yokuryu/graph/user/remote-broken"
    remote.update(f"INSERT DATA {{ GRAPH <{broken}> {{ <https://w3id.org/yokuryu/resource/unsigned-remote> "
                  "a <https://w3id.org/yokuryu/ontology#Treaty> } }")
    try:
        local = ox.Store()
        local.extend(q for q in remote.select("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
                     for q in [ox.Quad(q["s"], q["p"], q["o"], q["g"])])
        compiled = CompiledShapes.compile(load_shapes(), load_ontology())

        def found(engine) -> set:
            return {(str(r.focus), r.component, r.severity) for r in compiled.validate(engine).results}

        on_remote = found(remote)
        assert any("unsigned-remote" in focus for focus, _, _ in on_remote)
        assert on_remote == found(LocalEngine(local))
    finally:
        remote.update(f"DROP SILENT GRAPH <{broken}>")


RES = "https://w3id.org/yokuryu/resource/"
INFERRED = "https://w3id.org/yokuryu/graph/inferred"
FOAF_AGENT = "http://xmlns.com/foaf/0.1/Agent"


def group_insert(name: str, graph: str = USER_GRAPH) -> str:
    return (f"INSERT DATA {{ GRAPH <{graph}> {{ <{RES}{name}> a yk:GroupOfPeople ; "
            f'rdfs:label "{name}"@en }} }}')


def test_a_valid_write_brings_its_inferences_to_the_remote_server(yokuryu, built_upstream):
    response = write(yokuryu, group_insert("remote-inference-group"))
    assert response.status_code == 200, response.text
    # yk:GroupOfPeople is a foaf:Group, so a foaf:Agent: the inferred graph upstream says so.
    assert built_upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ <{RES}remote-inference-group> a <{FOAF_AGENT}> }} }}")


def test_an_upstream_failing_at_commit_is_502_and_nothing_is_half_applied(built_upstream):
    proxy = RecordingProxy(built_upstream.url)
    server = ServerProcess(*proxy.remote_args(), "--update-token", TOKEN, "--timeout", "30")
    try:
        assert write(server, group_insert("remote-warm-up")).status_code == 200
        proxy.fail_updates = True
        failed = write(server, group_insert("remote-failed-group"))
        assert failed.status_code == 502, failed.text
        node = f"<{RES}remote-failed-group>"
        assert not built_upstream.ask(f"ASK {{ {{ {node} ?p ?o }} UNION {{ GRAPH ?g {{ {node} ?p ?o }} }} }}")
        # The upstream is back: the same write goes through whole, with its inferences.
        proxy.fail_updates = False
        again = write(server, group_insert("remote-failed-group"))
        assert again.status_code == 200, again.text
        assert built_upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ {node} a <{FOAF_AGENT}> }} }}")
        assert built_upstream.ask(f"ASK {{ GRAPH <{USER_GRAPH}> {{ {node} a ?c }} }}")
    finally:
        server.stop()
        proxy.stop()


def test_a_write_by_another_yokuryu_is_seen_before_the_next_check(built_upstream):
    """Two servers over one remote server: each one's next write is checked against the other's."""
    first = ServerProcess(*built_upstream.remote_args(), "--update-token", TOKEN, "--timeout", "30")
    second = ServerProcess(*built_upstream.remote_args(), "--update-token", TOKEN, "--timeout", "30")
    try:
        assert write(first, group_insert("remote-group-of-first")).status_code == 200  # first has its copy now
        assert write(second, group_insert("remote-group-of-second")).status_code == 200
        # A group needs its label: the first server must know the second's group to refuse this.
        label = f'DELETE DATA {{ GRAPH <{USER_GRAPH}> {{ <{RES}remote-group-of-second> rdfs:label "remote-group-of-second"@en }} }}'
        refused = write(first, label)
        assert refused.status_code == 422, refused.text
        assert built_upstream.ask(f'ASK {{ GRAPH <{USER_GRAPH}> {{ <{RES}remote-group-of-second> ?p "remote-group-of-second"@en }} }}')
    finally:
        first.stop()
        second.stop()


def test_a_larger_write_asks_about_its_quads_in_a_few_requests(built_upstream):
    proxy = RecordingProxy(built_upstream.url)
    server = ServerProcess(*proxy.remote_args(), "--update-token", TOKEN, "--timeout", "60")
    try:
        proxy.reset()
        assert write(server, group_insert("remote-batch-warm-up")).status_code == 200
        one = proxy.requests
        groups = " ".join(f'<{RES}remote-batch-{i}> a yk:GroupOfPeople ; rdfs:label "remote batch {i}"@en .'
                          for i in range(200))
        proxy.reset()
        response = write(server, f"INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ {groups} }} }}")
        assert response.status_code == 200, response.text
        # As many requests as a one-group write (the compiled rules' queries), not one per quad.
        assert proxy.requests <= one + 5, (proxy.requests, one)
        assert built_upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ <{RES}remote-batch-199> a <{FOAF_AGENT}> }} }}")
    finally:
        server.stop()
        proxy.stop()
