"""What the write-side defences cost: parsing an RDF body the guarded way (scan, then a child
process under limits) against pyoxigraph's parser called directly, on the same bodies.

    python bench/untrusted_rdf.py [--repeat N]

Prints, per body, the median time of each way and their ratio, and the scan on its own.
"""
from __future__ import annotations

import argparse
import statistics
import time

import pyoxigraph as ox

from yokuryu.graph.untrusted_rdf import RdfLimits, parse_untrusted, prescan


def bodies() -> dict[str, tuple[bytes, ox.RdfFormat]]:
    def turtle(n: int) -> bytes:
        lines = ["@prefix ex: <https://example.org/> ."]
        lines += [f'ex:s{i} ex:p ex:o{i % 97} ; ex:label "thing {i} (a label)"@en .' for i in range(n)]
        return "\n".join(lines).encode()

    def jsonld(n: int) -> bytes:
        items = ",".join(f'{{"@id": "ex:s{i}", "ex:p": {{"@id": "ex:o{i % 97}"}}, "ex:label": "thing {i}"}}'
                         for i in range(n))
        return ('{"@context": {"ex": "https://example.org/"}, "@graph": [' + items + "]}").encode()

    return {
        "Turtle, 10 triples (0.6 KB)": (turtle(5), ox.RdfFormat.TURTLE),
        "Turtle, 2,000 triples (60 KB)": (turtle(1000), ox.RdfFormat.TURTLE),
        "Turtle, 30,000 triples (1 MB)": (turtle(15000), ox.RdfFormat.TURTLE),
        "JSON-LD, 3,000 triples (80 KB)": (jsonld(1000), ox.RdfFormat.JSON_LD),
    }


def median_seconds(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    limits = RdfLimits()
    print(f"{'body':34} {'direct':>9} {'guarded':>9} {'ratio':>6} {'scan':>8}")
    for name, (data, rdf_format) in bodies().items():
        direct = median_seconds(lambda: list(ox.parse(data, format=rdf_format)), args.repeat)
        guarded = median_seconds(lambda: parse_untrusted(data, rdf_format, limits), args.repeat)
        scan = median_seconds(lambda: prescan(data, rdf_format, limits), args.repeat)
        print(f"{name:34} {direct * 1000:7.1f}ms {guarded * 1000:7.1f}ms {guarded / direct:5.1f}x {scan * 1000:6.1f}ms")


if __name__ == "__main__":
    main()
