"""Writes checked on the remote server itself: the change staged in temporary graphs there, the
compiled shapes and reasoner run over them as SPARQL, one update to commit, no copy of the data
in Yokuryū. Against a real ``oxigraph serve`` (the fixtures of ``test_remote.py``)."""
from __future__ import annotations

import pyoxigraph as ox
import pytest

from conftest import ServerProcess, run_cli
from test_remote import FOAF_AGENT, INFERRED, RES, TOKEN, USER_GRAPH, Oxigraph, RecordingProxy, write
from test_write_sequences import PREFIXES, Writer

pytestmark = pytest.mark.slow

STAGING = "https://w3id.org/yokuryu/graph/reasoner/staging/"
GENERATION = "https://w3id.org/yokuryu/graph/reasoner/generation"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    server = Oxigraph(tmp_path_factory.mktemp("oxigraph-writes"))
    built = run_cli("build", *server.remote_args())
    assert built.returncode == 0, built.stderr.decode()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def yokuryu(upstream):
    server = ServerProcess(*upstream.remote_args(), "--update-token", TOKEN, "--timeout", "30")
    yield server
    server.stop()


def staging_graphs(upstream) -> list[str]:
    return [row["g"]["value"] for row in upstream.select(
        f'SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ }} FILTER(STRSTARTS(STR(?g), "{STAGING}")) }}')]


def remote_store(upstream):
    from yokuryu.graph.remote import RemoteEngine, RemoteKnowledgeStore

    return RemoteKnowledgeStore(RemoteEngine(f"{upstream.url}/query", f"{upstream.url}/update", timeout=60))


def upstream_quads(upstream) -> set[ox.Quad]:
    from yokuryu.graph.remote import RemoteEngine

    engine = RemoteEngine(f"{upstream.url}/query", timeout=60)
    return {ox.Quad(r["s"], r["p"], r["o"], r["g"]) for r in engine.select(
        "SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }") if r["g"].value != GENERATION}


def test_a_valid_write_lands_with_its_inferences_and_leaves_no_staging_graph(yokuryu, upstream):
    update = (f"INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <{RES}staged-group> a yk:GroupOfPeople ; "
              'rdfs:label "staged group"@en } }')
    response = write(yokuryu, update)
    assert response.status_code == 200, response.text
    assert upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ <{RES}staged-group> a <{FOAF_AGENT}> }} }}")
    assert staging_graphs(upstream) == []


def test_a_shape_breaking_write_is_refused_absent_upstream_and_its_staging_dropped(yokuryu, upstream):
    response = write(yokuryu, f"INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <{RES}staged-unsigned> a yk:Treaty }} }}")
    assert response.status_code == 422, response.text
    assert "needs the date it was signed" in response.text
    assert "staging" not in response.text  # the report names the user's graph, not the staged copy
    assert USER_GRAPH in response.text
    node = f"<{RES}staged-unsigned>"
    assert not upstream.ask(f"ASK {{ {{ {node} ?p ?o }} UNION {{ ?s ?p {node} }} }}")
    assert staging_graphs(upstream) == []


def test_a_write_whose_inference_breaks_a_shape_is_refused(yokuryu, upstream):
    # Nothing says this is an instrument, but yk:signedOn's domain does, and an instrument needs a label.
    response = write(yokuryu, f'INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <{RES}staged-dated> '
                              'yk:signedOn "1945-08-08"^^xsd:date } }')
    assert response.status_code == 422, response.text
    assert "needs a label" in response.text
    assert not upstream.ask(f"ASK {{ <{RES}staged-dated> ?p ?o }}")
    # yk:signedOn is functional: a second date for the pact contradicts the ontology once reasoned over.
    pact = f"{RES}soviet-japanese-neutrality-pact"
    clash = write(yokuryu, f'INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <{pact}> yk:signedOn "1999-01-01"^^xsd:date }} }}')
    assert clash.status_code == 422, clash.text
    assert not upstream.ask(f'ASK {{ <{pact}> ?p "1999-01-01"^^<http://www.w3.org/2001/XMLSchema#date> }}')
    assert staging_graphs(upstream) == []


