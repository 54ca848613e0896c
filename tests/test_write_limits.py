"""Every write route bounds the update text before pyoxigraph parses it.

pyoxigraph's SPARQL parser is recursive: an ``INSERT DATA`` with 10,000 nested blank nodes or
lists kills the process that parses it (SIGSEGV). The endpoint refuses such text up front
(``check_sparql``); these tests cover the routes that reach the write transaction without the
endpoint: the Python API and ``yokuryu update``.
"""
from __future__ import annotations

import pyoxigraph as ox
import pytest

from conftest import run_cli

USER = "https://w3id.org/yokuryu/graph/user/limits"
DEEP_BLANK = (f"INSERT DATA {{ GRAPH <{USER}> {{ <urn:x:a> <urn:x:p> " + "[ <urn:x:p> " * 10000 + "1"
              + " ]" * 10000 + " } }")
DEEP_LIST = f"INSERT DATA {{ GRAPH <{USER}> {{ <urn:x:a> <urn:x:p> " + "( " * 10000 + "1" + " )" * 10000 + " } }"


@pytest.mark.parametrize("text", [DEEP_BLANK, DEEP_LIST], ids=["nested blank nodes", "nested lists"])
def test_python_api_refuses_deep_update_text_and_changes_nothing(built, text):
    from yokuryu.graph import open_store
    from yokuryu.graph.transaction import UpdateSyntaxError, update

    store = open_store(None)
    store.load_build(built)
    before = len(store)
    with pytest.raises(UpdateSyntaxError) as caught:
        update(store, text)
    assert caught.value.status == 400 and "nest" in caught.value.message
    assert len(store) == before


def test_plain_store_refuses_deep_update_text_too():
    from yokuryu.graph import open_store
    from yokuryu.graph.transaction import UpdateSyntaxError, update

    store = open_store(None)
    with pytest.raises(UpdateSyntaxError):
        update(store, DEEP_BLANK, plain=True)
    assert len(store) == 0


def test_service_in_an_update_is_refused_by_the_python_api_before_parsing(built):
    from yokuryu.graph import open_store
    from yokuryu.graph.transaction import RemoteAccess, update

    store = open_store(None)
    store.load_build(built)
    with pytest.raises(RemoteAccess) as caught:
        update(store, "INSERT { ?s ?p ?o } WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }")
    assert caught.value.status == 403


@pytest.mark.slow
def test_yokuryu_update_refuses_deep_text_with_a_message_not_a_crash(tmp_path):
    path = tmp_path / "store"
    assert run_cli("build", "--store", path).returncode == 0
    update_file = tmp_path / "deep.ru"
    update_file.write_text(DEEP_BLANK, encoding="utf-8")
    done = run_cli("update", "--store", path, "-f", update_file)
    assert done.returncode == 2, (done.returncode, done.stderr)  # a usage error, not a signal
    assert b"nest" in done.stderr and b"--max-query-nesting" in done.stderr, done.stderr
    from yokuryu.graph.store import open_store
    store = open_store(path)
    try:
        assert not list(store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(USER)))
    finally:
        store.close()
