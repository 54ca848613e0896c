"""Getting a store that holds a build: open an on-disk one, or build into memory."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from yokuryu.graph.build import BuildResult, build
from yokuryu.graph.store import KnowledgeStore, StoreError, open_store
from yokuryu.ontology import GRAPH

log = logging.getLogger(__name__)


class InvalidData(ValueError):
    """The data violates the shapes; ``report`` says where and why."""

    def __init__(self, report):
        super().__init__(report.as_text())
        self.report = report


def prepare_store(path: str | Path | None, extra_files: Sequence[str | Path] = (), *,
                  rebuild: bool = False) -> tuple[KnowledgeStore, BuildResult | None]:
    """Open the store at ``path`` (memory if None) and build into it unless it is already built.

    Returns the store and the build result, or ``None`` for the result when an existing on-disk
    build was reused. A failed build leaves an existing store untouched.
    """
    store = open_store(path)
    if store.is_built and not rebuild and not extra_files:
        log.info("reusing the build in %s", path)
        return store, None
    result = build(extra_files)
    if result.ok:
        store.load_build(result)
    return store, result


def open_built_store(path: str | Path | None, extra_files: Sequence[str | Path] = ()) -> KnowledgeStore:
    """A store ready to query: the on-disk one at ``path`` (which must be built), or a fresh build."""
    if path is not None:
        store = open_store(path)
        if not store.is_built:
            raise StoreError(f"{path} holds no build yet; run 'yokuryu build --store {path}' first")
        return store
    store, result = prepare_store(None, extra_files)
    if result is not None and not result.ok:
        raise InvalidData(result.report)
    return store


def resolve_graph_name(store: KnowledgeStore, name: str) -> str:
    """A graph IRI from a short name (``inferred``, ``source/<doc>``…) or an IRI in the store."""
    candidates = [name] if "://" in name else [str(GRAPH[name])]
    for iri in candidates:
        if iri in store.graph_names():
            return iri
    short = ", ".join(g[len(str(GRAPH)):] if g.startswith(str(GRAPH)) else g for g in store.graph_names())
    raise StoreError(f"no named graph {name!r} in the store; the graphs are: {short}")
