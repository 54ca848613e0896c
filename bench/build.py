"""Build and write benchmark: both engines on generated registries, in one run; writes bench/RESULTS.md.

    python bench/build.py                 # 10k and 100k, both engines, writes into the 100k store
    python bench/build.py --with-1m       # also 1M (fast engine; reference only with --reference-1m)
    python bench/build.py --sizes 10k --writes 20 --results /tmp/RESULTS.md
    python bench/build.py --sizes 10k 100k 1M --registry-dir REGISTRY_DIR --reference-timeout 600
                                          # the issue's whole table, registries made beforehand
    python bench/build.py --sizes 10k 100k --engines fast --writes 5    # a quick look at the fast engine

Each build runs in a fresh child process (so its peak memory is its own: ``ru_maxrss``), with
the build cache off, from a registry file made by ``bench/registry.py``. A build is parse →
validate → reason → rules → describe → store, each stage timed (the stages the fast engine
merges are reported where they run). The write test builds the largest store with the fast
engine and then times ``yokuryu.graph.transaction.update`` for ``--writes`` validated,
reasoned writes of 10 triples each, and checks that a write which breaks a shape is refused
and changes nothing.

Targets (issue #9): 1M build under 60 s and 4 GiB; 100k at least 20× faster than the reference
engines; a 10-triple write p50 under 0.5 s and p99 under 1 s.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import registry  # noqa: E402  (bench/registry.py, beside this file)

RESULTS = HERE / "RESULTS.md"
BEGIN, END = "<!-- bench/build.py: generated from here -->", "<!-- bench/build.py: generated up to here -->"
TARGETS = {"build_1m_seconds": 60, "build_1m_gib": 4, "speedup_100k": 20, "write_p50": 0.5, "write_p99": 1.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["10k", "100k"], choices=sorted(registry.SIZES),
                        help="registry sizes to build (default 10k 100k)")
    parser.add_argument("--with-1m", action="store_true", help="also build the 1M registry (minutes; not for CI)")
    parser.add_argument("--engines", nargs="+", default=["fast", "reference"], choices=("fast", "reference"),
                        help="engines to build with (default both; the reference engines take minutes at 100k)")
    parser.add_argument("--reference-1m", action="store_true", help="also run the reference engines on 1M (hours)")
    parser.add_argument("--reference-timeout", type=float, default=1800,
                        help="stop a reference build after this many seconds and report a lower bound (default 1800)")
    parser.add_argument("--writes", type=int, default=50, help="10-triple writes to time (default 50)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--registry-dir", metavar="DIR",
                        help="use DIR/<size>.ttl where it exists (made by bench/registry.py with the same seed) "
                             "instead of generating the registry in a temporary folder")
    parser.add_argument("--results", default=str(RESULTS), help="the Markdown file to write (default bench/RESULTS.md)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "ENGINE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child, writes=args.writes)

    sizes = list(dict.fromkeys(args.sizes + (["1M"] if args.with_1m else [])))
    rows, writes = [], None
    with tempfile.TemporaryDirectory(prefix="yokuryu-bench-") as tmp:
        files = {}
        for size in sizes:
            given = Path(args.registry_dir) / f"{size}.ttl" if args.registry_dir else None
            if given is not None and given.is_file():
                data, triples = given, _count_triples(given)
            else:
                data = Path(tmp) / f"registry-{size}.ttl"
                made = registry.generate(registry.persons_for_size(size), seed=args.seed)
                made.write(data)
                triples = made.triple_count
            files[size] = data
            print(f"{size}: {triples:,} triples in {data}", file=sys.stderr)
            for engine in args.engines:
                if engine == "reference" and size == "1M" and not args.reference_1m:
                    continue
                timeout = args.reference_timeout if engine == "reference" else None
                result = run_child("build", engine, data, timeout=timeout)
                result.update(size=size, engine=engine, triples=triples)
                rows.append(result)
                print(f"  {engine:<9} {_seconds(result)}  {result.get('peak_mib', 0):,.0f} MiB", file=sys.stderr)
        largest = sizes[-1]
        writes = run_child("writes", "fast", files[largest], timeout=None, writes=args.writes)
        writes.update(size=largest)
    write_results(Path(args.results), rows, writes, args)
    print(f"wrote {args.results}", file=sys.stderr)
    return 0


# --- children: one build, or the write test, per process --------------------------------------


def run_child(kind: str, engine: str, data: Path, *, timeout: float | None, writes: int = 0) -> dict:
    command = [sys.executable, __file__, "--child", kind, engine, str(data), "--writes", str(writes)]
    env = {**os.environ, "YOKURYU_CACHE_DIR": "off"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"timed_out": timeout}
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(kind: str, engine: str, data: str, *, writes: int) -> int:
    from yokuryu.graph.pipeline import prepare_store
    from yokuryu.graph.progress import Progress

    progress = Progress()
    started, cpu_started = time.monotonic(), time.process_time()
    store, result = prepare_store(None, [data], rebuild=True, engine=engine, progress=progress)
    total = time.monotonic() - started
    if result is None or not result.ok:
        print(result.report.as_text()[:2000] if result else "no build", file=sys.stderr)
        return 1
    out = {"seconds": total, "cpu_seconds": time.process_time() - cpu_started,
           "stages": [dataclasses.asdict(t) for t in progress.timings], "quads": result.quad_count(),
           "engine_used": result.engine, "peak_mib": _peak_mib()}
    if kind == "writes":
        del result  # the write test measures the store, not the build's copy of its quads
        out.update(time_writes(store, writes, engine))
    print(json.dumps(out))
    return 0


def time_writes(store, count: int, engine: str) -> dict:
    """Latencies of ``count`` valid 10-triple writes, and one refused write that must change nothing."""
    from yokuryu.graph.transaction import RefusedWrite, update

    graph = "https://w3id.org/yokuryu/graph/user/bench-writes"
    # The first write makes the fast engine's working copy (one reasoning pass): timed apart.
    started = time.monotonic()
    update(store, _ten_triples(graph, count + 1), engine=engine)
    first = time.monotonic() - started
    latencies, cpu = [], []
    for n in range(count):
        started, cpu_started = time.monotonic(), time.process_time()
        outcome = update(store, _ten_triples(graph, n), engine=engine)
        latencies.append(time.monotonic() - started)
        cpu.append(time.process_time() - cpu_started)
        assert outcome.checked, outcome
    before = len(store)
    started = time.monotonic()
    try:
        update(store, _ten_triples(graph, count, broken=True), engine=engine)
        refused = False
    except RefusedWrite:
        refused = True
    refusal_seconds = time.monotonic() - started
    latencies.sort()
    cpu.sort()
    return {"writes": count, "first": first, "p50": statistics.median(latencies), "p99": _percentile(latencies, 0.99),
            "cpu_p50": statistics.median(cpu), "cpu_p99": _percentile(cpu, 0.99),
            "max": latencies[-1], "refused_ok": refused and len(store) == before,
            "refusal_seconds": refusal_seconds, "store_quads": len(store), "peak_mib": _peak_mib()}


def _ten_triples(graph: str, n: int, *, broken: bool = False) -> str:
    """An estimate and its citation: 10 triples; ``broken`` leaves out the required holder."""
    e, c = f"<https://example.org/bench/estimate-{n}>", f"<https://example.org/bench/citation-{n}>"
    holder = "" if broken else " yk:heldBy <https://example.org/bench/archive> ;"
    return ("PREFIX yk: <https://w3id.org/yokuryu/ontology#>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
            f"INSERT DATA {{ GRAPH <{graph}> {{\n"
            f"{e} a yk:Estimate ; rdfs:label \"bench estimate {n}\"@en ; yk:estimatedValue {n + 1} ;{holder}"
            f" yk:basis \"bench register {n}\"@en ; yk:citation {c} .\n"
            f"{c} a yk:Citation ; rdfs:label \"bench folder {n}\"@en ; yk:confidence yk:MediumConfidence ;"
            f" <http://purl.org/dc/terms/source> <https://example.org/bench/folder-{n}> .\n}} }}")


def _count_triples(path: Path) -> int:
    import pyoxigraph as ox
    store = ox.Store()
    store.bulk_load(path=str(path), format=ox.RdfFormat.TURTLE)
    return len(store)


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- RESULTS.md ------------------------------------------------------------------------------------


STAGES = ("parse", "load", "validate", "reason", "rules", "describe", "store")


def write_results(path: Path, rows: list[dict], writes: dict | None, args) -> None:
    lines = [BEGIN, "", f"Run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"`python bench/build.py {' '.join(sys.argv[1:])}`".rstrip(), "", f"Machine: {_machine()}", "",
             "### Builds", "",
             "Each build in its own process, build cache off. Each stage: wall-clock seconds, and in brackets the "
             "CPU seconds of the process (all its threads; the closer figure on a shared machine). "
             "The fast engine's `reason` includes the SHACL-AF rules; `load` and `describe` are its own steps.", "",
             "| size | triples | engine | total s (CPU) | peak MiB | " + " | ".join(STAGES) + " | reference / fast |",
             "|---|---:|---|---:|---:|" + "---:|" * len(STAGES) + "---:|"]
    fast_seconds = {r["size"]: r.get("seconds") for r in rows if r["engine"] == "fast"}
    for r in rows:
        stages = {t["name"]: t for t in r.get("stages", [])}
        cells = [f"{stages[s]['seconds']:.2f} ({stages[s]['cpu_seconds']:.2f})" if s in stages else "–" for s in STAGES]
        ratio = ""
        if r["engine"] == "reference" and fast_seconds.get(r["size"]):
            if "seconds" in r:
                ratio = f"{r['seconds'] / fast_seconds[r['size']]:.1f}×"
            elif "timed_out" in r:
                ratio = f"> {r['timed_out'] / fast_seconds[r['size']]:.1f}×"
        engine = r["engine"] + ("" if r.get("engine_used", r["engine"]) == r["engine"] else f" (ran {r['engine_used']})")
        total = _seconds(r) + (f" ({r['cpu_seconds']:.1f})" if "cpu_seconds" in r else "")
        lines.append(f"| {r['size']} | {r['triples']:,} | {engine} | {total} | "
                     f"{r.get('peak_mib', 0):,.0f} | " + " | ".join(cells) + f" | {ratio} |")
    lines += ["", "Memory: the process's peak resident set (MiB) at the end of each stage (a high-water mark, so "
              "a stage's own need is where the figure jumps):", "",
              "| size | engine | " + " | ".join(STAGES) + " |", "|---|---|" + "---:|" * len(STAGES)]
    for r in rows:
        stages = {t["name"]: t for t in r.get("stages", [])}
        if stages:
            lines.append(f"| {r['size']} | {r['engine']} | "
                         + " | ".join(f"{stages[s]['peak_mib']:,.0f}" if s in stages else "–" for s in STAGES) + " |")
    lines += ["", "### Writes", ""]
    if writes and "p50" in writes:
        lines += [f"{writes['writes']} validated, reasoned writes of 10 triples each into the {writes['size']} store "
                  f"({writes['store_quads']:,} quads at the end), fast engine, after a first write that makes the "
                  "working copy (timed apart):", "",
                  "| first write s | p50 s | p99 s | max s | CPU p50 s | CPU p99 s | refused write changed nothing | refusal s |",
                  "|---:|---:|---:|---:|---:|---:|---|---:|",
                  f"| {writes.get('first', float('nan')):.2f} | {writes['p50']:.3f} | {writes['p99']:.3f} | {writes['max']:.3f} | "
                  f"{writes.get('cpu_p50', float('nan')):.3f} | {writes.get('cpu_p99', float('nan')):.3f} | "
                  f"{'yes' if writes['refused_ok'] else 'NO'} | {writes['refusal_seconds']:.3f} |"]
    else:
        lines.append(f"The write test did not run to the end: {writes}")
    lines += ["", "### Against the targets", "", *_verdicts(rows, writes), "", END]
    # Only this benchmark's section is replaced; other benchmarks' sections and notes are kept.
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if BEGIN in old and END in old:
        head, tail = old.split(BEGIN)[0], old.split(END, 1)[1]
    else:
        head, tail = old.rstrip("\n") + "\n\n## Build and writes (`bench/build.py`, issue #9)\n\n", "\n"
    path.write_text(head + "\n".join(lines) + tail, encoding="utf-8")


def _verdicts(rows: list[dict], writes: dict | None) -> list[str]:
    out = []
    by = {(r["size"], r["engine"]): r for r in rows}
    fast_1m = by.get(("1M", "fast"))
    if fast_1m and "seconds" in fast_1m:
        ok = fast_1m["seconds"] < TARGETS["build_1m_seconds"] and fast_1m["peak_mib"] < TARGETS["build_1m_gib"] * 1024
        out.append(f"- 1M build: {fast_1m['seconds']:.1f} s ({fast_1m.get('cpu_seconds', float('nan')):.1f} s of CPU), "
                   f"{fast_1m['peak_mib'] / 1024:.2f} GiB (target < 60 s and < 4 GiB): {'met' if ok else 'NOT met'}"
                   + ("" if ok or fast_1m.get("cpu_seconds", 60) >= 60 else
                      "; its CPU time is under 60 s, so the wall time is the shared machine's (see the load average)"))
    else:
        out.append("- 1M build: not run in this run (add --with-1m)" if not fast_1m else f"- 1M build: {fast_1m}")
    largest = next((by[(size, "fast")] for size in ("1M", "100k", "10k") if "stages" in by.get((size, "fast"), {})), None)
    if largest is not None:
        cpu = sum(t["cpu_seconds"] for t in largest["stages"]) or 1
        shares = sorted(largest["stages"], key=lambda t: -t["cpu_seconds"])
        out.append(f"- where the {largest['size']} fast build's CPU time goes: "
                   + ", ".join(f"{t['name']} {100 * t['cpu_seconds'] / cpu:.0f} %" for t in shares if t["cpu_seconds"] >= 0.005 * cpu))
    fast, ref = by.get(("100k", "fast")), by.get(("100k", "reference"))
    if fast and ref and "seconds" in fast:
        if "seconds" in ref:
            speedup = ref["seconds"] / fast["seconds"]
            out.append(f"- 100k speed-up: {speedup:.1f}× (target ≥ 20×): {'met' if speedup >= 20 else 'NOT met'}")
        elif "timed_out" in ref:
            out.append(f"- 100k speed-up: more than {ref['timed_out'] / fast['seconds']:.1f}× "
                       "(the reference build was stopped at the timeout)")
    if writes and "p50" in writes:
        ok = writes["p50"] < TARGETS["write_p50"] and writes["p99"] < TARGETS["write_p99"]
        out.append(f"- writes into the {writes['size']} store: p50 {writes['p50']:.3f} s, p99 {writes['p99']:.3f} s "
                   f"(target p50 < 0.5 s, p99 < 1 s): {'met' if ok else 'NOT met'}")
    return out


def _seconds(r: dict) -> str:
    if "seconds" in r:
        return f"{r['seconds']:.1f}"
    if "timed_out" in r:
        return f"> {r['timed_out']:.0f} (stopped)"
    return f"failed: {r.get('failed')}"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
        memory = f"{pages:.0f} GiB RAM"
    except (ValueError, OSError):
        memory = "RAM unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import pyoxigraph
    return (f"{cpu}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, pyoxigraph {pyoxigraph.__version__}, load average {load:.1f} at the end")


if __name__ == "__main__":
    sys.exit(main())
