"""``yokuryu build`` with either engine: the same quads, and stage progress on a terminal only."""
from __future__ import annotations

import os
import pty

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
def test_build_shows_each_stage_on_a_terminal_only():
    shown = _on_a_terminal("build", "--engine", "reference")
    for stage in STAGES:
        assert f"\r{stage:<9}" in shown, shown
    assert "triples/s" in shown
    quiet = _on_a_terminal("build", "--engine", "reference", "-q")
    assert "triples/s" not in quiet and "built " in quiet
    piped = run_cli("build", "--engine", "reference")
    assert piped.returncode == 0
    assert b"triples/s" not in piped.stderr + piped.stdout
