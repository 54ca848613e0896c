"""Validation speed: pyshacl (the reference) against the shapes compiled to SPARQL, same run.

    python bench/validation.py                      # 10k and 100k, both engines, with 12 faults
    python bench/validation.py --sizes 10k,100k,1M  # 1M: compiled only (pyshacl would take an hour)
    python bench/validation.py --writes 50          # also time incremental re-checks of small writes

For each size it generates a registry (``bench/registry.py``), loads it beside the bundled graph,
validates with both engines and prints CPU seconds (this process; wall time beside the compiled
one), the ratio of CPU times and whether the two reports agree
(same focus node, component, path and value for every result). The reference includes its RDFS
step (``yokuryu.graph.validation.validate``), exactly as ``yokuryu build`` runs it; parsing is
timed apart. ``--writes N`` applies N seeded edits of about ten triples each to the compiled
store and times ``affected_focus_nodes`` + ``validate(focus=…)`` (p50 and p99, CPU and wall). Not a test:
numbers depend on the machine; see bench/README.md for how results are recorded.
"""
from __future__ import annotations

import argparse
import importlib.util
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pyoxigraph as ox
from rdflib import BNode, Graph
from rdflib.namespace import SH

from yokuryu.graph.build import load_inputs, user_graph
from yokuryu.graph.shacl_sparql import NOT_DATA, CompiledShapes
from yokuryu.graph.sparql_engine import LocalEngine
from yokuryu.graph.terms import rdflib_triples_to_quads
from yokuryu.graph.validation import validate
from yokuryu.ontology import ONTOLOGY_GRAPH, SHAPES_GRAPH

HERE = Path(__file__).resolve().parent
YK = "https://w3id.org/yokuryu/ontology#"


