"""Durability: journalled in-memory writes survive a crash; otherwise the server says they will not.
``yokuryu load`` (all or nothing) and ``yokuryu backup``."""
from __future__ import annotations

import pytest
import requests

from conftest import ServerProcess, run_cli, select_values

pytestmark = pytest.mark.slow

EX = "http://example.org/"
ASK_ALL = "SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o } ORDER BY ?o"


def write(server, update: str) -> requests.Response:
    return requests.post(f"{server.url}/sparql", data=update.encode(), timeout=60,
                         headers={"Content-Type": "application/sparql-update"})


def values(server) -> list[str]:
    response = requests.get(f"{server.url}/sparql", params={"query": ASK_ALL},
                            headers={"Accept": "application/sparql-results+json"}, timeout=60)
    assert response.status_code == 200, response.text
    return select_values(response, "o")


def crash(server: ServerProcess) -> None:
    """SIGKILL: no shutdown code runs, so only what was on disk before the answer counts."""
    server.process.kill()
    server.process.wait()
    server.process.stdout.close()


def test_journalled_writes_survive_a_crash(tmp_path):
    journal = tmp_path / "writes.journal"
    args = ("--empty", "--allow-anonymous-updates", "--journal", journal)
    first = ServerProcess(*args)
    try:
        assert "journalled" in "".join(first.output)
        for value in ("one", "two", "three"):
            answer = write(first, f'INSERT DATA {{ <{EX}s> <{EX}p> "{value}" }}')
            assert answer.status_code == 200 and "lost" not in answer.text
        assert write(first, f'DELETE DATA {{ <{EX}s> <{EX}p> "two" }}').status_code == 200
        # A blank node keeps its identity across the restart, so it can still be deleted.
        assert write(first, f'INSERT DATA {{ _:b <{EX}p> "blank" }}').status_code == 200
    finally:
        crash(first)
    second = ServerProcess(*args)
    try:
        assert "(5 replayed)" in "".join(second.output)
        assert values(second) == ["blank", "one", "three"]
        assert write(second, f"DELETE WHERE {{ ?b <{EX}p> \"blank\" }}").status_code == 200
    finally:
        second.stop()
    third = ServerProcess(*args)
    try:
        assert values(third) == ["one", "three"]
    finally:
        third.stop()


def test_unfinished_record_is_cut_and_a_foreign_journal_refused(tmp_path):
    journal = tmp_path / "writes.journal"
    args = ("--empty", "--allow-anonymous-updates", "--journal", journal)
    server = ServerProcess(*args)
    try:
        assert write(server, f'INSERT DATA {{ <{EX}s> <{EX}p> "kept" }}').status_code == 200
    finally:
        crash(server)
    with open(journal, "ab") as handle:  # a write that crashed half-way: never acknowledged
        handle.write(f'TX\nA <{EX}s> <{EX}p> "half" .\n'.encode())
    server = ServerProcess(*args)
    try:
        assert values(server) == ["kept"]
    finally:
        server.stop()
    assert not journal.read_text().rstrip().endswith('"half" .')

    foreign = tmp_path / "other.journal"
    foreign.write_text("# yokuryu journal 1 base=0123abc\n")
    refused = run_cli("serve", "--empty", "--port", "0", "--journal", foreign, timeout=60)
    assert refused.returncode == 2 and b"other starting data" in refused.stderr


def count_all(server) -> int:
    query = "SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
    response = requests.get(f"{server.url}/sparql", params={"query": query},
                            headers={"Accept": "application/sparql-results+json"}, timeout=60)
    return int(select_values(response, "n")[0])


def long_journal(path, quads: int) -> None:
    """A journal holding one write of ``quads`` quads (over 1 MiB: long enough to be compacted)."""
    with open(path, "wb") as out:
        out.write(b"# yokuryu journal 1 base=empty\nTX\n")
        for i in range(quads):
            out.write(f'A <{EX}bulk{i}> <{EX}q> "{"x" * 40} {i}" .\n'.encode())
        out.write(f'A _:kept <{EX}r> "blank in the snapshot" .\n'.encode())
        out.write(b"TC\n")


