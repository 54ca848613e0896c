"""Query processes (in-memory and on-disk stores): runaway queries really stop, writes reach every reader,
a dead zygote is replaced, and nothing outlives the server. All over real HTTP, with the
process tree read from /proc."""
from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import select_values
from test_limits import SLOW_QUERY, UPDATE, cheap_query, fill

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")


@pytest.fixture
def start_server(start_server):
    """Servers whose every query goes to the query processes: the tests here are about them.

    (Bounded queries are otherwise answered in the server process: tests/test_in_process_reads.py.)"""
    return functools.partial(start_server, env={"YOKURYU_IN_PROCESS_READS": "0"})

def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


def tree(pid: int) -> list[int]:
    """``pid`` and all its living descendants."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(children(current))
    return pids


def wait_until(condition, hang_guard: float = 60) -> None:
    """Poll ``condition`` until it holds; the guard only stops a hang, it asserts no speed."""
    deadline = time.monotonic() + hang_guard
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def zygote_and_workers(server) -> tuple[int, list[int]]:
    # A start from a long journal also forks a child that compacts it, and that child ends.
    wait_until(lambda: len(children(server.process.pid)) == 1)
    (zygote,) = children(server.process.pid)
    return zygote, children(zygote)


def update(server, text: str) -> None:
    response = requests.post(f"{server.url}/sparql", data=text.encode(), headers=UPDATE, timeout=60)
    assert response.status_code == 200, response.text


def test_runaway_query_is_killed_its_process_gone_and_a_fresh_worker_answers(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--timeout", "1", "--workers", "1")
    fill(server)
    cheap_query(server)  # the write retired the idle worker; this forks the one that will run away
    zygote, (worker,) = zygote_and_workers(server)
    response = requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
    assert response.status_code == 503
    assert "1 s limit" in response.text and "killed" in response.text
    wait_until(lambda: not running(worker))
    assert not running(worker), "the runaway query's process must be gone"
    assert worker not in tree(server.process.pid), "nothing may keep computing the killed query"
    cheap_query(server)
    same_zygote, (fresh,) = zygote_and_workers(server)
    assert same_zygote == zygote and fresh != worker  # forked again from the zygote: no reload


def test_read_your_writes_over_50_alternating_rounds(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "3")
    for round_ in range(50):
        update(server, f"DELETE WHERE {{ <urn:counter> <urn:p:value> ?v }} ; "
                       f"INSERT DATA {{ <urn:counter> <urn:p:value> {round_} }}")
        found = requests.get(f"{server.url}/sparql", timeout=30,
                             params={"query": "SELECT ?v WHERE { <urn:counter> <urn:p:value> ?v }"})
        assert select_values(found, "v") == [str(round_)], f"round {round_}"


def test_graph_store_writes_reach_query_processes(start_server):
    server = start_server("--empty", "--allow-anonymous-updates")
    put = requests.put(f"{server.url}/store", params={"graph": "urn:g"}, timeout=30,
                       data=b"<urn:s> <urn:p> \"first\" .", headers={"Content-Type": "application/n-triples"})
    assert put.status_code == 201
    query = {"query": "SELECT ?o WHERE { GRAPH <urn:g> { <urn:s> <urn:p> ?o } }"}
    assert select_values(requests.get(f"{server.url}/sparql", params=query, timeout=30), "o") == ["first"]
    assert requests.delete(f"{server.url}/store", params={"graph": "urn:g"}, timeout=30).status_code == 204
    assert select_values(requests.get(f"{server.url}/sparql", params=query, timeout=30), "o") == []


def test_concurrent_readers_see_the_state_before_or_after_each_write_never_a_mixture(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "4")
    check_reads_see_each_write_whole(server, [requests] * 3)


def check_reads_see_each_write_whole(server, clients) -> None:
    """20 writes, each changing two triples together, while each of ``clients`` (``requests`` or a
    session) reads both: every answer shows one state, never older than the last answered write."""
    update(server, "INSERT DATA { <urn:a> <urn:p:v> 0 . <urn:b> <urn:p:v> 0 }")
    acknowledged = [0]  # the newest value whose write has been answered
    problems: list[str] = []
    done = threading.Event()

    def write() -> None:
        try:
            for value in range(1, 21):
                update(server, "DELETE WHERE { <urn:a> <urn:p:v> ?x } ; DELETE WHERE { <urn:b> <urn:p:v> ?y } ; "
                               f"INSERT DATA {{ <urn:a> <urn:p:v> {value} . <urn:b> <urn:p:v> {value} }}")
                acknowledged[0] = value
        finally:
            done.set()

    def read(client) -> None:
        query = {"query": "SELECT ?x ?y WHERE { <urn:a> <urn:p:v> ?x . <urn:b> <urn:p:v> ?y }"}
        while not done.is_set():
            floor = acknowledged[0]
            response = client.get(f"{server.url}/sparql", params=query, timeout=30)
            rows = [(int(b["x"]["value"]), int(b["y"]["value"])) for b in response.json()["results"]["bindings"]]
            if len(rows) != 1 or rows[0][0] != rows[0][1]:
                problems.append(f"a mixture of states: {rows}")
            elif rows[0][0] < floor:
                problems.append(f"saw {rows[0][0]} after the write of {floor} was answered")

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert acknowledged[0] == 20
    assert problems == []


def test_a_dead_zygote_is_replaced_from_the_store_and_keeps_every_write(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "2")
    update(server, "INSERT DATA { <urn:s> <urn:p> \"before\" }")
    zygote, workers = zygote_and_workers(server)
    os.kill(zygote, signal.SIGKILL)
    wait_until(lambda: not any(running(pid) for pid in [zygote, *workers]))
    assert not any(running(pid) for pid in [zygote, *workers]), "workers end with their zygote"
    query = {"query": "SELECT ?o WHERE { <urn:s> <urn:p> ?o }"}
    assert select_values(requests.get(f"{server.url}/sparql", params=query, timeout=60), "o") == ["before"]
    (replacement,) = children(server.process.pid)
    assert replacement != zygote
    update(server, "INSERT DATA { <urn:s> <urn:p> \"after\" }")
    found = requests.get(f"{server.url}/sparql", params=query, timeout=60)
    assert sorted(select_values(found, "o")) == ["after", "before"]


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_no_query_process_outlives_the_server(start_server, stop):
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "2")
    fill(server)

    outcome = []

    def runaway() -> None:
        try:
            requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
        except requests.ConnectionError as error:  # the server goes away mid-query
            outcome.append(error)

    busy = threading.Thread(target=runaway)
    busy.start()
    # Wait (with a hang guard) until the runaway has its worker, instead of sleeping a guess.
    wait_until(lambda: len(tree(server.process.pid)) == 3)
    processes = tree(server.process.pid)
    assert len(processes) == 3, processes  # the server, the zygote, the worker evaluating the runaway
    getattr(server.process, stop)()
    server.process.wait(timeout=10)
    wait_until(lambda: not any(running(pid) for pid in processes))
    assert [pid for pid in processes if running(pid)] == []
    busy.join(timeout=30)
    assert len(outcome) == 1


def snapshots(store: Path) -> list[str]:
    """The checkpoints of an on-disk store that its query processes read (see yokuryu.server.checkpoints)."""
    folder = store / "query-snapshots"
    return sorted(entry.name for entry in folder.iterdir()) if folder.exists() else []


def test_an_on_disk_store_is_queried_through_a_checkpoint_that_follows_every_write(start_server, tmp_path):
    store = tmp_path / "store"
    (store / "query-snapshots" / "7").mkdir(parents=True)  # left by a server that was killed
    # Every read in a query process (none answered in the server itself), so each one after a
    # write needs the zygote on a checkpoint that holds it.
    server = start_server("--empty", "--store", store, "--allow-anonymous-updates", "--workers", "2",
                          env={"YOKURYU_IN_PROCESS_READS": "0"})
    assert any("queries in killable processes" in line for line in server.output)
    assert snapshots(store) == ["0"], "a stale checkpoint folder is removed at start"
    (zygote,) = children(server.process.pid)  # a new program reading a checkpoint, not a fork of RocksDB
    fill(server, 10)
    cheap_query(server)
    query = {"query": "SELECT ?o WHERE { <urn:s> <urn:p> ?o }"}
    for value in ("first", "second", "third"):
        update(server, f'INSERT DATA {{ <urn:s> <urn:p> "{value}" }}')
        found = requests.get(f"{server.url}/sparql", params=query, timeout=60)
        assert value in select_values(found, "o"), "a read after a write sees it"
    assert children(server.process.pid) == [zygote]
    # Superseded checkpoints go once no worker reads them: only the current one remains.
    update(server, 'INSERT DATA { <urn:s> <urn:p> "fourth" }')
    requests.get(f"{server.url}/sparql", params=query, timeout=60)
    wait_until(lambda: len(snapshots(store)) == 1)
    assert len(snapshots(store)) == 1
    # Writes in a row: the next read sees them all, and one checkpoint remains.
    for value in ("b1", "b2", "b3"):
        update(server, f'INSERT DATA {{ <urn:s> <urn:q> "{value}" }}')
    burst = requests.get(f"{server.url}/sparql", params={"query": "SELECT ?o WHERE { <urn:s> <urn:q> ?o }"},
                         timeout=60)
    assert sorted(select_values(burst, "o")) == ["b1", "b2", "b3"]
    wait_until(lambda: len(snapshots(store)) == 1)
    assert len(snapshots(store)) == 1
    # Nothing of the store is loaded into the zygote: it holds a read-only handle.
    assert private_mib(zygote) < 64
    server.stop()
    assert snapshots(store) == [], "the checkpoints are removed when the server stops"

    again = start_server("--empty", "--store", store)
    found = requests.get(f"{again.url}/sparql", params=query, timeout=60)
    assert sorted(select_values(found, "o")) == ["first", "fourth", "second", "third"]


def test_on_disk_writes_in_a_row_make_no_checkpoint_until_a_query_reads_them(start_server, tmp_path):
    # An update's check (its syntax, its data's size) reads nothing of the store: it needs no
    # checkpoint of the latest write, only a killable process.
    store = tmp_path / "store"
    server = start_server("--empty", "--store", store, "--allow-anonymous-updates", "--workers", "2",
                          "--timeout", "1")
    assert snapshots(store) == ["0"]
    for value in range(5):
        update(server, f"INSERT DATA {{ <urn:s> <urn:p> {value} }}")
    assert snapshots(store) == ["0"], "no checkpoint for writes that no query has read yet"
    refused = requests.post(f"{server.url}/sparql", data=b"INSERT DATA { <urn:s> <urn:p> }", headers=UPDATE,
                            timeout=60)
    assert refused.status_code == 400 and "syntax error" in refused.text
    # The first read after them makes the one checkpoint, and sees every write (read-your-writes).
    found = requests.get(f"{server.url}/sparql", params={"query": "SELECT ?o ?q WHERE { <urn:s> ?q ?o }"},
                         timeout=60)
    assert sorted(select_values(found, "o"), key=int) == ["0", "1", "2", "3", "4"]
    wait_until(lambda: snapshots(store) == ["1"])
    assert snapshots(store) == ["1"]
    # An update with a WHERE reads the store too: its WHERE is counted on a checkpoint of the latest
    # write (an older one could lack what makes it run away), so after a write it makes one, and a
    # runaway (3.4 million solutions) is stopped at the limit, nothing of it applied.
    update(server, "INSERT DATA { <urn:s> <urn:p> 5 }")
    values = " ".join(str(i) for i in range(150))
    runaway = requests.post(f"{server.url}/sparql", headers=UPDATE, timeout=60, data=(
        f"INSERT {{ <urn:s> <urn:q> ?c }} WHERE {{ VALUES ?a {{ {values} }} VALUES ?b {{ {values} }} "
        f"VALUES ?c {{ {values} }} }}").encode())
    assert runaway.status_code == 503 and "killed" in runaway.text
    wait_until(lambda: snapshots(store) == ["2"])
    found = requests.get(f"{server.url}/sparql", params={"query": "SELECT ?o WHERE { <urn:s> <urn:q> ?o }"},
                         timeout=60)
    assert select_values(found, "o") == []


def test_an_on_disk_store_whose_zygote_dies_gets_a_new_one_on_a_fresh_checkpoint(start_server, tmp_path):
    store = tmp_path / "store"
    server = start_server("--empty", "--store", store, "--allow-anonymous-updates", "--workers", "2",
                          env={"YOKURYU_IN_PROCESS_READS": "0"})
    update(server, 'INSERT DATA { <urn:s> <urn:p> "before" }')
    zygote, workers = zygote_and_workers(server)
    os.kill(zygote, signal.SIGKILL)  # while it is behind that write: it never made a checkpoint of it
    wait_until(lambda: not any(running(pid) for pid in [zygote, *workers]))
    query = {"query": "SELECT ?o WHERE { <urn:s> <urn:p> ?o }"}
    assert select_values(requests.get(f"{server.url}/sparql", params=query, timeout=60), "o") == ["before"]
    (replacement,) = children(server.process.pid)
    assert replacement != zygote
    assert len(snapshots(store)) == 1, "the dead zygote's checkpoints are removed"
    update(server, 'INSERT DATA { <urn:s> <urn:p> "after" }')
    found = requests.get(f"{server.url}/sparql", params=query, timeout=60)
    assert sorted(select_values(found, "o")) == ["after", "before"]


def private_mib(pid: int) -> float:
    """Memory only ``pid`` holds (its own or copied from what it shares), from the kernel."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in text.splitlines()
               if line.startswith(("Private_Dirty:", "Private_Clean:"))) / 1024