def _registry():
    spec = importlib.util.spec_from_file_location("registry_generator", HERE / "registry.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


registry = _registry()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k", help="comma-separated: 10k, 100k, 1M (default 10k,100k)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", type=int, default=12, help="known violations in each registry (default 12)")
    parser.add_argument("--writes", type=int, default=0, help="also time N incremental write checks per size")
    parser.add_argument("--no-reference", action="store_true", help="compiled engine only")
    parser.add_argument("--verbose", action="store_true", help="also print each write's CPU time")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for size in sizes:
        registry.persons_for_size(size)  # unknown sizes fail before any work

    bundled = load_inputs()
    shapes, ontology = bundled.graphs[SHAPES_GRAPH], bundled.graphs[ONTOLOGY_GRAPH]
    started = time.perf_counter()
    compiled = CompiledShapes.compile(shapes, ontology)
    compile_s = time.perf_counter() - started
    print(f"# Validation, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{_cores()} cores, Python {platform.python_version()}, load average {_load()}")
    print("# times are CPU seconds of this process (other sessions inflate wall time, not CPU time)")
    print(f"# compile: {len(compiled.checks)} queries in {compile_s:.2f} s")
    print(f"{'size':>5} {'triples':>9} {'results':>8} {'pyshacl s':>10} {'compiled s':>11} {'(wall)':>8} "
          f"{'ratio':>7}  same report")
    for size in sizes:
        _one_size(size, args, bundled, compiled)
    return 0


def _one_size(size, args, bundled, compiled) -> None:
    made = registry.generate(registry.persons_for_size(size), seed=args.seed, faults=args.faults)
    with tempfile.TemporaryDirectory(prefix="yokuryu-bench-") as tmp:
        path = Path(tmp) / f"registry-{size}.ttl"
        made.write(path)
        store = ox.Store()
        for name, graph in bundled.graphs.items():
            store.extend(rdflib_triples_to_quads(graph, name))
        store.bulk_load(path=str(path), format=ox.RdfFormat.TURTLE, to_graph=ox.NamedNode(str(user_graph(path))))
        engine = LocalEngine(store)
        started, cpu = time.perf_counter(), time.process_time()
        fast = compiled.validate(engine)
        fast_wall, fast_s = time.perf_counter() - started, time.process_time() - cpu
        reference_s, same = None, "-"
        if not args.no_reference and size != "1M":
            data = bundled.data_union()
            data.parse(path, format="turtle")
            cpu = time.process_time()
            reference = validate(data, shapes=bundled.graphs[SHAPES_GRAPH], ontology=bundled.graphs[ONTOLOGY_GRAPH])
            reference_s = time.process_time() - cpu
            same = "yes" if _keys(reference.graph) == _fast_keys(fast) else "NO"
        ratio = f"{reference_s / fast_s:6.1f}x" if reference_s else "      -"
        ref = f"{reference_s:10.2f}" if reference_s else f"{'-':>10}"
        print(f"{size:>5} {made.triple_count:>9} {len(fast.results):>8} {ref} {fast_s:11.2f} {fast_wall:8.2f} "
              f"{ratio}  {same}", flush=True)
        if args.writes:
            _writes(size, made, store, engine, compiled, args.writes, args.verbose)


def _writes(size, made, store, engine, compiled, count, verbose=False) -> None:
    """Seeded edits of ~10 triples (a new internee with a stay, or a changed stay), each re-checked."""
    graph = next(iter(store.named_graphs()))
    for g in store.named_graphs():
        if "user/registry" in g.value:
            graph = g
    graphs = [g.value for g in store.named_graphs() if g.value not in NOT_DATA]
    rng = random.Random(7)
    times, cpu_times, sizes = [], [], []
    yk = lambda local: ox.NamedNode(YK + local)  # noqa: E731
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    label = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
    reg = registry.BASE
    for n in range(count):
        person = ox.NamedNode(f"{reg}bench-person-{n}")
        stay = ox.NamedNode(f"{reg}bench-stay-{n}")
        camp = ox.NamedNode(f"{reg}camp-{rng.randrange(max(4, made.persons // 10))}")
        added = [ox.Triple(person, rdf_type, yk("Person")), ox.Triple(person, label, ox.Literal(f"Bench {n}", language="en")),
                 ox.Triple(person, yk("birthDate"), ox.Literal("1920", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#gYear"))),
                 ox.Triple(person, yk("memberOf"), ox.NamedNode(f"{reg}unit-0")),
                 ox.Triple(stay, rdf_type, yk("Internment")), ox.Triple(stay, label, ox.Literal(f"Stay {n}", language="en")),
                 ox.Triple(stay, yk("participant"), person), ox.Triple(stay, yk("heldIn"), camp),
                 ox.Triple(stay, yk("startDate"), ox.Literal("1945-09", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#gYearMonth"))),
                 ox.Triple(stay, yk("statedIn"), ox.NamedNode(f"{reg}register-volume-0#entry-0"))]
        started, cpu = time.perf_counter(), time.process_time()
        store.extend(ox.Quad(t.subject, t.predicate, t.object, graph) for t in added)
        # Named graphs given, as a write transaction knows them (listing them scans the store).
        affected = compiled.affected_focus_nodes(engine, added, [], data_graphs=graphs)
        report = compiled.validate(engine, data_graphs=graphs, focus=affected)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu)
        sizes.append(len(affected))
        # The registry's own faults may be among the affected nodes; a new internee adds none.
        assert all(r.focus not in (person, stay) for r in report.results), report.results
    def p50_p99(values):
        values = sorted(values)
        return statistics.median(values) * 1000, values[min(len(values) - 1, int(len(values) * 0.99))] * 1000

    if verbose:
        print("      per write (CPU ms):", " ".join(f"{t * 1000:.0f}" for t in cpu_times))
    (cpu50, cpu99), (wall50, wall99) = p50_p99(cpu_times), p50_p99(times)
    print(f"      {size} write re-check (10 triples, {count} writes): CPU p50 {cpu50:.0f} ms, p99 {cpu99:.0f} ms "
          f"(wall p50 {wall50:.0f} ms, p99 {wall99:.0f} ms); {statistics.mean(sizes):.0f} focus nodes re-checked "
          "on average", flush=True)


def _keys(results_graph: Graph) -> list:
    keys = []
    for r in results_graph.subjects(SH.resultSeverity, None):
        focus, value = results_graph.value(r, SH.focusNode), results_graph.value(r, SH.value)
        path = results_graph.value(r, SH.resultPath)
        keys.append((_plain(focus), str(results_graph.value(r, SH.sourceConstraintComponent)),
                     None if path is None else ("[path]" if isinstance(path, BNode) else str(path)), _plain(value)))
    return sorted(keys, key=str)


def _fast_keys(report) -> list:
    return sorted(((_plain(r.focus), r.component, None if r.path is None else
                    ("[path]" if isinstance(r.path, BNode) else str(r.path)), _plain(r.value)) for r in report.results),
                  key=str)


def _plain(term):
    if term is None:
        return None
    if isinstance(term, (BNode, ox.BlankNode)):
        return "[blank]"
    return getattr(term, "value", None) if isinstance(term, (ox.NamedNode, ox.Literal)) else str(term)


def _load() -> str:
    import os
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
