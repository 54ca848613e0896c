"""Getting a store that holds a build: open an on-disk one, or build into memory."""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyoxigraph as ox

from yokuryu.graph.build import DEFAULT_ENGINE, BuildResult, build, input_digest
from yokuryu.graph.progress import Progress
from yokuryu.graph.store import KnowledgeStore, StoreError, open_store
from yokuryu.ontology import GRAPH

log = logging.getLogger(__name__)


class InvalidData(ValueError):
    """The data violates the shapes; ``report`` says where and why."""

    def __init__(self, report):
        super().__init__(report.as_text())
        self.report = report


def prepare_store(path: str | Path | None, extra_files: Sequence[str | Path] = (), *,
                  rebuild: bool = False, engine: str = DEFAULT_ENGINE,
                  progress: Progress | None = None) -> tuple[KnowledgeStore, BuildResult | None]:
    """Open the store at ``path`` (memory if None) and build into it unless it is already built.

    Returns the store and the build result, or ``None`` for the result when an existing on-disk
    build was reused. A failed build leaves an existing store untouched.
    """
    store = open_store(path)
    if store.is_built and not rebuild:
        if extra_files:
            # Rebuilding replaces everything, writes made through the endpoint included: only on request.
            raise StoreError(f"{path} already holds a build; add --rebuild to rebuild it with "
                             f"{', '.join(map(str, extra_files))} (this replaces everything in the store, "
                             "including changes written through the endpoint)")
        log.info("reusing the build in %s", path)
        return store, None
    cached = _cache_file(extra_files) if path is None and not rebuild else None
    if cached is not None and cached.is_file():
        try:
            store.load_quads(list(ox.parse(path=str(cached), format=ox.RdfFormat.N_QUADS)))
            log.info("reused the cached build %s", cached)
            return store, None
        except (OSError, SyntaxError, ValueError) as error:
            log.warning("ignoring an unreadable cached build %s: %s", cached, error)
    log.info("building the graph%s", " (no cached build for these inputs)" if cached is not None else "")
    progress = progress or Progress()
    result = build(extra_files, engine=engine, progress=progress)
    if result.ok:
        log.info("storing %d quads %s", len(result.quads), f"in {path}" if path is not None else "in memory")
        with progress.stage("store", unit="quads") as stage:
            store.load_build(result)
            stage.done(len(result.quads))
        if cached is not None:
            _write_cache(cached, result)
    return store, result


def cache_dir() -> Path | None:
    """Where in-memory builds are cached (``YOKURYU_CACHE_DIR``; ``off`` disables the cache)."""
    configured = os.environ.get("YOKURYU_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "none", "0") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "yokuryu"


def _cache_file(extra_files: Sequence[str | Path]) -> Path | None:
    """The cache entry for a build: named by the digest of every input, the code and the libraries,
    so a changed input or a new version never reuses a stale build."""
    folder = cache_dir()
    if folder is None:
        return None
    return folder / f"build-{input_digest(extra_files)}.nq"


def _write_cache(target: Path, result: BuildResult) -> None:
    """Write atomically (temporary file, then rename) so a reader never sees half a build."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".build-", suffix=".nq", delete=False) as tmp:
            ox.serialize(result.quads, tmp, format=ox.RdfFormat.N_QUADS)
        os.replace(tmp.name, target)
    except OSError as error:  # a read-only home is no reason to fail: the build is in memory already
        log.warning("could not cache the build in %s: %s", target.parent, error)


def open_built_store(path: str | Path | None, extra_files: Sequence[str | Path] = (), *,
                     engine: str = DEFAULT_ENGINE) -> KnowledgeStore:
    """A store ready to query: the on-disk one at ``path`` (which must be built), or a fresh build."""
    if path is not None:
        store = open_store(path)
        if not store.is_built:
            raise StoreError(f"{path} holds no build yet; run 'yokuryu build --store {path}' first")
        return store
    store, result = prepare_store(None, extra_files, engine=engine)
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
