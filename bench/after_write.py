"""What a write costs the server afterwards: write latency on disk, the first pages after a write.

    python bench/after_write.py writes --size 100k --writes 50   # on-disk store, N authenticated updates
    python bench/after_write.py pages --size 1M                  # in memory: the first GET / after a write
    python bench/after_write.py lookups --size 1M                # in memory: what point lookups copy

``writes``: ``yokuryu load --store`` the registry file, ``yokuryu serve --empty --store`` it and
send ``--writes`` small ``INSERT DATA`` updates (with a token) one after another: their latency
(p50, p99) and the CPU the server's process tree spent per write.

``pages``: ``yokuryu serve --empty`` in memory, ready from a journal holding the registry; one
write; then ``GET /`` (whose topics and class counts walk the store once per state of the store),
timed, while another client sends point lookups back to back: their latency during the page
against before it, and the CPU the server process itself spent (the part that holds the GIL
every other request needs). Then ``GET /class`` and ``/.well-known/void`` the same way.

``lookups``: in memory as for ``pages``, a point lookup of every internee, one after another:
the server process's own memory (private pages: what in-process reads copy of the store it
shares with the query processes) and the tree's PSS before and after, with the default
``YOKURYU_IN_PROCESS_READS_MEMORY`` and with the limit off (0).

Generates the registry (``bench/registry.py``, seed 1) in a temporary folder, or reads
``DIR/<size>.ttl`` with ``--registry-dir DIR`` where it exists.
Only 127.0.0.1 is contacted; every server started is stopped.
"""
from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import endpoint  # noqa: E402  (its server start-up, journal and CPU helpers)

TOKEN = "bench-token"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("writes", "pages", "lookups"))
    parser.add_argument("--size", choices=("10k", "100k", "1M"), default="100k")
    parser.add_argument("--writes", type=int, default=50, help="updates to send (writes; default 50)")
    parser.add_argument("--registry-dir", metavar="DIR",
                        help="use DIR/<size>.ttl where it exists (bench/registry.py, seed 1) instead of generating it")
    parser.add_argument("--yokuryu-args", default="", help="extra 'yokuryu serve' flags")
    args = parser.parse_args()
    yokuryu = str(Path(sys.executable).parent / "yokuryu")
    with tempfile.TemporaryDirectory(prefix="yokuryu-after-write-") as tmp:
        tmp = Path(tmp)
        data = Path(args.registry_dir) / f"{args.size}.ttl" if args.registry_dir else None
        if data is None or not data.exists():
            data = tmp / "registry.ttl"
            subprocess.run([sys.executable, str(HERE / "registry.py"), "--size", args.size, "--seed", "1", "-o", data],
                           check=True)
        if args.what == "writes":
            return _writes(yokuryu, data, tmp, args)
        if args.what == "lookups":
            return _lookups_memory(yokuryu, data, tmp, args)
        return _pages(yokuryu, data, tmp, args)


def _writes(yokuryu: str, data: Path, tmp: Path, args) -> int:
    store = tmp / "store"
    subprocess.run([yokuryu, "load", "-q", "--store", store, data], check=True, stdout=subprocess.DEVNULL)
    server = endpoint._start_yokuryu(yokuryu, ["--store", str(store), "--update-token", TOKEN,
                                               *args.yokuryu_args.split()])
    try:
        connection = _connect(server)
        _update(connection, "INSERT DATA { <urn:bench:warm> <urn:bench:p> 0 }")
        cpu_before = endpoint._tree_cpu(server.process.pid)
        latencies = []
        for n in range(args.writes):
            started = time.perf_counter()
            _update(connection, f"INSERT DATA {{ <urn:bench:s{n}> <urn:bench:p> {n} }}")
            latencies.append((time.perf_counter() - started) * 1000)
        cpu = (endpoint._tree_cpu(server.process.pid) - cpu_before) / args.writes * 1000
        # Read-your-writes, checked once at the end: the last write is visible to a scan.
        body = _get(connection, "/sparql?query=" + urllib.parse.quote(
            "SELECT (COUNT(*) AS ?n) WHERE { ?s <urn:bench:p> ?o }"), "text/csv")
        seen = int(body.split()[-1])
    finally:
        server.stop()
    latencies.sort()
    print(f"{args.writes} updates into an on-disk {args.size} store: p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1 if len(latencies) > 1 else 0]:.1f} ms, "
          f"max {latencies[-1]:.1f} ms; server tree CPU {cpu:.1f} ms per write; "
          f"{seen} of {args.writes + 1} written triples seen by a scan after the last")
    return 0


