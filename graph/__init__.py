"""The knowledge graph: document triples, source texts, and the pipeline that builds and stores them.

Public API::

    from yokuryu.graph import build, open_store
    result = build()                 # parse → validate → reason, in memory
    store = open_store(None)         # in-memory pyoxigraph store
    store.load_build(result)

The names are imported on first use: every ``yokuryu.graph.*`` module imports this package
first, and the build (rdflib, pyshacl, owlrl: over a second) is not what ``yokuryu serve`` of a
store or journal needs to answer its first query.
"""
from __future__ import annotations

import sys
import types

__all__ = ["BuildResult", "InputError", "KnowledgeStore", "build", "load_inputs", "open_store"]

_FROM = {"BuildResult": "build", "InputError": "build", "load_inputs": "build",
         "KnowledgeStore": "store", "open_store": "store"}


def __getattr__(name: str):
    if name in _FROM:
        import importlib
        return getattr(importlib.import_module(f"yokuryu.graph.{_FROM[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """``yokuryu.graph.build`` is the function, as it was when this package imported it eagerly:
    importing the submodule of the same name must not replace it with the module."""

    @property
    def build(self):
        from yokuryu.graph.build import build
        return build

    @build.setter
    def build(self, module) -> None:
        pass  # the import system naming the submodule; it stays in sys.modules["yokuryu.graph.build"]


sys.modules[__name__].__class__ = _Package