@pytest.mark.slow
def test_a_worker_that_copied_the_store_on_a_scan_is_retired_once_idle_and_its_memory_freed(start_server, tmp_path):
    # 200k quads in memory: a scan over all of them makes a forked worker copy tens of MB of the
    # store (pyoxigraph writes reference counts as it walks), which a point lookup does not.
    journal = tmp_path / "data.journal"
    with open(journal, "wb") as out:
        out.write(b"# yokuryu journal 1 base=empty\nTX\n")
        out.writelines(f'A <urn:s{i}> <urn:p> "value number {i}" .\n'.encode() for i in range(200_000))
        out.write(b"TC\n")
    server = start_server("--empty", "--journal", journal, "--workers", "1")
    point = {"query": "SELECT ?o WHERE { <urn:s7> <urn:p> ?o }"}
    scan = {"query": 'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER(REGEX(?o, "9$")) }'}
    assert select_values(requests.get(f"{server.url}/sparql", params=point, timeout=60), "o") == ["value number 7"]
    zygote, (worker,) = zygote_and_workers(server)
    assert select_values(requests.get(f"{server.url}/sparql", params=point, timeout=60), "o") == ["value number 7"]
    assert zygote_and_workers(server) == (zygote, [worker])  # a lookup copies little: the worker stays

    assert select_values(requests.get(f"{server.url}/sparql", params=scan, timeout=60), "n") == ["20000"]
    wait_until(lambda: not running(worker))
    assert not running(worker), "the worker that copied the store must be retired once idle"
    assert select_values(requests.get(f"{server.url}/sparql", params=point, timeout=60), "o") == ["value number 7"]
    same_zygote, (fresh,) = zygote_and_workers(server)
    assert same_zygote == zygote and fresh != worker
    assert private_mib(fresh) < 32 and private_mib(server.process.pid) < 64  # nobody keeps a copy


