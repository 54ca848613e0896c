"""Endpoint throughput at registry scale: `yokuryu serve --empty` against `oxigraph serve`, same data, same run.

    python bench/endpoint.py                 # 100k triples
    python bench/endpoint.py --size 1M       # 1M triples (needs a few GB of memory)
    python bench/endpoint.py --size 10k --duration 3 --no-write   # a quick look

The data is the synthetic internee registry of ``bench/registry.py`` (seeded, so every run
serves the same triples). Three servers hold it in their default graph:

- ``oxigraph``: ``oxigraph serve --location DIR`` (the Rust server, on disk), loaded with
  ``oxigraph load``;
- ``ox-memory``: ``oxigraph serve`` in memory, loaded with one Graph Store POST;
- ``yk-memory``: ``yokuryu serve --empty`` in memory (queries in killable processes), ready
  from a journal holding the data as one write (``--journal``: the start-up time is measured);
- ``yk-disk``: ``yokuryu serve --empty --store PATH``, loaded with ``yokuryu load``;
- ``rdflib-ep`` (only when named in ``--servers``): ``rdflib-endpoint serve`` (PyPI
  ``rdflib-endpoint``, rdflib's in-memory store behind FastAPI/uvicorn) over the same Turtle
  file, the Python peer of the issue's "every mix ≥ 20× rdflib-endpoint" target; installed into
  this Python on demand (or ``pip install -e '.[bench]'``). Its table gets a line of each
  yokuryu mode's ratio to it.

Each mix of the issue is driven by ``wrk`` (Debian package ``wrk``; a Python multi-process
client if it is missing) with ``--connections`` connections for ``--duration`` seconds, the
queries of the mix taking turns, each time with other values (another internee, page or name:
up to 4,000 fillings of each template, all internees at 100k), so that no server gains from
seeing the same few texts again (``--warm-up S``: first S seconds of the same mix, unmeasured,
so that a cold start is left out: a fresh yokuryu query process copies the store's pages, at 1M
~0.2 s of CPU in one go after its first scan, and its read processes copy what their lookups touch):

- ``point``: every triple of one internee;
- ``point+join+path``: the point lookup; a 4-way join, per region the internees born in the
  same year as one internee (birth year ⋈ stays ⋈ camps ⋈ cities, counted by region), whose
  work grows with the registry as the issue's did; and a property path
  (``yk:registeredIn/yk:locatedIn+`` from an internee);
- ``all six``: those three and a GROUP BY over all stays (a page of the camps ranked by
  stays), a regex over all labels (a family and a given name), and an OPTIONAL + ORDER BY
  over all internees (a page of 100 from a given row).

It prints requests/s, p99 latency and the ratio to the oxigraph with the same kind of storage, the CPU
each request cost the server's whole process tree (the steadier figure on a shared machine), the memory of each
server's process tree (proportional set size, which counts pages shared between processes
once, and summed RSS, which counts them in every process), and writes the table to
``bench/RESULTS.md`` (its own section; other sections are kept). Only 127.0.0.1 is contacted.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import registry  # noqa: E402  (bench/registry.py: the sizes, the names it draws from)

RESULTS = HERE / "RESULTS.md"
MARK = "<!-- bench/endpoint.py {size}: {edge} -->"  # this benchmark's sections of RESULTS.md, one per size

PREFIXES = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
            "PREFIX yk: <https://w3id.org/yokuryu/ontology#> "
            "PREFIX reg: <https://example.org/yokuryu-registry/> ")

# One template per query, filled in per request (see _fill): {i} is an internee, {offset} a row to
# page from, {family} and {given} a name pair. Each varies over a large range so that every mix
# sends many distinct texts and no server gains from seeing the same few again.
POINT = "SELECT ?p ?o WHERE {{ reg:person-{i} ?p ?o }}"
# Per region, the internees of person i's birth year held there: birth year ⋈ stays ⋈ camps ⋈ cities
# (regions). Its work grows with the registry (about 1/28 of all internees share a birth year); a
# join anchored on one internee or one camp does not (a camp holds about 20 stays at every size).
JOIN = ("SELECT ?region (COUNT(DISTINCT ?other) AS ?internees) WHERE {{ reg:person-{i} yk:birthDate ?born . "
        "?other yk:birthDate ?born . ?stay yk:participant ?other ; yk:heldIn ?camp . "
        "?camp yk:locatedIn ?city . ?city yk:locatedIn ?region }} GROUP BY ?region")
PATH = "SELECT ?place WHERE {{ reg:person-{i} yk:registeredIn/yk:locatedIn+ ?place }}"
GROUP = ("SELECT ?camp (COUNT(?stay) AS ?stays) WHERE {{ ?stay yk:heldIn ?camp }} "
         "GROUP BY ?camp ORDER BY DESC(?stays) ?camp LIMIT 10 OFFSET {camp_offset}")
REGEX = ('SELECT ?person ?name WHERE {{ ?person rdfs:label ?name '
         'FILTER(REGEX(STR(?name), "^{family}.* {given}", "i")) }}')
OPTIONAL = ("SELECT ?person ?rank ?born WHERE {{ ?person a yk:Person OPTIONAL {{ ?person yk:militaryRank ?rank }} "
            "OPTIONAL {{ ?person yk:birthDate ?born }} }} ORDER BY ?born ?person LIMIT 100 OFFSET {offset}")
MIXES = {
    "point": [POINT],
    "point+join+path": [POINT, JOIN, PATH],
    "all six": [POINT, JOIN, PATH, GROUP, REGEX, OPTIONAL],
}
PEER = {"yk-memory": "ox-memory", "yk-disk": "oxigraph"}  # the oxigraph with the same kind of storage
VARIANTS = 4000  # at most this many fillings of each template per mix (all internees up to 100k)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("10k", "100k", "1M"), default="100k", help="registry size (default 100k)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per mix and server (default 10)")
    parser.add_argument("--warm-up", type=int, default=0, metavar="SECONDS",
                        help="before each measured run, drive the same mix this long unmeasured (default 0: "
                             "the measurement includes a cold start, e.g. a yokuryu query process's first "
                             "scans, which copy the store's pages)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--servers", default="oxigraph,ox-memory,yk-memory,yk-disk",
                        help="comma-separated subset of oxigraph, ox-memory, yk-memory, yk-disk, rdflib-ep")
    parser.add_argument("--yokuryu-args", default="", help="extra 'yokuryu serve' flags, e.g. '--workers 2'")
    parser.add_argument("--mixes", default=",".join(MIXES),
                        help=f"comma-separated subset of the mixes ({', '.join(MIXES)}; default all)")
    parser.add_argument("--no-write", dest="write", action="store_false", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    mixes = args.mixes.split(",")
    if unknown := [mix for mix in mixes if mix not in MIXES]:
        parser.error(f"unknown mix {unknown[0]!r}: choose from {', '.join(MIXES)}")
    if args.write and len(mixes) < len(MIXES):
        parser.error("--mixes with a subset of the mixes needs --no-write (the table in bench/RESULTS.md has them all)")

    bin_dir = Path(sys.executable).parent
    tools = {name: shutil.which(name, path=str(bin_dir)) or shutil.which(name) for name in ("yokuryu", "oxigraph")}
    if not all(tools.values()):
        print("needs the yokuryu and oxigraph commands: pip install -e '.[test]'", file=sys.stderr)
        return 2
    wanted = args.servers.split(",")
    wrk = shutil.which("wrk")

    with tempfile.TemporaryDirectory(prefix="yokuryu-bench-") as tmp:
        tmp = Path(tmp)
        data = tmp / "registry.ttl"
        started = time.monotonic()
        subprocess.run([sys.executable, str(HERE / "registry.py"), "--size", args.size, "--seed", "1", "-o", data],
                       check=True)
        nquads = tmp / "registry.nq"
        triples = _to_nquads(data, nquads)
        print(f"registry {args.size}: {triples} triples, generated in {time.monotonic() - started:.1f} s", flush=True)
        persons = registry.persons_for_size(args.size)

        servers: dict[str, Server] = {}
        try:
            if "oxigraph" in wanted:
                servers["oxigraph"] = _start_oxigraph(tools["oxigraph"], tmp, nquads)
            if "ox-memory" in wanted:
                servers["ox-memory"] = _start_oxigraph_in_memory(tools["oxigraph"], nquads)
            extra = args.yokuryu_args.split()
            if "yk-memory" in wanted:
                journal = tmp / "registry.journal"
                _journal_of(nquads, journal)
                servers["yk-memory"] = _start_yokuryu(tools["yokuryu"], ["--journal", str(journal), *extra])
                _wait_for_compaction(journal)
            if "yk-disk" in wanted:
                store = tmp / "yokuryu-store"
                load_started = time.monotonic()
                subprocess.run([tools["yokuryu"], "load", "--store", store, nquads], check=True,
                               stdout=subprocess.DEVNULL)
                loaded = time.monotonic() - load_started
                disk = _start_yokuryu(tools["yokuryu"], ["--store", str(store), *extra])
                disk.ready_seconds, disk.load_seconds = loaded + disk.ready_seconds, loaded  # load, then start
                servers["yk-disk"] = disk
            if "rdflib-ep" in wanted:
                servers["rdflib-ep"] = _start_rdflib_endpoint(data)
            for label, server in servers.items():
                print(f"{label:10} ready in {server.ready_text()}", flush=True)

            client = f"wrk, {args.connections} connections, {args.duration} s per mix" if wrk else \
                f"Python client ({args.connections} processes), {args.duration} s per mix"
            if args.warm_up:
                client += f" after {args.warm_up} s of it unmeasured"
            rows = []
            for mix in mixes:
                templates = MIXES[mix]
                paths = _paths(templates, persons)
                for label, server in servers.items():
                    _check(server, paths)
                    if args.warm_up:
                        warm = argparse.Namespace(**{**vars(args), "duration": args.warm_up})
                        _wrk(wrk, server, paths, warm, tmp) if wrk else _python_load(server, paths, warm)
                    cpu_before = _tree_cpu(server.process.pid)
                    rate, p99 = (_wrk(wrk, server, paths, args, tmp) if wrk else
                                 _python_load(server, paths, args))
                    cpu = (_tree_cpu(server.process.pid) - cpu_before) / max(1.0, rate * args.duration) * 1000
                    rows.append((mix, label, rate, p99, cpu))
                    print(f"{mix:16} {label:10} {rate:9.1f} req/s  p99 {p99:8.1f} ms  CPU {cpu:.3f} ms/request",
                          flush=True)
            memory = {label: _tree_memory(server.process.pid) for label, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()

    table = _table(rows, memory, servers, args, triples, client)
    print("\n" + table)
    if args.write:
        _write_results(table, args.size)
        print(f"written to {RESULTS.relative_to(HERE.parent)}")
    return 0


# --- servers ------------------------------------------------------------------------------------


class Server:
    def __init__(self, process: subprocess.Popen, url: str, ready_seconds: float):
        self.process, self.url, self.ready_seconds = process, url, ready_seconds
        self.load_seconds: float | None = None  # the part of ready_seconds spent loading a store before serving it

    def ready_text(self) -> str:
        if self.load_seconds is None:
            return f"{self.ready_seconds:.1f} s"
        return (f"{self.ready_seconds:.1f} s (load {self.load_seconds:.1f} s, "
                f"start {self.ready_seconds - self.load_seconds:.1f} s)")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start_oxigraph(oxigraph: str, tmp: Path, nquads: Path) -> Server:
    location = tmp / "oxigraph-store"
    started = time.monotonic()
    subprocess.run([oxigraph, "load", "--location", location, "--file", nquads], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    loaded = time.monotonic() - started
    port = _free_port()
    process = subprocess.Popen([oxigraph, "serve", "--location", location, "--bind", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/query"
    _wait_until_up(url, process)
    server = Server(process, url, time.monotonic() - started)
    server.load_seconds = loaded
    return server


def _start_oxigraph_in_memory(oxigraph: str, nquads: Path) -> Server:
    port = _free_port()
    started = time.monotonic()
    process = subprocess.Popen([oxigraph, "serve", "--bind", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/query"
    _wait_until_up(url, process)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/store", data=nquads.read_bytes(), method="POST",
                                     headers={"Content-Type": "application/n-quads"})
    with urllib.request.urlopen(request, timeout=900) as response:
        assert response.status in (200, 201, 204), response.status
    return Server(process, url, time.monotonic() - started)


def _start_yokuryu(yokuryu: str, flags: list[str]) -> Server:
    port = _free_port()
    started = time.monotonic()
    process = subprocess.Popen([yokuryu, "serve", "--empty", "--port", str(port), "--timeout", "120",
                                "--max-result-bytes", str(1 << 30), *flags],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/sparql"
    _wait_until_up(url, process)
    return Server(process, url, time.monotonic() - started)


# As its own 'rdflib-endpoint serve FILE' does (rdflib Dataset, default store, union default graph,
# uvicorn), but at /sparql like the other servers rather than at /.
_RDFLIB_ENDPOINT = """
import sys, uvicorn
from rdflib import Dataset
from rdflib_endpoint import SparqlEndpoint
data = Dataset(default_union=True)
data.parse(sys.argv[1], format="turtle")
uvicorn.run(SparqlEndpoint(graph=data, path="/sparql"), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def _start_rdflib_endpoint(turtle: Path) -> Server:
    """rdflib-endpoint over the registry file, installed into this Python if missing."""
    try:
        import rdflib_endpoint  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("installing rdflib-endpoint[cli] (the bench extra) for the comparison …", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "rdflib-endpoint[cli]>=0.5"], check=True)
    port = _free_port()
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", _RDFLIB_ENDPOINT, str(turtle), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/sparql"
    _wait_until_up(url, process)
    return Server(process, url, time.monotonic() - started)


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    probe = url + "?" + urllib.parse.urlencode({"query": "ASK {}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(probe, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _wait_for_compaction(journal: Path, timeout: float = 600) -> None:
    """Until the server has compacted the fresh journal into its snapshot (a forked child does it
    after the server is ready, seconds of CPU at 1M that would otherwise count against the first mix)."""
    from yokuryu.graph.journal import COMPACT_ABOVE
    if journal.stat().st_size <= COMPACT_ABOVE:
        return  # too short to be compacted
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with journal.open("rb") as handle:
            if b" snapshot=" in handle.readline():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{journal} was not compacted within {timeout:g} s")


# --- data -----------------------------------------------------------------------------------------


def _to_nquads(turtle: Path, out: Path) -> int:
    import pyoxigraph as ox
    count = 0
    with out.open("wb") as handle:
        quads = []
        for triple in ox.parse(path=str(turtle), format=ox.RdfFormat.TURTLE):
            quads.append(ox.Quad(triple.subject, triple.predicate, triple.object, ox.DefaultGraph()))
            count += 1
        ox.serialize(quads, handle, format=ox.RdfFormat.N_QUADS)
    return count


def _journal_of(nquads: Path, journal: Path) -> None:
    """A journal (see yokuryu.graph.journal) holding the data as one committed write."""
    with journal.open("wb") as out, nquads.open("rb") as source:
        out.write(b"# yokuryu journal 1 base=empty\nTX\n")
        for line in source:
            out.write(b"A " + line)
        out.write(b"TC\n")


def _paths(templates: list[str], persons: int) -> list[str]:
    """The request paths of a mix: each template in turn, each time with other values."""
    return [_path(t, k, persons) for k in range(min(VARIANTS, persons)) for t in templates]


def _path(template: str, variant: int, persons: int) -> str:
    return "?" + urllib.parse.urlencode({"query": PREFIXES + _fill(template, variant, persons)})


def _fill(template: str, variant: int, persons: int) -> str:
    """``template`` with the values of ``variant``: spread over the registry, the same every run."""
    person = (variant * 7919) % persons  # 7919 is prime: distinct internees for distinct variants
    camps = max(4, persons // 10)  # as bench/registry.py makes them
    family = registry.SURNAMES[variant % len(registry.SURNAMES)][0]
    given = registry.GIVEN[variant // len(registry.SURNAMES) % len(registry.GIVEN)][0]
    return template.format(i=person, offset=person, camp_offset=variant % max(1, camps - 10),
                           family=family, given=given)


def _check(server: Server, paths: list[str]) -> None:
    """Every query answers 200 with results before it is timed (a fast error is no result)."""
    for path in dict.fromkeys(paths[:6]):
        request = urllib.request.Request(server.url + path, headers={"Accept": "application/sparql-results+json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            body = json.loads(response.read())
            assert body["results"]["bindings"], f"{server.url}: no results for {path[:120]}"


# --- load generation ------------------------------------------------------------------------------


def _wrk(wrk: str, server: Server, paths: list[str], args, tmp: Path) -> tuple[float, float]:
    script = tmp / "mix.lua"
    base = urllib.parse.urlsplit(server.url).path
    lines = ",\n".join(json.dumps(base + p) for p in paths)
    script.write_text(f"""
local paths = {{
{lines}
}}
local i = 0
local threads = 0
-- Each of wrk's threads starts at its own place in the list, so no two send the same text together.
function setup(thread)
  thread:set("start", threads * 7919)
  threads = threads + 1
end
function init(args)
  i = (start or 0) % #paths
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {{["Accept"] = "application/sparql-results+json"}})
end
""")
    root = server.url[:server.url.index(base)]
    result = subprocess.run([wrk, "-t", "2", "-c", str(args.connections), "-d", f"{args.duration}s", "--latency",
                             "--timeout", "30s", "-s", str(script), root], capture_output=True, text=True, check=True)
    out = result.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = _milliseconds(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{server.url}: {errors.group(1)} error answers during the run:\n{out}")
    return rate, p99


def _milliseconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _python_load(server: Server, paths: list[str], args) -> tuple[float, float]:
    """The fallback client: one process per connection, each with its own keep-alive connection."""
    deadline = time.time() + args.duration
    with multiprocessing.Pool(args.connections) as pool:
        parts = pool.starmap(_client, [(server.url, paths[k::args.connections] or paths, deadline)
                                        for k in range(args.connections)])
    latencies = sorted(x for part in parts for x in part)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else float("nan")
    return len(latencies) / args.duration, p99


def _client(url: str, paths: list[str], deadline: float) -> list[float]:
    import http.client
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    latencies, i = [], 0
    while time.time() < deadline:
        started = time.perf_counter()
        connection.request("GET", parts.path + paths[i % len(paths)],
                           headers={"Accept": "application/sparql-results+json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
        latencies.append(time.perf_counter() - started)
        i += 1
    return latencies


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root``'s process tree, ended children included.

    On a machine shared with other work, CPU per request is the steadier figure: requests/s
    fall when others take the cores, the CPU a request costs does not (much).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime, stime, and those of reaped children
    return total / ticks


# --- memory -----------------------------------------------------------------------------------------


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _tree_memory(root: int) -> tuple[float, float, int]:
    """(PSS MB, summed RSS MB, processes) of ``root`` and all its descendants."""
    pss = rss = 0
    tree = _tree(root)
    for pid in tree:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        pss += int(re.search(r"^Pss:\s+(\d+)", text, re.MULTILINE).group(1))
        rss += int(re.search(r"^Rss:\s+(\d+)", text, re.MULTILINE).group(1))
    return pss / 1024, rss / 1024, len(tree)


# --- report -------------------------------------------------------------------------------------------


def _table(rows, memory, servers, args, triples, client) -> str:
    by = {(mix, label): (rate, p99) for mix, label, rate, p99, _ in rows}
    cpu = {(mix, label): value for mix, label, _, _, value in rows}
    mixes = list(dict.fromkeys(mix for mix, *_ in rows))
    labels = list(servers)
    head = "| mix | " + " | ".join(f"{label} req/s (p99)" for label in labels) + " |"
    lines = [head, "|---" * (len(labels) + 1) + "|"]
    for mix in mixes:
        cells = []
        for label in labels:
            rate, p99 = by[(mix, label)]
            base = by.get((mix, PEER.get(label, ""))) or by.get((mix, "oxigraph"))
            ratio = f", {rate / base[0]:.2f}×" if base and not label.startswith("ox") else ""
            cells.append(f"{rate:,.1f} ({_ms(p99)}{ratio})")
        lines.append(f"| {mix} | " + " | ".join(cells) + " |")
    lines += _against_rdflib_endpoint(by, labels, mixes)
    lines.append("")
    lines.append("| CPU per request (ms, the server's whole process tree) | " + " | ".join(labels) + " |")
    lines.append("|---" * (len(labels) + 1) + "|")
    for mix in mixes:
        lines.append(f"| {mix} | " + " | ".join(f"{cpu[(mix, label)]:.3f}" for label in labels) + " |")
    lines.append("")
    lines.append("| server | ready in | PSS of the process tree | RSS summed | processes |")
    lines.append("|---|---|---|---|---|")
    for label in labels:
        pss, rss, count = memory[label]
        lines.append(f"| {label} | {servers[label].ready_text()} | {pss:,.0f} MB | {rss:,.0f} MB | {count} |")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (f"Registry {args.size} ({triples:,} triples), {client}; {os.cpu_count()} cores shared with the "
            f"client; measured {when} by `python bench/endpoint.py --size {args.size}"
            + (f" --yokuryu-args '{args.yokuryu_args}'" if args.yokuryu_args else "")
            + (f" --warm-up {args.warm_up}" if args.warm_up else "")
            + (f" --mixes {args.mixes}" if len(mixes) < len(MIXES) else "") + "`. "
            "Ratios (×) are to `oxigraph serve` in the same run with the same kind of storage: yk-memory "
            "to ox-memory, yk-disk to oxigraph on disk. Memory after the run.")
    return note + "\n\n" + "\n".join(lines)


def _against_rdflib_endpoint(by: dict, labels: list[str], mixes: list[str]) -> list[str]:
    """Each yokuryu mode's req/s as a multiple of rdflib-endpoint's, per mix (the issue asks ≥ 20×)."""
    ours = [label for label in labels if label.startswith("yk")]
    if "rdflib-ep" not in labels or not ours:
        return []
    lines = ["", "| mix | " + " | ".join(f"{label} ÷ rdflib-ep" for label in ours) + " |",
             "|---" * (len(ours) + 1) + "|"]
    for mix in mixes:
        peer = by[(mix, "rdflib-ep")][0]
        cells = [f"{by[(mix, label)][0] / peer:,.1f}×" if peer else "∞ (rdflib-ep answered none)" for label in ours]
        lines.append(f"| {mix} | " + " | ".join(cells) + " |")
    return lines


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _write_results(table: str, size: str) -> None:
    """Replace this benchmark's section of bench/RESULTS.md for ``size``; keep everything else."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    section_begin, section_end = MARK.format(size=size, edge="begin"), MARK.format(size=size, edge="end")
    block = f"{section_begin}\n### Endpoint throughput, registry {size}\n\n{table}\n{section_end}"
    pattern = re.compile(re.escape(section_begin) + r".*?" + re.escape(section_end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