def test_the_check_makes_no_working_copy(upstream, monkeypatch):
    """Through the Python API: the write is checked without a local copy of the server's data."""
    from yokuryu.graph import fast
    from yokuryu.graph.remote import RemoteChecker
    from yokuryu.graph.transaction import update

    def refuse(*args, **kwargs):
        raise AssertionError("a working copy of the remote server was made")

    monkeypatch.setattr(fast.IncrementalState, "of", classmethod(refuse))
    store = remote_store(upstream)
    update(store, PREFIXES + f'INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <{RES}api-group> a yk:GroupOfPeople ; '
                             'rdfs:label "api group"@en } }', engine="fast")
    assert isinstance(store.incremental, RemoteChecker) and store.incremental.checks == 1
    assert upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ <{RES}api-group> a <{FOAF_AGENT}> }} }}")


def test_stale_staging_graphs_are_dropped_fresh_ones_kept(upstream):
    from yokuryu.graph.remote import RemoteEngine

    engine = RemoteEngine(f"{upstream.url}/query", f"{upstream.url}/update", timeout=60)
    stale, fresh = f"{STAGING}1000-killed/data/0", f"{STAGING}99999999999-running/data/0"
    engine.update(f"INSERT DATA {{ GRAPH <{stale}> {{ <urn:x:a> <urn:x:b> <urn:x:c> }} "
                  f"GRAPH <{fresh}> {{ <urn:x:a> <urn:x:b> <urn:x:c> }} }}")
    try:
        store = remote_store(upstream)
        assert not any(name.startswith(STAGING) for name in store.graph_names())  # not listed on pages
        store.incremental.clean_stale()
        assert staging_graphs(upstream) == [fresh]  # another Yokuryū may be checking a write with it
    finally:
        engine.update(f"DROP SILENT GRAPH <{fresh}> ; DROP SILENT GRAPH <{stale}>")


def same_writes(tmp_path, built, writes) -> list:
    """Apply each (kind, update) to a local store and to a remote server built from the same
    files; assert the same verdict, message and report, and the same quads, after each. The outcomes."""
    from yokuryu.graph import open_store
    from yokuryu.graph.transaction import WriteError, update

    server = Oxigraph(tmp_path / "oxigraph")
    seen = []
    try:
        assert run_cli("build", *server.remote_args()).returncode == 0
        local = open_store(None)
        local.load_build(built)
        remote = remote_store(server)
        assert upstream_quads(server) == set(local.oxigraph)
        for step, (kind, text) in enumerate(writes):
            outcomes = []
            for store in (local, remote):
                try:
                    update(store, text, engine="fast")
                    outcomes.append(None)
                except WriteError as error:
                    report = error.report.violations if getattr(error, "report", None) else None
                    outcomes.append((type(error), error.message, report))
            assert outcomes[0] == outcomes[1], f"step {step} ({kind}): {outcomes}"
            assert upstream_quads(server) == set(local.oxigraph), f"step {step} ({kind})"
            seen.append(outcomes[0])
        assert staging_graphs(server) == []
    finally:
        server.stop()
    return seen


@pytest.mark.parametrize("seed", [7, 2026])
def test_remote_verdicts_and_results_equal_the_local_ones(tmp_path, built, seed):
    """The seeded write sequences of test_write_sequences.py: the same verdicts, messages,
    reports and quads on the remote server as on a local store."""
    writer = Writer(seed)
    same_writes(tmp_path, built, [writer.draw() for _ in range(10)])