def test_a_long_journal_is_compacted_into_a_snapshot_and_every_write_survives(tmp_path):
    journal = tmp_path / "writes.journal"
    snapshot = tmp_path / "writes.journal.snapshot"
    long_journal(journal, 20_000)
    uncompacted = journal.read_bytes()
    args = ("--empty", "--allow-anonymous-updates", "--journal", journal)
    ServerProcess(*args).stop()
    assert snapshot.exists() and journal.stat().st_size < 100  # the write is in the snapshot now

    # A crash between writing the snapshot and replacing the journal leaves the new snapshot
    # beside the old, uncompacted journal: replaying it over the snapshot changes nothing.
    journal.write_bytes(uncompacted)
    first = ServerProcess(*args)
    try:
        assert "(1 replayed)" in "".join(first.output)
        assert count_all(first) == 20_001
        for value in ("one", "two"):
            assert write(first, f'INSERT DATA {{ <{EX}s> <{EX}p> "{value}" }}').status_code == 200
        assert write(first, f'INSERT DATA {{ _:b <{EX}p> "blank" }}').status_code == 200
        assert write(first, f'DELETE DATA {{ <{EX}bulk7> <{EX}q> "{"x" * 40} 7" }}').status_code == 200
        # Journalled by its label: the snapshot must give the blank node the same label at every start.
        assert write(first, f'DELETE WHERE {{ ?b <{EX}r> "blank in the snapshot" }}').status_code == 200
    finally:
        crash(first)
    with open(journal, "ab") as handle:  # a write that crashed half-way: never acknowledged
        handle.write(f'TX\nA <{EX}s> <{EX}p> "half" .\n'.encode())
    second = ServerProcess(*args)
    try:
        assert "(5 replayed)" in "".join(second.output)  # the short tail after the snapshot
        assert values(second) == ["blank", "one", "two"]
        assert count_all(second) == 20_000 - 1 + 3
        # The blank node read back from the journal is the one written: deletable.
        assert write(second, f'DELETE WHERE {{ ?b <{EX}p> "blank" }}').status_code == 200
        assert requests.get(f"{second.url}/health", timeout=10).json()["quads"] == 20_000 - 1 + 2
    finally:
        crash(second)
    third = ServerProcess(*args)
    try:
        assert values(third) == ["one", "two"]
        assert count_all(third) == 20_000 - 1 + 2
    finally:
        third.stop()


def test_writes_made_while_the_snapshot_is_written_in_the_background_all_survive(tmp_path):
    """The compaction runs in a forked child while writes go on: none of them is lost, and the
    journal afterwards holds only the writes made since the snapshot was taken."""
    import pyoxigraph as ox

    from yokuryu.graph.journal import Journal, snapshot_path

    path = tmp_path / "writes.journal"
    long_journal(path, 50_000)
    store = ox.Store()
    journal, replayed = Journal.open(path, "empty", store)
    assert replayed == 1 and journal.compaction_due
    journal.compact_in_background(store)
    written = []
    for i in range(20):  # appended while the child writes the snapshot, or after the swap: both kept
        quad = ox.Quad(ox.NamedNode(f"{EX}during{i}"), ox.NamedNode(f"{EX}p"), ox.Literal(str(i)))
        store.add(quad)
        journal.append([], [quad])
        written.append(quad)
    removed = ox.Quad(ox.NamedNode(f"{EX}bulk3"), ox.NamedNode(f"{EX}q"), ox.Literal(f"{'x' * 40} 3"))
    store.remove(removed)
    journal.append([removed], [])
    journal.close()  # waits for the compaction
    assert not journal.compaction_due and snapshot_path(path).exists()
    assert path.stat().st_size < 10_000  # the bulk write is in the snapshot; the 21 writes after it are here

    restarted = ox.Store()
    again, replayed = Journal.open(path, "empty", restarted)
    again.close()
    assert replayed == 21 and not again.compaction_due
    assert set(restarted) == set(store) and len(restarted) == 50_001 - 1 + 20
    assert removed not in restarted and all(quad in restarted for quad in written)