def _as_journal(data: Path, tmp: Path) -> Path:
    """The registry as a journal of one write, from which an in-memory server starts (as in bench/endpoint.py)."""
    nquads, journal = tmp / "registry.nq", tmp / "registry.journal"
    endpoint._to_nquads(data, nquads)
    endpoint._journal_of(nquads, journal)
    nquads.unlink()
    return journal


def _pages(yokuryu: str, data: Path, tmp: Path, args) -> int:
    journal = _as_journal(data, tmp)
    server = endpoint._start_yokuryu(yokuryu, ["--journal", str(journal), "--update-token", TOKEN,
                                               *args.yokuryu_args.split()])
    try:
        connection = _connect(server)
        for path in ("/", "/class", "/.well-known/void"):
            _until_current(connection, path)  # the state before the write: worked out once
        for n, path in enumerate(("/", "/class", "/.well-known/void")):
            _update(connection, f"INSERT DATA {{ <urn:bench:{n}> a <urn:bench:Thing> }}")
            _page_alone(server, path)
            _update(connection, f"INSERT DATA {{ <urn:bench:{n}> a <urn:bench:Other> }}")
            _page_with_lookups(server, path)
    finally:
        server.stop()
    return 0


def _lookups_memory(yokuryu: str, data: Path, tmp: Path, args) -> int:
    import registry
    journal = _as_journal(data, tmp)
    persons = registry.persons_for_size(args.size)
    for limit in (None, "0"):
        env = {"YOKURYU_IN_PROCESS_READS_MEMORY": limit} if limit is not None else {}
        os.environ.update(env)
        try:
            server = endpoint._start_yokuryu(yokuryu, ["--journal", str(journal), *args.yokuryu_args.split()])
        finally:
            for name in env:
                del os.environ[name]
        try:
            time.sleep(3)  # the journal's compaction child, if any, ends
            before, tree_before = _private_mib(server.process.pid), endpoint._tree_memory(server.process.pid)[0]
            own_before = _own_cpu(server.process.pid)
            connection = _connect(server)
            for n in range(1, persons + 1):
                query = f"SELECT ?p ?o WHERE {{ <https://example.org/yokuryu-registry/person-{n}> ?p ?o }}"
                _get(connection, "/sparql?query=" + urllib.parse.quote(query), "application/sparql-results+json")
            own = (_own_cpu(server.process.pid) - own_before) / persons * 1000
            after, tree_after = _private_mib(server.process.pid), endpoint._tree_memory(server.process.pid)[0]
            time.sleep(25)  # a query process that copied pages is retired after 20 s idle
            idle = endpoint._tree_memory(server.process.pid)[0]
        finally:
            server.stop()
        shown = "default" if limit is None else "0 (no limit)"
        print(f"YOKURYU_IN_PROCESS_READS_MEMORY {shown}: {persons:,} point lookups; the server process's own "
              f"memory {before:.0f} -> {after:.0f} MiB, the tree's PSS {tree_before:.0f} -> {tree_after:.0f} MB, "
              f"{idle:.0f} MB 25 s later; server process CPU {own:.2f} ms per lookup", flush=True)
    return 0


def _private_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in text.splitlines()
               if line.startswith(("Private_Dirty:", "Private_Clean:"))) / 1024