def test_violation_rules_follow_writes_as_locally(tmp_path, built):
    """Writes that retract a derived treaty violation and bring it back (the SHACL-AF rules'
    NOT EXISTS: an act in which a fictional character takes part is not judged), on both."""
    act = f"<{RES}soviet-invasion-of-manchuria>"
    character = "<https://example.org/test/fictional-character>"
    graph = f"<{USER_GRAPH}>"
    violation = (f"ASK {{ GRAPH <{INFERRED}> {{ ?v <https://w3id.org/yokuryu/ontology#violatingAct> {act} }} }}")
    part = f"{act} yk:participant {character} ."
    writes = [
        ("character", PREFIXES + f'INSERT DATA {{ GRAPH {graph} {{ {character} a yk:FictionalCharacter ; '
                                 f'rdfs:label "a test character"@en . {part} }} }}'),
        ("unlabelled", PREFIXES + f'DELETE DATA {{ GRAPH {graph} {{ {character} rdfs:label "a test character"@en }} }}'),
        ("out of the act", PREFIXES + f"DELETE DATA {{ GRAPH {graph} {{ {part} }} }}"),
        ("back in the act", PREFIXES + f"INSERT DATA {{ GRAPH {graph} {{ {part} }} }}"),
        ("character gone", PREFIXES + f'DELETE DATA {{ GRAPH {graph} {{ {character} a yk:FictionalCharacter ; '
                                      f'rdfs:label "a test character"@en . {part} }} }}'),
    ]
    from yokuryu.graph import open_store
    from yokuryu.graph.transaction import update

    local = open_store(None)
    local.load_build(built)
    judged = []
    for _, text in writes:
        try:
            update(local, text, engine="fast")
        except Exception:  # noqa: BLE001 - only the local answers, to know the sequence is a real test
            pass
        judged.append(bool(local.oxigraph.query(violation)))
    assert judged == [False, False, True, False, True], judged  # retracted and derived again
    outcomes = same_writes(tmp_path, built, writes)
    assert outcomes[1] is not None and outcomes[0] is None  # the unlabelled character was refused


def test_a_write_reads_back_little_of_a_larger_server_from_the_first_one(tmp_path):
    """Over the 10k registry: every write, the first included, costs requests and bytes bounded by
    the change and the compiled rules, not by the server's data (no copy is made)."""
    import subprocess
    import sys
    from pathlib import Path

    import requests

    from test_remote import group_insert

    registry = tmp_path / "10k.ttl"
    subprocess.run([sys.executable, str(Path(__file__).parent.parent / "bench" / "registry.py"), "--size", "10k",
                    "--seed", "1", "-o", registry], check=True, stdout=subprocess.DEVNULL)
    large = Oxigraph(tmp_path / "oxigraph-10k")
    proxy = RecordingProxy(large.url)
    server = None
    try:
        assert run_cli("build", *large.remote_args(), registry).returncode == 0
        server = ServerProcess(*proxy.remote_args(), "--update-token", TOKEN, "--timeout", "60")
        dump = requests.post(f"{large.url}/query", data={"query": "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }"},
                             headers={"Accept": "application/n-triples"}, timeout=120)
        counts = []
        for name in ("staged-first-group", "staged-second-group"):
            proxy.reset()
            response = write(server, group_insert(name))
            assert response.status_code == 200, response.text
            assert proxy.answered_bytes * 100 < len(dump.content), (proxy.answered_bytes, len(dump.content))
            counts.append(proxy.requests)
        assert max(counts) < 120, counts
        assert staging_graphs(large) == []
    finally:
        if server is not None:
            server.stop()
        proxy.stop()
        large.stop()


def test_a_write_checked_while_another_commits_is_refused_whole(upstream):
    """Another writer commits between this write's check and its commit: the commit request is
    conditional on the generation the check saw, so the server applies none of it."""
    from yokuryu.graph.remote import RemoteConflict, RemoteEngine, generation_update
    from yokuryu.graph.transaction import update

    store = remote_store(upstream)
    checker = store.incremental
    checked = checker.try_change

    def meanwhile_another_writer(removed, added, locate=None):
        answer = checked(removed, added, locate)
        RemoteEngine(f"{upstream.url}/query", f"{upstream.url}/update").update(generation_update("another-writer"))
        return answer

    checker.try_change = meanwhile_another_writer
    node = f"<{RES}raced-group>"
    with pytest.raises(RemoteConflict, match="send the write again"):
        update(store, PREFIXES + f'INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ {node} a yk:GroupOfPeople ; '
                                 'rdfs:label "raced group"@en } }', engine="fast")
    assert not upstream.ask(f"ASK {{ {{ {node} ?p ?o }} UNION {{ ?s ?p {node} }} }}")
    assert upstream.select(f"SELECT ?v WHERE {{ GRAPH <{GENERATION}> {{ ?g ?p ?v }} }}")[0]["v"]["value"] \
        == "another-writer"
    checker.try_change = checked
    update(store, PREFIXES + f'INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ {node} a yk:GroupOfPeople ; '
                             'rdfs:label "raced group"@en } }', engine="fast")  # sent again: applied
    assert upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ {node} a <{FOAF_AGENT}> }} }}")


