"""Reasoning at registry scale: the compiled OWL 2 RL rules (SPARQL on pyoxigraph) against owlrl.

    python bench/reasoning.py                      # 10k triples, with the reference engine
    python bench/reasoning.py --size 100k          # 100k (add --reference for owlrl: many minutes)
    python bench/reasoning.py --size 1M --writes 50

The data is the bundled graph plus the synthetic internee registry of ``bench/registry.py``
(seeded, no faults). In one run it measures:

- the compiled reasoner: compile, materialise (OWL-RL rounds, then the SHACL-AF rules), the
  triples inferred and the peak resident memory of this process;
- incremental writes on the materialised store: ``--writes`` removals of 10 asserted triples
  of one internee (delete and rederive), each followed by their re-addition (semi-naive);
  p50 and p99 of each;
- with ``--reference`` (default for 10k): ``yokuryu.graph.reasoning.infer`` (owlrl, the noise
  filter, the rules) on the same data, the ratio, and whether both inferred graphs are equal.

It prints a table and writes it to ``bench/RESULTS.md`` (its own section per size; other
sections are kept). Timing is wall-clock on a shared machine: compare within one run.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import random
import re
import resource
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pyoxigraph as ox

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
LOAD_AT_START = os.getloadavg()[0]
BEGIN, END = "<!-- bench/reasoning.py: begin -->", "<!-- bench/reasoning.py: end -->"


def _registry():
    spec = importlib.util.spec_from_file_location("registry_generator", HERE / "registry.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("10k", "100k", "1M"), default="10k")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--writes", type=int, default=20, help="incremental writes to time (each: remove, then add)")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=None,
                        help="also run owlrl (default: only for 10k)")
    parser.add_argument("--no-write", dest="write", action="store_false", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    reference = args.reference if args.reference is not None else args.size == "10k"

    from rdflib import Graph

    from yokuryu.graph.build import load_inputs
    from yokuryu.graph.owlrl_sparql import INFERRED, CompiledReasoner
    from yokuryu.graph.sparql_engine import LocalEngine
    from yokuryu.graph.terms import rdflib_triples_to_quads
    from yokuryu.ontology import GRAPH, ONTOLOGY_GRAPH, SHAPES_GRAPH

    registry_module = _registry()
    registry = registry_module.generate(registry_module.persons_for_size(args.size), seed=args.seed)
    inputs = load_inputs()
    ontology, shapes = inputs.graphs[ONTOLOGY_GRAPH], inputs.graphs[SHAPES_GRAPH]
    rows: list[tuple[str, str]] = []

    started = time.monotonic()
    store = ox.Store()
    store.bulk_extend(rdflib_triples_to_quads(ontology, ONTOLOGY_GRAPH))
    store.bulk_extend(rdflib_triples_to_quads(inputs.data_union(), GRAPH["bundled"]))
    registry_graph = ox.NamedNode(str(GRAPH["user/registry"]))
    store.bulk_load(registry.turtle().encode(), format=ox.RdfFormat.TURTLE, to_graph=registry_graph)
    asserted = len(store)
    rows.append(("asserted quads (ontology, bundled graph, registry)", f"{asserted:,}"))
    rows.append(("load into pyoxigraph", f"{time.monotonic() - started:.2f} s"))

    started = time.monotonic()
    reasoner = CompiledReasoner.compile(ontology, shapes)
    rows.append(("compile the rules", f"{time.monotonic() - started:.3f} s ({len(reasoner.rules)} rules, "
                 f"{len(reasoner.checks)} checks, {len(reasoner.shape_rules)} SHACL-AF rules)"))
    engine = LocalEngine(store)
    started, cpu = time.monotonic(), time.process_time()
    stats = reasoner.materialize(engine)
    fast_seconds = time.monotonic() - started
    rows.append(("materialise (compiled)", f"{fast_seconds:.2f} s wall, {time.process_time() - cpu:.2f} s CPU: "
                 f"OWL-RL {stats.seconds['owl-rl']:.2f} s in {stats.rounds} rounds, "
                 f"SHACL-AF rules {stats.seconds['rules']:.2f} s"))
    rows.append(("inferred triples", f"{stats.inferred:,} ({stats.rule_output} from the SHACL-AF rules)"))
    rows.append(("rate", f"{(asserted / fast_seconds):,.0f} asserted triples/s"))

    # The write path keeps its working copy in a fresh store after materialising (graph/fast.py):
    # a store that has just taken a whole materialisation answers small lookups slower.
    started, cpu = time.monotonic(), time.process_time()
    compact = ox.Store()
    compact.bulk_extend(store)
    store = compact
    engine = LocalEngine(store)
    reasoner._fact_graphs(engine, fresh=True)
    rows.append(("copy into a fresh store (as the write path does)",
                 f"{time.monotonic() - started:.2f} s wall, {time.process_time() - cpu:.2f} s CPU"))

    # Writes: 10 asserted triples of one internee, removed then added back.
    rng = random.Random(args.seed)
    persons = [registry_module.expand(s) for s, _ in registry.subjects if s.startswith("reg:person-")]
    removals, additions, removal_cpu, addition_cpu = [], [], [], []
    for _ in range(args.writes):
        person = ox.NamedNode(rng.choice(persons))
        quads = list(store.quads_for_pattern(person, None, None, registry_graph))
        quads += [q for stay in [q.object for q in quads if isinstance(q.object, ox.NamedNode)]
                  for q in store.quads_for_pattern(stay, None, None, registry_graph)]
        batch = rng.sample(quads, min(10, len(quads)))
        t, c = time.monotonic(), time.process_time()
        reasoner.remove(engine, batch)
        removals.append(time.monotonic() - t)
        removal_cpu.append(time.process_time() - c)
        t, c = time.monotonic(), time.process_time()
        reasoner.add(engine, batch)
        additions.append(time.monotonic() - t)
        addition_cpu.append(time.process_time() - c)
    rows.append((f"write: remove 10 triples (DRed), {args.writes} writes",
                 f"wall {_percentiles(removals)}; CPU {_percentiles(removal_cpu)}"))
    rows.append((f"write: add 10 triples (semi-naive), {args.writes} writes",
                 f"wall {_percentiles(additions)}; CPU {_percentiles(addition_cpu)}"))
    rows.append(("peak resident memory (this process)", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"))

    if reference:
        from yokuryu.graph.reasoning import infer
        data = inputs.data_union()
        data += Graph().parse(data=registry.turtle(), format="turtle")
        started = time.monotonic()
        inferred = infer(ontology, data, shapes)
        reference_seconds = time.monotonic() - started
        normalised = ox.Store()
        normalised.extend(rdflib_triples_to_quads(inferred, None))
        same = {ox.Triple(q.subject, q.predicate, q.object) for q in normalised} == {
            ox.Triple(q.subject, q.predicate, q.object)
            for q in store.quads_for_pattern(None, None, None, ox.NamedNode(INFERRED))}
        rows.append(("reference (owlrl + noise filter + rules)", f"{reference_seconds:.1f} s"))
        rows.append(("speed-up, same run", f"{reference_seconds / fast_seconds:.0f}×"))
        rows.append(("inferred graphs equal, after the writes", "yes" if same else "NO"))

    table = _table(args.size, rows)
    print(table)
    if args.write:
        _write_section(args.size, table)
        print(f"written to {RESULTS.relative_to(HERE.parent)}")
    return 0


def _percentiles(samples: list[float]) -> str:
    if not samples:
        return "-"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


def _table(size: str, rows: list[tuple[str, str]]) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    head = (f"Registry {size}, {when}, {platform.machine()} {platform.system()}, {os.cpu_count()} cores "
            f"(load average {LOAD_AT_START:.1f} at the start, {load:.1f} at the end), Python {platform.python_version()}, "
            f"pyoxigraph {ox.__version__}. CPU is this process's own time: on a shared machine it is "
            "the closer figure to an idle run.\n\n| measure | value |\n|---|---|\n")
    return head + "\n".join(f"| {name} | {value} |" for name, value in rows) + "\n"


def _write_section(size: str, table: str) -> None:
    """Replace this benchmark's section of bench/RESULTS.md for ``size``; keep everything else."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    section_begin, section_end = f"{BEGIN} {size}", f"{END} {size}"
    block = f"{section_begin}\n### Reasoning, registry {size}\n\n{table}\n{section_end}"
    pattern = re.compile(re.escape(section_begin) + r".*?" + re.escape(section_end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