def _view(server, path: str) -> tuple:
    """GET ``path``, then again until its figures are current: the status, the page's length, whether
    the first view was current, seconds to the first view and until current, the views that took,
    and the CPU seconds of the server process and of its tree meanwhile."""
    own_before = _own_cpu(server.process.pid)
    tree_before = endpoint._tree_cpu(server.process.pid)
    started = time.perf_counter()
    connection = _connect(server)
    status, length, current = _get_status(connection, path)
    page = time.perf_counter() - started
    polls = _until_current(connection, path) if not current else 0
    until_current = time.perf_counter() - started
    own = _own_cpu(server.process.pid) - own_before
    tree = endpoint._tree_cpu(server.process.pid) - tree_before
    return status, length, current, page, until_current, polls, own, tree


def _page_alone(server, path: str) -> None:
    """GET ``path`` until its figures are current, nothing else asked: the CPU it costs the server."""
    status, length, current, page, until_current, polls, own, tree = _view(server, path)
    print(f"GET {path} after a write, alone: {status}{'' if current else ' (figures not yet current)'} in "
          f"{page:.2f} s, current after {until_current:.2f} s ({polls} more views); CPU of the server process "
          f"{own:.2f} s, of its tree {tree:.2f} s", flush=True)


def _page_with_lookups(server, path: str) -> None:
    """GET ``path`` once while point lookups run back to back in another connection."""
    baseline = _lookups(server, 1.0)
    lookups: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=lambda: lookups.extend(_lookups(server, 600, stop)))
    thread.start()
    status, length, current, page, until_current, polls, own, tree = _view(server, path)
    stop.set()
    thread.join()
    print(f"GET {path} after a write: {status}{'' if current else ' (figures not yet current)'}, {length:,} bytes "
          f"in {page:.2f} s; current after {until_current:.2f} s ({polls} more views); server process CPU "
          f"{own:.2f} s (tree {tree:.2f} s); point lookups meanwhile: {len(lookups)}, p50 {_ms(lookups, 0.5)} ms, "
          f"max {_ms(lookups, 1.0)} ms (before: p50 {_ms(baseline, 0.5)} ms, max {_ms(baseline, 1.0)} ms)",
          flush=True)


def _until_current(connection: http.client.HTTPConnection, path: str) -> int:
    """View ``path`` every 0.2 s until its figures are the present state's; the views it took."""
    views = 0
    while True:
        views += 1
        status, _, current = _get_status(connection, path)
        if current:
            return views
        if views > 3000:
            raise RuntimeError(f"GET {path}: the figures never became current")
        time.sleep(0.2)


def _lookups(server, seconds: float, stop: threading.Event | None = None) -> list[float]:
    connection = _connect(server)
    deadline = time.monotonic() + seconds
    times = []
    n = 0
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        n += 1
        query = f"SELECT ?p ?o WHERE {{ <https://example.org/yokuryu-registry/person-{n}> ?p ?o }}"
        started = time.perf_counter()
        _get(connection, "/sparql?query=" + urllib.parse.quote(query), "application/sparql-results+json")
        times.append((time.perf_counter() - started) * 1000)
    return times


def _ms(times: list[float], q: float) -> str:
    if not times:
        return "-"
    ordered = sorted(times)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * q))]:.1f}"


def _own_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _connect(server) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)


def _update(connection: http.client.HTTPConnection, text: str) -> None:
    connection.request("POST", "/sparql", body=text.encode(), headers={
        "Content-Type": "application/sparql-update", "Authorization": f"Bearer {TOKEN}"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"update answered {response.status}: {body[:300]!r}")


def _get(connection: http.client.HTTPConnection, path: str, accept: str) -> str:
    connection.request("GET", path, headers={"Accept": accept})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path[:80]} answered {response.status}: {body[:300]!r}")
    return body.decode()


def _get_status(connection: http.client.HTTPConnection, path: str) -> tuple[int, int, bool]:
    """Status, length, and whether the figures shown are the present state's (no note, no Warning)."""
    connection.request("GET", path, headers={"Accept": "text/html"})
    response = connection.getresponse()
    body = response.read()
    current = response.status == 200 and b"figures-note" not in body and not response.getheader("Warning")
    return response.status, len(body), current


if __name__ == "__main__":
    sys.exit(main())