def test_checks_touch_only_the_staging_graphs_until_the_commit(upstream):
    """A write is checked in staging graphs (overlays for one that only adds, server-side copies
    for one that removes): until its commit the server's real graphs are as they were, whether
    the write is then applied or refused."""
    from yokuryu.graph.transaction import RefusedWrite, update

    store = remote_store(upstream)
    at_commit = []
    commit = store.generations.commit

    def spying(text):
        at_commit.append({q for q in upstream_quads(upstream) if not q.graph_name.value.startswith(STAGING)})
        commit(text)

    store.generations.commit = spying
    before = upstream_quads(upstream)
    note = f'<{RES}soviet-japanese-neutrality-pact> rdfs:comment "a note to remove" .'
    overlay = f'<{RES}overlay-mode-group> a yk:GroupOfPeople ; rdfs:label "overlay mode group"@en .'
    update(store, PREFIXES + f"INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ {note} {overlay} }} }}", engine="fast")
    assert at_commit == [before]  # the derived types went to the staged overlay only
    assert store.incremental.last_mode == "overlay"
    assert upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ <{RES}overlay-mode-group> a <{FOAF_AGENT}> }} }}")
    at_commit.clear()
    before = upstream_quads(upstream)
    group = f'<{RES}copy-mode-group> a yk:GroupOfPeople ; rdfs:label "copy mode group"@en .'
    update(store, PREFIXES + f"DELETE DATA {{ GRAPH <{USER_GRAPH}> {{ {note} }} }} ;\n"
                             f"INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ {group} }} }}", engine="fast")
    assert at_commit == [before]  # the derived types went to the staged inferred graph only
    assert store.incremental.last_mode == "hybrid"  # a comment removed retracts no inference: no copy of it
    assert upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ <{RES}copy-mode-group> a <{FOAF_AGENT}> }} }}")
    after = upstream_quads(upstream)
    clash = (PREFIXES + f"DELETE DATA {{ GRAPH <{USER_GRAPH}> {{ {group} }} }} ;\n"
             f'INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <{RES}soviet-japanese-neutrality-pact> yk:signedOn '
             '"1999-01-01"^^<http://www.w3.org/2001/XMLSchema#date> } }')
    with pytest.raises(RefusedWrite):
        update(store, clash, engine="fast")
    assert upstream_quads(upstream) == after
    # Removing the group retracts its inferred types: delete-and-rederive reads the facts without
    # them, so the inferred graph is overlaid, never copied.
    at_commit.clear()
    sent = []
    send = store.engine.update
    store.engine.update = lambda text: (sent.append(text), send(text))[1]
    update(store, PREFIXES + f"DELETE DATA {{ GRAPH <{USER_GRAPH}> {{ {group} }} }}", engine="fast")
    store.engine.update = send
    assert store.incremental.last_mode == "hybrid"
    assert sent and not [text for text in sent if f"<{INFERRED}> TO" in text]
    assert at_commit == [after]
    assert not upstream.ask(f"ASK {{ GRAPH <{INFERRED}> {{ <{RES}copy-mode-group> ?p ?o }} }}")
    assert staging_graphs(upstream) == []