def test_a_journal_whose_snapshot_is_missing_is_refused(tmp_path):
    journal = tmp_path / "writes.journal"
    long_journal(journal, 20_000)
    server = ServerProcess("--empty", "--journal", journal)
    server.stop()
    (tmp_path / "writes.journal.snapshot").unlink()
    refused = run_cli("serve", "--empty", "--port", "0", "--journal", journal, timeout=60)
    assert refused.returncode == 2 and b"snapshot" in refused.stderr and b"missing" in refused.stderr


def test_health_and_void_counts_follow_every_write(tmp_path):
    import pyoxigraph as ox

    journal = tmp_path / "writes.journal"
    server = ServerProcess("--empty", "--allow-anonymous-updates", "--journal", journal)
    try:
        def health() -> int:
            return requests.get(f"{server.url}/health", timeout=10).json()["quads"]

        def void_triples() -> int:  # distinct triples of the union of all graphs
            body = requests.get(f"{server.url}/.well-known/void", headers={"Accept": "application/n-triples"},
                                timeout=10).content
            return next(int(t.object.value) for t in ox.parse(body, format=ox.RdfFormat.N_TRIPLES)
                        if t.predicate.value == "http://rdfs.org/ns/void#triples"
                        and t.subject.value.endswith("/dataset"))
        assert health() == void_triples() == 0
        assert write(server, f'INSERT DATA {{ <{EX}s> <{EX}p> "a", "b" . GRAPH <{EX}g> {{ <{EX}s> <{EX}p> "a" }} }}'
                     ).status_code == 200
        assert health() == count_all(server) == 3 and void_triples() == 2
        assert write(server, f'INSERT DATA {{ <{EX}s> <{EX}p> "a" }}').status_code == 200  # already there
        assert write(server, f'DELETE DATA {{ <{EX}s> <{EX}p> "zzz" }}').status_code == 200  # never there
        assert health() == count_all(server) == 3 and void_triples() == 2
        assert write(server, f"DELETE WHERE {{ <{EX}s> <{EX}p> ?o }}").status_code == 200
        assert health() == count_all(server) == 1 and void_triples() == 1
        assert write(server, "CLEAR ALL").status_code == 200
        assert health() == count_all(server) == void_triples() == 0
    finally:
        server.stop()


def test_without_a_journal_the_server_says_writes_are_lost(start_server):
    server = start_server("--empty", "--allow-anonymous-updates")
    assert "WRITES ARE NOT KEPT" in "".join(server.output)
    answer = write(server, f'INSERT DATA {{ <{EX}s> <{EX}p> "x" }}')
    assert answer.status_code == 200
    assert "in memory only: this change is lost when the server stops" in answer.text


def test_load_is_all_or_nothing_and_backup_copies(tmp_path):
    store = tmp_path / "store"
    good = tmp_path / "good.nt"
    good.write_text(f'<{EX}s> <{EX}p> "good" .\n')
    bad = tmp_path / "bad.ttl"
    bad.write_text(f'<{EX}s> <{EX}p> "unterminated .\n')

    refused = run_cli("load", "--store", store, good, bad)
    assert refused.returncode == 1 and b"bad.ttl" in refused.stderr and b"nothing was loaded" in refused.stderr
    loaded = run_cli("load", "--store", store, good)  # into an empty store: the bulk loader
    assert loaded.returncode == 0, loaded.stderr
    more = tmp_path / "more.nt"
    more.write_text(f'<{EX}s> <{EX}p> "more" .\n')
    refused = run_cli("load", "--store", store, more, bad)  # into a filled store: one transaction
    assert refused.returncode == 1 and b"nothing was loaded" in refused.stderr
    assert run_cli("load", "--store", store, more).returncode == 0

    copy = tmp_path / "copy"
    assert run_cli("backup", "--store", store, copy).returncode == 0
    dump = tmp_path / "all.nq"
    assert run_cli("backup", "--store", store, dump).returncode == 0
    assert '"good"' in dump.read_text()
    again = run_cli("backup", "--store", store, dump)
    assert again.returncode == 2 and b"already exists" in again.stderr

    server = ServerProcess("--empty", "--store", copy)
    try:
        assert values(server) == ["good", "more"]
    finally:
        server.stop()