# A query of some tens of milliseconds over fill()'s 400 triples (400 × 399 / 2 pairs).
PAIRS = "SELECT (COUNT(*) AS ?n) WHERE { ?a <urn:p:v> ?c . ?d <urn:p:v> ?f FILTER(?c < ?f) }"


def keep_asking(server, query: dict, answers: list, stop: threading.Event) -> threading.Thread:
    """A client asking ``query`` again and again until ``stop``; every (status, n) goes to ``answers``."""
    def ask() -> None:
        while not stop.is_set():
            response = requests.get(f"{server.url}/sparql", params=query, timeout=60)
            answers.append((response.status_code, response.json()["results"]["bindings"][0]["n"]["value"]
                            if response.status_code == 200 else response.text))
    thread = threading.Thread(target=ask)
    thread.start()
    return thread


def output_after_stopping(server) -> str:
    server.process.terminate()
    server.process.wait(timeout=10)
    return "".join(server.output) + server.process.stdout.read()


def test_a_runaway_is_killed_and_the_other_queries_in_its_process_are_answered_correctly(start_server):
    # Three queries at once in one query process (threads): a runaway and two clients asking a
    # shorter query without pause, so that one of theirs is being evaluated in the same process
    # when the runaway's limit kills it. Those are run again in a fresh process, transparently.
    server = start_server("--empty", "--allow-anonymous-updates", "--timeout", "3", "--workers", "3",
                          "--query-processes", "1")
    fill(server)
    cheap_query(server)
    zygote, (worker,) = zygote_and_workers(server)
    answers: list = []
    stop = threading.Event()
    clients = [keep_asking(server, {"query": PAIRS}, answers, stop) for _ in range(2)]
    try:
        runaway = requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
        answered_at_the_kill = len(answers)
        wait_until(lambda: len(answers) >= answered_at_the_kill + 4)  # the clients go on being answered
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)
    assert runaway.status_code == 503 and "killed" in runaway.text
    assert len(answers) >= answered_at_the_kill + 4
    assert set(answers) == {(200, "79800")}, [a for a in answers if a != (200, "79800")][:3]
    assert not running(worker)
    assert zygote_and_workers(server)[0] == zygote
    output = output_after_stopping(server)
    assert f"query process {worker} killed" in output
    assert "run again in a fresh process" in output, output  # a client's query was in flight in it


def cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0  # utime + stime


def test_a_write_is_seen_by_the_next_read_while_an_older_query_still_runs_in_a_shared_process(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--timeout", "120", "--workers", "4",
                          "--query-processes", "1")
    fill(server)
    cheap_query(server)
    _, (worker,) = zygote_and_workers(server)
    # Seconds of counting over the 400 triples (200 × 400 × 400 solutions) before the write.
    long_count = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i FILTER(?c < 200) }"
    outcome = {}

    def count() -> None:
        outcome["response"] = requests.get(f"{server.url}/sparql", params={"query": long_count}, timeout=120)

    before = cpu_ticks(worker)
    counting = threading.Thread(target=count)
    counting.start()
    wait_until(lambda: cpu_ticks(worker) > before + 10)  # it is being evaluated in the worker
    update(server, "INSERT DATA { <urn:s:new> <urn:p:v> \"new\" }")
    # The next read sees the write: it goes to a process forked after it, not to a free thread of
    # the process still counting on the state before the write.
    found = requests.get(f"{server.url}/sparql", timeout=30,
                         params={"query": "SELECT ?o WHERE { <urn:s:new> <urn:p:v> ?o }"})
    assert select_values(found, "o") == ["new"]
    assert worker in zygote_and_workers(server)[1] and len(zygote_and_workers(server)[1]) == 2
    counting.join(timeout=120)
    assert select_values(outcome["response"], "n") == [str(200 * 400 * 400)]  # the state it started on
    wait_until(lambda: not running(worker))
    assert not running(worker), "the older process ends once its last query is answered"


