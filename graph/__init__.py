"""The knowledge graph: document triples, source texts, and the pipeline that builds and stores them.

Public API::

    from yokuryu.graph import build, open_store
    result = build()                 # parse → validate → reason, in memory
    store = open_store(None)         # in-memory pyoxigraph store
    store.load_build(result)
"""
from yokuryu.graph.build import BuildResult, InputError, build, load_inputs
from yokuryu.graph.store import KnowledgeStore, open_store

__all__ = ["BuildResult", "InputError", "KnowledgeStore", "build", "load_inputs", "open_store"]
