"""Read processes (``yokuryu serve --read-processes N``): several processes answer HTTP on one port.

Over real HTTP against ``yokuryu serve``, with the process tree and the owners of the server's
TCP connections read from /proc: readers answer requests, every read after an answered write
sees it on every connection, no read sees part of a write, what a reader passes on is answered
as one process answers it, a reader that ends or grows too large is replaced, and everything
stops with the server. In memory and on disk (``--store``: readers read RocksDB checkpoints).
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import requests

from conftest import select_values
from test_limits import SLOW_QUERY, UPDATE
from test_query_processes import _stat, check_reads_see_each_write_whole, children, running, tree, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")

CONNECTIONS = 16  # kept-alive connections: the kernel spreads them over the processes


def readers(server) -> list[int]:
    """The read processes: children of the query zygote in a process group of their own."""
    found = []
    for pid in tree(server.process.pid):
        fields = _stat(pid)
        if fields is not None and pid != server.process.pid and int(fields[2]) == pid:
            found.append(pid)
    return sorted(found)


def wait_for_readers(server, count: int, hang_guard: float = 60) -> list[int]:
    wait_until(lambda: len(readers(server)) == count, hang_guard)
    found = readers(server)
    assert len(found) == count, f"expected {count} read processes, found {found}"
    return found


def owners(server) -> dict[int, int]:
    """For each process of the server's tree, how many established connections to its port it holds."""
    port = int(server.url.rsplit(":", 1)[1])
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(fields[9])
    held: dict[int, int] = {}
    for pid in tree(server.process.pid):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        count = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
        if count:
            held[pid] = count
    return held