@pytest.mark.slow
def test_an_engine_crash_shared_with_other_queries_is_400_for_its_query_only(start_server):
    # The crashing query and other clients' queries are evaluated in the same process: the crash
    # ends it under all of them. Each is run again in a process of its own, so only the query
    # that crashes again is answered 400.
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "3", "--query-processes", "1",
                          "--max-query-nesting", "1000000", "--max-query-clauses", "1000000")
    fill(server)
    deep = "SELECT * WHERE { FILTER(" + "(" * 10_000 + "1" + ")" * 10_000 + ") }"
    answers: list = []
    stop = threading.Event()
    clients = [keep_asking(server, {"query": PAIRS}, answers, stop) for _ in range(2)]
    try:
        wait_until(lambda: len(answers) >= 2)
        crashes = [requests.get(f"{server.url}/sparql", params={"query": deep}, timeout=60) for _ in range(3)]
        answered = len(answers)
        wait_until(lambda: len(answers) >= answered + 4)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)
    for response in crashes:
        assert response.status_code == 400 and "too deeply nested" in response.text, response.text
    assert set(answers) == {(200, "79800")}, [a for a in answers if a != (200, "79800")][:3]
    assert server.process.poll() is None


def test_queries_waiting_for_a_busy_worker_are_served_in_turn(start_server):
    # One worker, three clients asking without pause: each client's next query queues behind the
    # others' waiting ones, so they take turns. (A freed worker used to go, most of the time, to
    # the query whose own thread had just freed it, and a waiting client could wait for seconds.)
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "1")
    fill(server)
    done: list[int] = []

    def client(number: int) -> None:
        with requests.Session() as session:
            for _ in range(8):
                response = session.get(f"{server.url}/sparql", params={"query": PAIRS}, timeout=60)
                assert response.status_code == 200
                done.append(number)

    clients = [threading.Thread(target=client, args=(number,)) for number in range(3)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=120)
    assert sorted(done) == [0] * 8 + [1] * 8 + [2] * 8
    counts = [0, 0, 0]
    for number in done[:-6]:  # the last turns: a client that has finished no longer waits
        counts[number] += 1
        assert max(counts) - min(counts) <= 2, done  # nobody answered three times while another waited


