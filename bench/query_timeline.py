"""Where a query's time goes in the query processes: percentiles of each stage of its timeline.

    YOKURYU_QUERY_TIMELINE=/tmp/timeline.jsonl yokuryu serve …   # or: python bench/endpoint.py …
    python bench/query_timeline.py /tmp/timeline.jsonl

``yokuryu serve`` started with ``YOKURYU_QUERY_TIMELINE=FILE`` appends one JSON line per query
answered by a query process (server/query_processes.py, ``_Timeline``): the milliseconds it
waited for a free slot, travelled to the worker thread, was evaluated (wall and the thread's
CPU), waited to be sent back, travelled back and was read. This prints, per kind of query (its
text with the numbers taken out), the mean, p50, p90, p99 and maximum of each stage, and the mean
evaluation CPU of each tenth of its queries in the order they were answered (a query process's
warm-up: at 1M its first joins cost up to twice the later ones while it copied the store's pages a
page fault at a time; it now copies them in one go after its first scan). Only the
query processes' part is timed: the HTTP server and the request's checks come before
``waited``, and are the rest of the client's latency.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict

STAGES = ("waited", "to_worker", "evaluated", "cpu", "after", "back", "received", "total")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("timeline", help="the file YOKURYU_QUERY_TIMELINE named")
    args = parser.parse_args()
    kinds: dict[str, list[dict]] = defaultdict(list)
    with open(args.timeline, encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            kinds[re.sub(r"\d+", "N", entry["query"])[-70:]].append(entry)
    if not kinds:
        print("no queries in the file", file=sys.stderr)
        return 1
    for kind, entries in sorted(kinds.items(), key=lambda item: -len(item[1])):
        print(f"\n{len(entries)} × …{kind}")
        print(f"  {'stage (ms)':10} {'mean':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
        for stage in STAGES:
            values = sorted(entry[stage] for entry in entries)
            print(f"  {stage:10} {statistics.mean(values):8.2f} {_at(values, 0.5):8.2f} {_at(values, 0.9):8.2f} "
                  f"{_at(values, 0.99):8.2f} {values[-1]:8.2f}")
        # The file is in answer order: a fresh query process's first scans copy the store's pages
        # (pyoxigraph writes reference counts), so a cold start shows as a dearer first tenth.
        tenths = [entries[len(entries) * k // 10:len(entries) * (k + 1) // 10] for k in range(10)]
        print("  cpu by tenth of the run (mean, in answer order)")
        print("  " + " ".join(f"{statistics.mean(e['cpu'] for e in part):6.2f}" for part in tenths if part))
    return 0


def _at(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


if __name__ == "__main__":
    sys.exit(main())