def checkpoints_open(pid: int) -> set[str]:
    """The checkpoints (query-snapshots/N) of which process ``pid`` holds a file open."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            parts = Path(os.readlink(f"/proc/{pid}/fd/{fd}")).parts
            if "query-snapshots" in parts[:-1]:
                found.add(parts[parts.index("query-snapshots") + 1])
    return found


def sessions(server, count: int = CONNECTIONS) -> list[requests.Session]:
    """``count`` kept-alive connections, each opened by one request."""
    opened = []
    for _ in range(count):
        session = requests.Session()
        assert session.get(f"{server.url}/sparql", params={"query": "ASK {}"}, timeout=30).status_code == 200
        opened.append(session)
    return opened


def update(server, text: str) -> None:
    response = requests.post(f"{server.url}/sparql", data=text.encode(), headers=UPDATE, timeout=60)
    assert response.status_code == 200, response.text


COUNTER = {"query": "SELECT ?v WHERE { <urn:counter> <urn:p:value> ?v }"}


def stored(where: str, tmp_path) -> list:
    """The flags of a store in memory (the default) or on disk."""
    return ["--store", tmp_path / "store"] if where == "disk" else []


@pytest.mark.parametrize("http_server, where", [("granian", "memory"), ("waitress", "memory"), ("granian", "disk")])
def test_readers_answer_and_every_connection_sees_each_answered_write(start_server, http_server, where, tmp_path):
    server = start_server("--empty", "--allow-anonymous-updates", "--read-processes", "3",
                          "--http-server", http_server, *stored(where, tmp_path))
    assert "3 processes answering requests" in "".join(server.output)
    found = wait_for_readers(server, 2)
    opened = sessions(server)
    held = owners(server)
    assert set(held) - {server.process.pid}, f"no reader holds a connection: {held}"
    assert set(held) <= {server.process.pid, *found}
    for round_ in range(10):
        update(server, f"DELETE WHERE {{ <urn:counter> <urn:p:value> ?v }} ; "
                       f"INSERT DATA {{ <urn:counter> <urn:p:value> {round_} }}")
        for number, session in enumerate(opened):
            seen = select_values(session.get(f"{server.url}/sparql", params=COUNTER, timeout=30), "v")
            assert seen == [str(round_)], f"round {round_}, connection {number}"
    assert owners(server) == held, "the same connections, still held by the same processes"


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_concurrent_reads_on_every_process_see_the_state_before_or_after_each_write(start_server, where, tmp_path):
    server = start_server("--empty", "--allow-anonymous-updates", "--read-processes", "3", *stored(where, tmp_path))
    wait_for_readers(server, 2)
    opened = sessions(server, 6)
    assert set(owners(server)) - {server.process.pid}, "some reading connection must be a reader's"
    check_reads_see_each_write_whole(server, opened)


def _answer(response: requests.Response):
    # Not compared: what the HTTP server adds, and times (the two servers started apart).
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in ("date", "server", "connection", "keep-alive", "last-modified", "etag")}
    if "allow" in headers:  # a set: its order is Python's hash order, another in every process
        headers["allow"] = sorted(headers["allow"].split(", "))
    return response.status_code, headers, re.sub(rb"\(\d+\.\d+ s\)", b"(a time)", response.content)


def test_what_a_reader_passes_on_is_answered_as_a_single_process_answers_it(start_server):
    """Updates, the graph store protocol, pages, refusals, heavy queries: the same status, headers and body."""
    single = start_server("--empty", "--allow-anonymous-updates", "--read-processes", "1")
    several = start_server("--empty", "--allow-anonymous-updates", "--read-processes", "3")
    wait_for_readers(several, 2)
    big = b"INSERT DATA { " + b"<urn:a> <urn:b> <urn:c> . " * 60_000 + b"}"
    quote = requests.utils.quote
    steps = [  # each made on every connection in turn ({i}: the connection), on both servers alike
        ("POST", "/sparql", {"data": "INSERT DATA {{ <urn:s:{i}> <urn:p:v> {i} . <urn:t:{i}> <urn:p:v> {i} }}",
                             "headers": UPDATE}),
        ("PUT", "/store?graph=urn:g{i}", {"data": "<urn:s> <urn:p> \"{i}\" .",
                                          "headers": {"Content-Type": "application/n-triples"}}),
        ("GET", "/store?graph=urn:g{i}", {"headers": {"Accept": "application/n-triples"}}),
        ("GET", "/sparql?query=" + quote("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o . ?t ?q ?o }"), {}),
        ("GET", "/sparql?query=" + quote("SELEC * WHERE { ?s ?p ?o }"), {}),
        ("GET", "/sparql?query=" + quote("SELECT * WHERE { <urn:s:{i}> ?p ?o }"), {"headers": {"Accept": "text/csv"}}),
        ("POST", "/sparql", {"data": big, "headers": UPDATE}),  # 413: over --max-body-bytes
        ("POST", "/sparql", {"data": "query=ASK%20%7B%7D&default-graph-uri=urn%3Ag{i}",
                             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
        ("GET", "/health", {}),
        ("GET", "/no-such-page", {}),
        ("OPTIONS", "/sparql", {"headers": {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}}),
        ("DELETE", "/store?graph=urn:g{i}", {}),
        ("GET", "/store?graph=urn:g{i}", {}),
    ]
    alone = requests.Session()
    opened = sessions(several, 8)
    assert set(owners(several)) - {several.process.pid}
    for number, session in enumerate(opened):
        for method, path, options in steps:
            path = path.replace("{i}", str(number))
            options = dict(options)
            if isinstance(options.get("data"), str):
                options["data"] = options["data"].format(i=number).encode()
            expected = _answer(alone.request(method, single.url + path, timeout=60, **options))
            got = _answer(session.request(method, several.url + path, timeout=60, **options))
            assert got == expected, f"{method} {path} on connection {number}: {got} != {expected}"


@pytest.mark.slow
def test_a_runaway_query_a_reader_passes_on_stops_at_the_time_limit(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--read-processes", "3", "--timeout", "1")
    wait_for_readers(server, 2)
    data = " ".join(f"<urn:s:{i}> <urn:p:v> {i} ." for i in range(400))
    update(server, f"INSERT DATA {{ {data} }}")
    opened = sessions(server, 6)
    assert set(owners(server)) - {server.process.pid}
    for session in opened:
        response = session.get(f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=60)
        assert response.status_code == 503 and "1 s limit" in response.text, response.text


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_a_reader_that_dies_is_replaced_and_the_writes_it_missed_are_in_its_successor(start_server, where, tmp_path):
    server = start_server("--empty", "--allow-anonymous-updates", "--read-processes", "2", *stored(where, tmp_path))
    (reader,) = wait_for_readers(server, 1)
    update(server, "INSERT DATA { <urn:counter> <urn:p:value> 1 }")
    os.kill(reader, signal.SIGKILL)
    wait_until(lambda: not running(reader))
    write = "DELETE WHERE { <urn:counter> <urn:p:value> ?v } ; INSERT DATA { <urn:counter> <urn:p:value> 2 }"
    try:
        update(server, write)
    except requests.ConnectionError:
        # For a moment after a listening socket of the SO_REUSEPORT group closes, the kernel may still
        # pick it for a new connection, which is then reset (docs/architecture.md): a client retries.
        update(server, write)
    wait_until(lambda: readers(server) not in ([], [reader]))
    (successor,) = wait_for_readers(server, 1)
    assert successor != reader
    opened = sessions(server)
    assert successor in owners(server)
    for session in opened:
        assert select_values(session.get(f"{server.url}/sparql", params=COUNTER, timeout=30), "v") == ["2"]


@pytest.mark.slow
def test_a_reader_that_grew_past_its_memory_bound_is_replaced_by_a_fresh_fork(start_server):
    server = start_server("--empty", "--allow-anonymous-updates", "--read-processes", "2",
                          "--max-body-bytes", "16000000", env={"YOKURYU_READ_PROCESS_MEMORY": "1"})
    (first,) = wait_for_readers(server, 1)
    data = " ".join(f"<urn:s:{i}> <urn:p:v> \"{'x' * 200}{i}\" ." for i in range(20_000))
    update(server, f"INSERT DATA {{ {data} }}")
    # A reader forked after the write shares its pages with the zygote; its lookups copy them.
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: readers(server) not in ([], [first]))
    (reader,) = wait_for_readers(server, 1)
    opened = sessions(server)

    asked = iter(range(10**9))

    def replaced() -> bool:
        for session in opened:  # lookups of ever other subjects: whoever answers them copies pages
            subject = next(asked) % 20_000
            session.get(f"{server.url}/sparql", params={"query": f"SELECT * WHERE {{ <urn:s:{subject}> ?p ?o }}"},
                        timeout=30)
        return reader not in readers(server)

    wait_until(replaced, 120)
    assert reader not in readers(server), "the reader that grew must be replaced"
    (fresh,) = wait_for_readers(server, 1)
    for session in sessions(server):
        answer = session.get(f"{server.url}/sparql", params={"query": "SELECT * WHERE { <urn:s:7> ?p ?o }"},
                             timeout=30)
        assert select_values(answer, "o") == ["x" * 200 + "7"]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_the_server_stops_with_every_reader(start_server, how):
    server = start_server("--empty", "--read-processes", "3")
    wait_for_readers(server, 2)
    everyone = tree(server.process.pid)
    assert len(everyone) >= 4  # the server, the zygote, two readers
    os.kill(server.process.pid, how)
    server.process.wait(timeout=30)
    wait_until(lambda: not any(running(pid) for pid in everyone))
    assert [pid for pid in everyone if running(pid)] == []


def test_on_disk_readers_leave_no_checkpoint_behind(start_server, tmp_path):
    """Each write gives the readers a checkpoint; the one they read before is removed, and all at the stop."""
    snapshots = tmp_path / "store" / "query-snapshots"
    server = start_server("--empty", "--allow-anonymous-updates", "--store", tmp_path / "store",
                          "--read-processes", "3")
    wait_for_readers(server, 2)
    opened = sessions(server, 6)
    for value in range(12):
        update(server, f"DELETE WHERE {{ <urn:counter> <urn:p:value> ?v }} ; "
                       f"INSERT DATA {{ <urn:counter> <urn:p:value> {value} }}")
        for session in opened:
            assert select_values(session.get(f"{server.url}/sparql", params=COUNTER, timeout=30), "v") == [str(value)]
    # Once writes pause the readers switch to a checkpoint holding them (until then they pass
    # queries on): they read the newest one. Left: that and the query processes' checkpoint.
    def newest_read_by_every_reader() -> bool:
        names = [path.name for path in snapshots.iterdir() if path.name.isdigit()]
        newest = str(max(map(int, names)))
        return len(names) <= 2 and all(newest in checkpoints_open(pid) for pid in readers(server))
    wait_until(newest_read_by_every_reader)
    assert newest_read_by_every_reader(), sorted(path.name for path in snapshots.iterdir())
    for session in opened:
        assert select_values(session.get(f"{server.url}/sparql", params=COUNTER, timeout=30), "v") == ["11"]
    server.stop()
    assert not snapshots.exists()


def test_one_read_process_is_todays_single_process(start_server):
    for count in ("0", "1"):
        server = start_server("--empty", "--read-processes", count)
        assert readers(server) == []
        assert "processes answering" not in "".join(server.output)
        assert children(server.process.pid)  # the zygote


def test_a_negative_count_is_refused_with_the_flag_named(tmp_path):
    from conftest import run_cli
    result = run_cli("serve", "--empty", "--port", "0", "--read-processes", "-1")
    assert result.returncode != 0
    assert b"--read-processes" in result.stderr


def _relay_address(server) -> str:
    """The readers' relay: an abstract Unix socket, listed in /proc/net/unix for every local user."""
    names = [line.split()[-1] for line in Path("/proc/net/unix").read_text().splitlines()
             if f"@yokuryu-relay-{server.process.pid}-" in line]
    assert names, "the relay's abstract socket is listed in /proc/net/unix"
    return "\0" + names[0][1:]