def test_each_query_timeline_is_written_when_asked_for(start_server, tmp_path):
    # YOKURYU_QUERY_TIMELINE: a diagnostic of where a query's time goes (bench/query_timeline.py).
    timeline = tmp_path / "timeline.jsonl"
    server = start_server("--empty", "--allow-anonymous-updates",
                          env={"YOKURYU_IN_PROCESS_READS": "0", "YOKURYU_QUERY_TIMELINE": str(timeline)})
    fill(server)
    found = requests.get(f"{server.url}/sparql", params={"query": PAIRS}, timeout=60)
    assert select_values(found, "n") == ["79800"]
    entries = [json.loads(line) for line in timeline.read_text().splitlines()]
    (entry,) = [e for e in entries if e["query"] == PAIRS]
    stages = ("waited", "to_worker", "evaluated", "cpu", "after", "back", "received")
    assert all(entry[stage] >= 0 for stage in stages)
    assert entry["total"] >= entry["evaluated"]
    summary = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "bench" / "query_timeline.py"),
                              str(timeline)], capture_output=True, text=True, check=True).stdout
    assert "evaluated" in summary and "p99" in summary
    assert "cpu by tenth" in summary  # a query process's warm-up, in answer order


def heap_pages_kib(pid: int) -> tuple[int, int]:
    """Resident and private KiB of ``pid``'s main malloc heap (where the in-memory store's nodes are)."""
    resident = private = 0
    in_heap = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
            in_heap = line.rstrip().endswith("[heap]")
        elif in_heap and line.startswith("Rss:"):
            resident += int(line.split()[1])
        elif in_heap and line.startswith(("Private_Dirty:", "Private_Clean:")):
            private += int(line.split()[1])
    return resident, private


def populate_write_supported() -> bool:
    release = tuple(int(part) for part in re.findall(r"\d+", os.uname().release)[:2])
    return release >= (5, 14)


@pytest.mark.slow
@pytest.mark.skipif(not populate_write_supported(), reason="MADV_POPULATE_WRITE needs Linux 5.14")
def test_a_query_process_that_scans_copies_the_whole_store_at_once_within_its_memory_limit(start_server, tmp_path):
    # Two halves of the store loaded one after the other, so that their nodes lie in separate pages:
    # a scan of one half writes (reference counts) to about half of the store's pages; the query
    # process then copies the rest in one go, beside its queries. Resident memory stays put (it
    # copies pages it already maps), so --query-memory does not retire it; writes, reads of them
    # and a runaway's kill go on as before.
    journal = tmp_path / "data.journal"
    with open(journal, "wb") as out:
        out.write(b"# yokuryu journal 1 base=empty\nTX\n")
        for predicate in ("p", "q"):
            out.writelines(f'A <urn:s{i}> <urn:{predicate}> "value {i}" .\n'.encode() for i in range(100_000))
        out.write(b"TC\n")
    server = start_server("--empty", "--journal", journal, "--workers", "2", "--query-memory", "64",
                          "--timeout", "2", "--allow-anonymous-updates")
    half = {"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s <urn:q> ?o }"}
    assert select_values(requests.get(f"{server.url}/sparql", params=half, timeout=60), "n") == ["100000"]
    zygote, (worker,) = zygote_and_workers(server)
    resident, _ = heap_pages_kib(worker)
    wait_until(lambda: heap_pages_kib(worker)[1] > 0.9 * resident)
    assert heap_pages_kib(worker)[1] > 0.9 * resident, "the rest of the store is copied after the scan"
    assert heap_pages_kib(worker)[0] < resident + 16 * 1024, "copying maps no new memory"
    assert select_values(requests.get(f"{server.url}/sparql", params=half, timeout=60), "n") == ["100000"]
    assert zygote_and_workers(server) == (zygote, [worker]), "kept: within its memory limit"

    update(server, "INSERT DATA { <urn:new> <urn:q> \"added\" }")
    assert select_values(requests.get(f"{server.url}/sparql", params=half, timeout=60), "n") == ["100001"]
    runaway = requests.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
    assert runaway.status_code == 503  # past its time or memory limit: its process ends either way
    assert select_values(requests.get(f"{server.url}/sparql", params=half, timeout=60), "n") == ["100001"]
