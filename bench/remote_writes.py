"""Writes through Yokuryū into a remote SPARQL server (``oxigraph serve``) holding a registry:
requests, bytes and time per write, and Yokuryū's own memory.

    python bench/remote_writes.py --registry /path/to/100k.ttl [--writes 10]

Starts ``oxigraph serve --union-default-graph`` on a free port over a temporary directory,
builds the registry into it (``yokuryu build --remote-…``), then sends validated, reasoned
writes through the Python API (``yokuryu.graph.transaction.update`` on a
``RemoteKnowledgeStore``, what the endpoint calls), each adding one group of people (2 triples)
to a user graph, then one that adds and one that removes a comment, one that removes the last
group again (its inferred types go too), one that breaks a shape, and one that adds --bulk groups
and one that removes them.
Reports, per write: requests to the server, bytes sent and received, wall and CPU time of
this process, and the server's CPU time; and this process's peak RSS. The first write is
reported on its own (it compiled the checks, and with a local working copy it was the one
that read the server's data). Prints Markdown.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--writes", type=int, default=10)
    parser.add_argument("--label", default="")
    parser.add_argument("--bulk", type=int, default=300, help="groups added, then removed, in one write each")
    args = parser.parse_args()

    from yokuryu.graph.remote import RemoteEngine, RemoteKnowledgeStore
    from yokuryu.graph.transaction import RefusedWrite, update

    oxigraph = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or shutil.which("oxigraph")
    work = Path(tempfile.mkdtemp(prefix="remote-writes-"))
    port = free_port()
    server = subprocess.Popen([oxigraph, "serve", "--location", str(work / "db"), "--bind", f"127.0.0.1:{port}",
                               "--union-default-graph"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        built = subprocess.run([sys.executable, "-c", "import sys; from yokuryu.cli import main; sys.exit(main())", "build", "-q", "--remote-query", f"{url}/query",
                                "--remote-update", f"{url}/update", str(args.registry)], capture_output=True)
        if built.returncode != 0:
            sys.exit(built.stderr.decode())

        counts = {"requests": 0, "sent": 0, "received": 0}
        send = RemoteEngine._send

        def counting(self, target, method, body, content_type, **kwargs):
            counts["requests"] += 1
            counts["sent"] += len(body or b"")
            data, media_type = send(self, target, method, body, content_type, **kwargs)
            counts["received"] += len(data)
            return data, media_type

        RemoteEngine._send = counting
        engine = RemoteEngine(f"{url}/query", f"{url}/update", timeout=600)
        store = RemoteKnowledgeStore(engine)
        prefixes = ("PREFIX yk: <https://w3id.org/yokuryu/ontology#>\n"
                    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n")
        graph = "https://w3id.org/yokuryu/graph/user/bench-remote-writes"
        rows = []

        def one(text: str, refused: bool = False) -> dict:
            for key in counts:
                counts[key] = 0
            wall, cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_of(server.pid)
            try:
                update(store, text, engine="fast")
                outcome = "applied"
            except RefusedWrite:
                outcome = "refused"
            assert (outcome == "refused") == refused, outcome
            return {**counts, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                    "server_cpu": cpu_of(server.pid) - server_cpu}

        for i in range(args.writes + 1):
            rows.append(one(prefixes + f'INSERT DATA {{ GRAPH <{graph}> {{ <https://w3id.org/yokuryu/resource/'
                                       f'bench-group-{i}> a yk:GroupOfPeople ; rdfs:label "bench group {i}"@en }} }}'))
        comment = (f"<https://w3id.org/yokuryu/resource/bench-group-0> rdfs:comment \"a bench note\"@en")
        one(prefixes + f"INSERT DATA {{ GRAPH <{graph}> {{ {comment} }} }}")
        plain_removal = one(prefixes + f"DELETE DATA {{ GRAPH <{graph}> {{ {comment} }} }}")
        last = args.writes
        removal = one(prefixes + f'DELETE DATA {{ GRAPH <{graph}> {{ <https://w3id.org/yokuryu/resource/'
                                 f'bench-group-{last}> a yk:GroupOfPeople ; rdfs:label "bench group {last}"@en }} }}')
        refused = one(prefixes + f"INSERT DATA {{ GRAPH <{graph}> {{ <https://w3id.org/yokuryu/resource/"
                                 "bench-unsigned> a yk:Treaty } }", refused=True)
        groups = " ".join(f'<https://w3id.org/yokuryu/resource/bench-bulk-{i}> a yk:GroupOfPeople ; '
                          f'rdfs:label "bench bulk {i}"@en .' for i in range(args.bulk))
        bulk_added = one(prefixes + f"INSERT DATA {{ GRAPH <{graph}> {{ {groups} }} }}")
        bulk_removed = one(prefixes + f"DELETE DATA {{ GRAPH <{graph}> {{ {groups} }} }}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        def line(name: str, row: dict) -> str:
            return (f"| {args.label} | {args.registry.name} | {name} | {row['requests']:.0f} | {row['sent'] / 1024:.1f} | "
                    f"{row['received'] / 1024:.1f} | {row['wall'] * 1000:.0f} | {row['cpu'] * 1000:.0f} | "
                    f"{row['server_cpu'] * 1000:.0f} |")

        later = {key: statistics.median(row[key] for row in rows[1:]) for key in rows[0]}
        print("| code | upstream | write | requests | KiB sent | KiB received | wall ms | Yokuryū CPU ms | server CPU ms |")
        print("|---|---|---|---|---|---|---|---|---|")
        print(line("first", rows[0]))
        print(line(f"median of next {args.writes}", later))
        print(line("removal of a comment", plain_removal))
        print(line("removal of a group (2 triples)", removal))
        print(line("refused (shape)", refused))
        print(line(f"addition of {args.bulk} groups in one write", bulk_added))
        print(line(f"removal of those {args.bulk} groups in one write", bulk_removed))
        print(f"\nYokuryū process peak RSS: {peak:.0f} MiB")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
