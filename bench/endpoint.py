"""Endpoint throughput: `yokuryu serve` against `oxigraph serve` on the same data, same run.

Two yokuryu servers are measured: ``yk-disk`` (``--store PATH``, queries in threads) and
``yk-memory`` (the default in-memory store, queries in killable processes).

    python bench/endpoint.py [--requests 400] [--clients 8] [--scale 0]

Both servers hold the bundled build (plus ``--scale`` N synthetic internee records, to see how
the ratio moves with size). Each query of the mix is sent ``--requests`` times by ``--clients``
concurrent HTTP clients; the table shows requests/s, median and p99 latency for each server and
the ratio yokuryu/oxigraph (1.0 = as fast as the Rust server; higher is better for us).
Every request loop is bounded in count and goes only to 127.0.0.1.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

PREFIXES = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX yk: <https://w3id.org/yokuryu/ontology#>
PREFIX res: <https://w3id.org/yokuryu/resource/>
"""

# A realistic mix: a point lookup, a label search, an aggregate, a join over provenance.
QUERIES = {
    "lookup": "SELECT ?p ?o WHERE { res:soviet-union ?p ?o }",
    "label search": 'SELECT ?s ?label WHERE { ?s rdfs:label ?label FILTER(CONTAINS(LCASE(STR(?label)), "soviet")) }',
    "count per class": "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?n)",
    "provenance join": "SELECT ?thing ?text WHERE { ?thing yk:statedIn ?sentence . ?sentence yk:sentenceText ?text }",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="requests per query and server (default 400)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--scale", type=int, default=0, help="synthetic internee records to add (default 0)")
    args = parser.parse_args()

    bin_dir = Path(sys.executable).parent
    yokuryu = shutil.which("yokuryu", path=str(bin_dir)) or shutil.which("yokuryu")
    oxigraph = shutil.which("oxigraph", path=str(bin_dir)) or shutil.which("oxigraph")
    if not yokuryu or not oxigraph:
        print("needs the yokuryu and oxigraph commands: pip install -e '.[test]'", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        extra = []
        if args.scale:
            extra.append(_synthetic(tmp / "synthetic.nt", args.scale))
        store = tmp / "yokuryu-store"
        subprocess.run([yokuryu, "build", "--store", store, *extra], check=True, stdout=subprocess.DEVNULL)
        dump = tmp / "dump.nq"
        subprocess.run([yokuryu, "export", "--store", store, "--format", "nquads", "-o", dump], check=True,
                       stderr=subprocess.DEVNULL)
        oxi_dir = tmp / "oxigraph-store"
        subprocess.run([oxigraph, "load", "--location", oxi_dir, "--file", dump], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        quads = sum(1 for _ in dump.open("rb"))

        oxi_port = _free_port()
        servers = {
            "oxigraph": (subprocess.Popen([oxigraph, "serve-read-only", "--location", oxi_dir, "--bind",
                                           f"127.0.0.1:{oxi_port}", "--union-default-graph"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                         f"http://127.0.0.1:{oxi_port}/query"),
        }
        # The two ways yokuryu serves: on disk (query threads) and in memory (query processes).
        disk_port, memory_port = _free_port(), _free_port()
        servers["yk-disk"] = (subprocess.Popen([yokuryu, "serve", "--store", store, "--port", str(disk_port)],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                              f"http://127.0.0.1:{disk_port}/sparql")
        servers["yk-memory"] = (subprocess.Popen([yokuryu, "serve", "--port", str(memory_port), *extra],
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                                f"http://127.0.0.1:{memory_port}/sparql")
        try:
            for _, url in servers.values():
                _wait_until_up(url)
            print(f"{quads} quads; {args.requests} requests per query and server, {args.clients} clients; "
                  f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
            print(f"{'query':18} {'server':9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}   ratio yokuryu/oxigraph")
            for name, query in QUERIES.items():
                measured = {label: _measure(url, PREFIXES + query, args.requests, args.clients)
                            for label, (_, url) in servers.items()}
                for label, (rate, p50, p99) in measured.items():
                    ratio = ""
                    if label != "oxigraph":
                        ratio = f"{rate / measured['oxigraph'][0]:.2f}x throughput"
                    print(f"{name:18} {label:9} {rate:8.0f} {p50:8.1f} {p99:8.1f}   {ratio}")
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=10)
    return 0


def _measure(url: str, query: str, count: int, clients: int) -> tuple[float, float, float]:
    session = requests.Session()
    headers = {"Accept": "application/sparql-results+json"}

    def one(_):
        started = time.perf_counter()
        response = session.get(url, params={"query": query}, headers=headers, timeout=60)
        response.raise_for_status()
        return time.perf_counter() - started

    for _ in range(5):  # warm-up
        one(None)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return count / elapsed, statistics.median(latencies) * 1000, p99 * 1000


def _synthetic(path: Path, count: int) -> str:
    """Synthetic, clearly marked records (example.org IRIs) that only add volume."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            s = f"<https://example.org/synthetic/internee-{i}>"
            out.write(f'{s} <http://www.w3.org/2000/01/rdf-schema#label> "synthetic internee {i}" .\n')
            out.write(f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://xmlns.com/foaf/0.1/Person> .\n")
    return str(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, params={"query": "ASK {}"}, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


if __name__ == "__main__":
    sys.exit(main())
