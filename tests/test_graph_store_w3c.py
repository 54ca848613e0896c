"""The W3C SPARQL 1.1 Graph Store Protocol tests, replayed over HTTP against ``/store``.

``tests/w3c/sparql11/graph-store-protocol/manifest*.ttl`` (direct and indirect graph
identification): one test here per test there, named after it, on ``yokuryu serve --empty
--allow-anonymous-updates``. The manifests' ``/gsp`` prefix is this server's ``/store``.
"""
from __future__ import annotations

import sys

import pytest

from test_protocol_w3c import W3C, load_manifest, replay_on_empty_store

TESTS = load_manifest(W3C / "graph-store-protocol" / "manifest.ttl")


@pytest.fixture
def run(plain_server):
    # Direct identification names graphs by their URL on this server, as the manifests do.
    return lambda name: replay_on_empty_store(plain_server.url, TESTS[name], {"/gsp": "/store"})


def test_every_manifest_entry_has_a_test_here():
    here = {name.removeprefix("test_") for name in dir(sys.modules[__name__]) if name.startswith("test_")}
    assert set(TESTS) <= here, f"no test for: {sorted(set(TESTS) - here)}"
    assert len(TESTS) == 14


def test_put_get_repeat_direct(run): run("put_get_repeat_direct")
def test_put_delete_get_delete_direct(run): run("put_delete_get_delete_direct")
def test_post_get_post_get_direct(run): run("post_get_post_get_direct")
def test_head_existing_direct(run): run("head_existing_direct")
def test_head_non_existing_direct(run): run("head_non_existing_direct")
def test_put_get_repeat_indirect(run): run("put_get_repeat_indirect")
def test_put_get_default(run): run("put_get_default")
def test_put_delete_get_delete_indirect(run): run("put_delete_get_delete_indirect")
def test_post_get_post_get_indirect(run): run("post_get_post_get_indirect")
def test_post_get_new_graph(run): run("post_get_new_graph")
def test_head_existing_indirect(run): run("head_existing_indirect")
def test_head_non_existing_indirect(run): run("head_non_existing_indirect")
def test_put_get_uri_pct_encoded_indirect(run): run("put_get_uri_pct_encoded_indirect")
def test_put_get_uri_pct_encoded_twice(run): run("put_get_uri_pct_encoded_twice")