class _Mkdir:
    """What unpickling runs: a directory appears if the relay ever unpickles a stranger's bytes."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


def test_strangers_on_the_relay_socket_neither_stall_the_readers_nor_get_unpickled(start_server, tmp_path):
    """Any local process can find the relay's name and connect: the relay must drop it without
    unpickling what it sends and without holding up the readers' own connections meanwhile."""
    import socket
    import threading
    from multiprocessing.connection import Connection

    server = start_server("--empty", "--read-processes", "3")
    wait_for_readers(server, 2)
    address = _relay_address(server)
    strangers = []
    for _ in range(20):  # idle: they send nothing
        stranger = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stranger.connect(address)
        strangers.append(stranger)
    evil = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    evil.connect(address)
    planted = tmp_path / "unpickled"
    Connection(evil.detach()).send(("http", _Mkdir(planted)))

    # Concurrent requests the readers pass on (/health is the primary app's): each needs a relay connection.
    answers: list = []

    def ask():
        try:
            answers.append(requests.get(f"{server.url}/health", timeout=15).status_code)
        except requests.RequestException as error:
            answers.append(repr(error))

    asking = [threading.Thread(target=ask) for _ in range(24)]
    for thread in asking:
        thread.start()
    for thread in asking:
        thread.join()
    assert answers == [200] * len(asking)
    assert not planted.exists(), "the relay unpickled a stranger's message"
    for stranger in strangers:
        stranger.settimeout(30)
        assert stranger.recv(1) == b"", "the relay drops a connection that does not prove it is a reader's"
        stranger.close()


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_readers_come_back_with_every_write_after_the_zygote_dies(start_server, where, tmp_path):
    """The readers die with the zygote and are forked by its successor (on disk, whose start removes
    the old query checkpoints but not the one the readers read, which their successors open)."""
    server = start_server("--empty", "--allow-anonymous-updates", "--read-processes", "3", *stored(where, tmp_path))
    first = wait_for_readers(server, 2)
    update(server, "INSERT DATA { <urn:counter> <urn:p:value> 1 }")
    (zygote,) = children(server.process.pid)
    os.kill(zygote, signal.SIGKILL)
    wait_until(lambda: not any(running(pid) for pid in [zygote, *first]))
    wait_until(lambda: len(readers(server)) == 2 and not set(readers(server)) & set(first))
    successors = wait_for_readers(server, 2)
    assert not set(successors) & set(first)
    for session in sessions(server):
        assert select_values(session.get(f"{server.url}/sparql", params=COUNTER, timeout=30), "v") == ["1"]