def test_no_query_through_yokuryu_sees_a_write_while_it_is_checked(upstream):
    """A check held in progress (its staging graphs written on the server, the next request held
    by a proxy): the staged triples are in the server's union default graph, but no query through
    Yokuryū sees them, whatever dataset it asks for; once the check ends the write is there."""
    import threading

    import requests

    from test_remote import RecordingProxy

    proxy = RecordingProxy(upstream.url)
    server = ServerProcess(*proxy.remote_args(), "--update-token", TOKEN, "--timeout", "60")
    node = f"{RES}unchecked-group"
    answers = []
    writer = threading.Thread(target=lambda: answers.append(write(server, PREFIXES + (
        f'INSERT DATA {{ GRAPH <{USER_GRAPH}> {{ <{node}> a yk:GroupOfPeople ; rdfs:label "unchecked group"@en }} }}'))))

    def through_yokuryu(query: str, **params) -> list[dict]:
        response = requests.post(f"{server.url}/sparql", data={"query": query, **params}, timeout=60,
                                 headers={"Accept": "application/sparql-results+json"})
        assert response.status_code == 200, response.text
        return response.json()["results"]["bindings"]

    try:
        proxy.hold_after_staging()
        writer.start()
        assert proxy.holding.wait(timeout=120), "the check never reached its staging graphs"
        # The write is staged on the server: a direct reader of its union default graph sees it…
        assert upstream.ask(f"ASK {{ <{node}> ?p ?o }}")
        staged = [g for g in staging_graphs(upstream)
                  if upstream.ask(f"ASK {{ GRAPH <{g}> {{ <{node}> ?p ?o }} }}")]
        assert staged, staging_graphs(upstream)
        # … no reader through Yokuryū does: the default graph, GRAPH ?g, the query's own FROM,
        # the protocol's dataset naming the staging graph, the resource's page.
        assert through_yokuryu(f"SELECT * WHERE {{ <{node}> ?p ?o }}") == []
        assert through_yokuryu(f"SELECT * WHERE {{ GRAPH ?g {{ <{node}> ?p ?o }} }}") == []
        assert through_yokuryu(f"SELECT * FROM <{staged[0]}> WHERE {{ ?s ?p ?o }}") == []
        assert through_yokuryu(f"SELECT * FROM NAMED <{staged[0]}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}") == []
        assert through_yokuryu("SELECT * WHERE { ?s ?p ?o }", **{"default-graph-uri": staged[0]}) == []
        assert through_yokuryu("SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", **{"named-graph-uri": staged[0]}) == []
        assert not [row for row in through_yokuryu("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }")
                    if "/graph/reasoner/" in row["g"]["value"]]
        assert requests.get(f"{server.url}/resource/unchecked-group", timeout=60).status_code == 404
        # The rest of the knowledge graph is read as before, and a FROM of a real graph is honoured.
        assert through_yokuryu(f"SELECT * WHERE {{ <{RES}soviet-japanese-neutrality-pact> a yk:Treaty }}") == [{}]
        count = f"SELECT (COUNT(*) AS ?n) FROM ykg:ontology WHERE {{ ?s ?p ?o }}"
        assert through_yokuryu(count)[0]["n"]["value"] == upstream.select(
            "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <https://w3id.org/yokuryu/graph/ontology> { ?s ?p ?o } }")[0]["n"]["value"]
    finally:
        proxy.release()
        writer.join(timeout=300)
        server_answers = list(answers)
        try:
            assert server_answers and server_answers[0].status_code == 200, server_answers
            assert through_yokuryu(f"SELECT ?p WHERE {{ <{node}> ?p ?o }}")  # checked and committed: seen
        finally:
            server.stop()
            proxy.stop()
    assert staging_graphs(upstream) == []


def test_a_graph_another_yokuryu_makes_is_read_at_once(yokuryu, upstream):
    """Queries name the visible graphs, a list kept with the write generation: a graph made by
    another writer's commit (a new generation) is in the next query's dataset."""
    import requests

    from yokuryu.graph.transaction import update

    def groups() -> set[str]:
        response = requests.post(f"{yokuryu.url}/sparql", timeout=60, headers={"Accept": "application/sparql-results+json"},
                                 data={"query": "SELECT ?g WHERE { ?g a yk:GroupOfPeople }"})
        assert response.status_code == 200, response.text
        return {row["g"]["value"] for row in response.json()["results"]["bindings"]}

    before = groups()  # the list of graphs is now kept
    graph = "https://w3id.org/yokuryu/graph/user/another-yokuryu"
    update(remote_store(upstream), PREFIXES + f'INSERT DATA {{ GRAPH <{graph}> {{ <{RES}elsewhere-group> '
                                              'a yk:GroupOfPeople ; rdfs:label "elsewhere group"@en } }', engine="fast")
    assert groups() == before | {f"{RES}elsewhere-group"}
