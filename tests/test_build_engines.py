"""``yokuryu build`` with either engine: the same quads, and stage progress on a terminal only."""
from __future__ import annotations

import os
import pty
from pathlib import Path

import pyoxigraph as ox
import pytest

from conftest import YOKURYU, run_cli
from yokuryu.graph.build import build

STAGES = ("parse", "validate", "reason", "rules", "describe")


@pytest.mark.slow
def test_fast_build_equals_reference_build_on_the_bundled_graph(built):
    fast = build(engine="fast")
    assert fast.ok, fast.report.as_text()
    reference = built  # the session's build, made by the reference engines
    # Compared as stored: a store keeps "3"^^xsd:positiveInteger as xsd:integer, whichever engine made it.
    fast_quads, reference_quads = _as_stored(fast.quads), _as_stored(reference.quads)
    assert fast_quads == reference_quads, (
        f"only fast: {sorted(map(str, fast_quads - reference_quads))[:5]}; "
        f"only reference: {sorted(map(str, reference_quads - fast_quads))[:5]}")


def _as_stored(quads) -> set:
    store = ox.Store()
    store.extend(quads)
    return set(store)


def _on_a_terminal(*args) -> str:
    """Run ``yokuryu`` with a pseudo-terminal as its output; everything it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, nothing of pytest runs here
        os.execv(YOKURYU, [YOKURYU, *args])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode("utf-8", "replace")


@pytest.mark.slow
def test_build_shows_each_stage_on_a_terminal_only(tmp_path):
    # The fast engine (the default), into a store: every stage of a build, the store included.
    shown = _on_a_terminal("build", "--store", str(tmp_path / "store"))
    for stage in ("parse", "load", "validate", "reason", "describe", "store"):
        ended = [line for line in shown.split("\r") if line.startswith(f"{stage:<9}") and "/s" in line]
        assert ended, f"no finished line for {stage}: {shown!r}"
    assert "triples/s" in shown and "quads/s" in shown and "built " in shown
    # The reference engines' own stages (the rules run apart there).
    reference = _on_a_terminal("build", "--engine", "reference")
    for stage in STAGES:
        assert f"\r{stage:<9}" in reference, reference
    broken = _on_a_terminal("build", str(DATA / "unparseable.ttl"))
    assert "stopped" in broken and "not valid turtle" in broken and "triples/s" not in broken
    quiet = _on_a_terminal("build", "-q")
    assert "triples/s" not in quiet and "built " in quiet
    piped = run_cli("build")
    assert piped.returncode == 0
    assert b"triples/s" not in piped.stderr + piped.stdout


DATA = Path(__file__).resolve().parent / "data"


def _stored(store) -> set[str]:
    """The store's quads as N-Quads lines, less the build digest (it names the inputs of the first build)."""
    dump = run_cli("export", "--store", store, "--format", "nquads")
    assert dump.returncode == 0, dump.stderr
    return {line for line in dump.stdout.decode().splitlines() if "buildDigest" not in line}


@pytest.mark.slow
def test_load_gives_the_store_a_build_of_the_same_files_gives(tmp_path):
    loaded, built = tmp_path / "loaded", tmp_path / "built"
    assert run_cli("build", "--store", loaded).returncode == 0
    done = run_cli("load", "--store", loaded, DATA / "extra-estimate.ttl")
    assert done.returncode == 0, done.stderr
    assert b"validated and reasoned over" in done.stdout
    assert run_cli("build", "--store", built, DATA / "extra-estimate.ttl").returncode == 0
    assert _stored(loaded) == _stored(built)


@pytest.mark.slow
def test_load_refuses_a_file_into_a_reserved_graph_and_loads_nothing(tmp_path):
    store = tmp_path / "store"
    assert run_cli("build", "--store", store).returncode == 0
    before = _stored(store)
    sneaky = tmp_path / "sneaky.trig"
    sneaky.write_text("<https://w3id.org/yokuryu/graph/inferred> { <https://example.org/a> "
                      "<http://www.w3.org/2000/01/rdf-schema#label> \"not inferred\" . }\n")
    refused = run_cli("load", "--store", store, DATA / "extra-estimate.ttl", sneaky)
    assert refused.returncode == 1
    assert b"sneaky.trig" in refused.stderr and b"reserved graph" in refused.stderr
    assert b"nothing was loaded" in refused.stderr
    assert _stored(store) == before