def test_load_into_a_built_store_is_validated_like_a_write(tmp_path):
    store = tmp_path / "store"
    assert run_cli("build", "--store", store).returncode == 0
    note = tmp_path / "notes.ttl"
    note.write_text('<https://w3id.org/yokuryu/resource/soviet-japanese-neutrality-pact> '
                    '<http://www.w3.org/2000/01/rdf-schema#comment> "a loaded note" .\n')
    invalid = tmp_path / "unsigned.ttl"
    invalid.write_text("<https://w3id.org/yokuryu/resource/unsigned> a <https://w3id.org/yokuryu/ontology#Treaty> .\n")

    refused = run_cli("load", "--store", store, note, invalid)
    assert refused.returncode == 1 and b"signed" in refused.stderr

    def comments() -> bytes:
        result = run_cli("query", "--store", store, "--format", "csv",
                         "SELECT ?c WHERE { ?s rdfs:comment ?c FILTER(?c = 'a loaded note') }")
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert b"a loaded note" not in comments()
    assert run_cli("load", "--store", store, note).returncode == 0
    assert b"a loaded note" in comments()


class _DiesAfterItsFirstCommit:
    """A pyoxigraph store whose process is taken to die right after the first call that changes
    it: every later change fails, as if the process had been killed between the two."""

    CHANGES = {"add", "remove", "extend", "bulk_extend", "update", "load", "bulk_load", "clear",
               "clear_graph", "remove_graph", "add_graph"}

    def __init__(self, store):
        self.store, self.commits = store, 0

    def __getattr__(self, name):
        attribute = getattr(self.store, name)
        if name not in self.CHANGES:
            return attribute

        def change(*args, **kwargs):
            if self.commits:
                raise OSError("the process died before this call")
            self.commits += 1
            return attribute(*args, **kwargs)
        return change

    def __iter__(self):
        return iter(self.store)

    def __contains__(self, quad):
        return quad in self.store

    def __len__(self):
        return len(self.store)


def test_load_commits_the_data_and_its_recounted_description_together(built):
    """A crash right after ``yokuryu load``'s first commit leaves no stale VoID count: the new
    quads and the dataset description's new counts go in the same transaction."""
    import pyoxigraph as ox

    from pathlib import Path

    from yokuryu.graph import open_store
    from yokuryu.graph.pipeline import load_files
    from yokuryu.ontology import DATASET_IRI, METADATA_GRAPH

    store = open_store(None)
    store.load_build(built)
    real = store.oxigraph
    store.oxigraph = dying = _DiesAfterItsFirstCommit(real)
    try:
        load_files(store, [Path(__file__).parent / "data" / "extra-estimate.ttl"])
    except Exception:  # noqa: BLE001 - the test is what the store holds after the crash
        pass
    store.oxigraph = real
    assert dying.commits == 1
    meta = ox.NamedNode(str(METADATA_GRAPH))
    stated: dict[str, list[int]] = {}
    for quad in real.quads_for_pattern(None, ox.NamedNode("http://rdfs.org/ns/void#triples"), None, meta):
        if quad.subject.value != DATASET_IRI and quad.subject != meta:
            stated.setdefault(quad.subject.value, []).append(int(quad.object.value))
    walked = {name.value: sum(1 for _ in real.quads_for_pattern(None, None, None, name))
              for name in real.named_graphs() if name.value in stated}
    assert stated == {name: [n] for name, n in walked.items()}
    assert any("extra-estimate" in name or "user" in name for name in stated)  # the load was committed
