"""Query evaluation with a time limit answered as a clear 503: what a query asks, how it is
evaluated, and the thread executor used by an app built without ``yokuryu serve``.

A :class:`QueryRequest` holds only plain values, so it can be evaluated in a thread of this
process or sent to a query process (``yokuryu.server.query_processes``, what ``yokuryu serve``
uses for every store); :func:`evaluate_query` is the one evaluation both use, serialising the
results (pyoxigraph evaluates lazily while it serialises) up to the result size limit. An
:class:`UpdateCheck` parses an update the same way, where a crash or a fetch does no harm.

The thread executor (``create_app`` without an executor, e.g. the Flask test client):
pyoxigraph releases the GIL while it evaluates and serialises, so a worker thread runs a heavy
query while the server keeps answering others; each thread is locked out of the network
(:mod:`yokuryu.graph.offline`). pyoxigraph 0.5 cannot cancel a running query: when the limit
passes, the client gets its 503 at once and the worker finishes in the background, holding one
of the ``workers`` slots until it does. Queries that wait for a slot count that wait against
their own limit; and while every slot is held by such an abandoned query, new queries are
refused at once (503, ``Retry-After``) instead of queueing behind them.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import NamedTuple

import pyoxigraph as ox

from yokuryu.graph.bounded_query import StoreSize, is_bounded
from yokuryu.graph.formats import rdf_syntax, results_syntax
from yokuryu.graph.offline import lock_out_network
from yokuryu.graph.store import KnowledgeStore
from yokuryu.server.errors import ProtocolError
from yokuryu.server.own_memory import OwnMemoryGuard

log = logging.getLogger(__name__)


class QueryRequest(NamedTuple):
    """One query with its dataset and the result formats the client accepts (None: none fits).

    A named tuple: made for every query, and a frozen dataclass costs several times as much to make."""

    text: str
    base_iri: str | None
    predeclared_prefixes: bool
    union_default_graph: bool
    default_graph: tuple[str, ...] | None  # the protocol's dataset, replacing FROM / FROM NAMED
    named_graphs: tuple[str, ...] | None
    results_format: str | None  # a name from RESULTS_SYNTAXES
    graph_format: str | None  # a name from RDF_SYNTAXES
    max_result_bytes: int


@dataclass(frozen=True)
class UpdateCheck:
    """An update to parse (on an empty store: parsing is complete, evaluation over nothing immediate)."""

    text: str
    base_iri: str | None
    prefixes: tuple[tuple[str, str], ...] | None
    # Queries counting each DELETE/INSERT … WHERE's solutions, evaluated by a query process before the
    # server runs the update, under a query's time and memory limits (``count_where_solutions``):
    # (query, reads the union default graph, the operation inserts); ``max_inserting_solutions``: more
    # solutions for an inserting operation is a TooManySolutions (its template is written once per solution).
    where_counts: tuple[tuple[str, bool, bool], ...] = ()
    max_inserting_solutions: int | None = None


def evaluate(store: KnowledgeStore, request):
    """Evaluate a query, parse an update, or work out a page's figures (a ``server.figures.WorkOut``):
    what a query process does with each request."""
    if isinstance(request, UpdateCheck):
        data_quads = check_update_syntax(request)
        count_where_solutions(store, request)
        return data_quads
    if isinstance(request, QueryRequest):
        return evaluate_query(store, request)
    from yokuryu.server.figures import WorkOut
    if isinstance(request, WorkOut):
        return request(store)
    raise TypeError(f"not a request a query process evaluates: {type(request).__name__}")


def check_update_syntax(check: UpdateCheck) -> int:
    """The number of quads the update inserts into nothing (its data), or the engine's SyntaxError."""
    scratch = ox.Store()
    try:
        scratch.update(check.text, base_iri=check.base_iri,
                       prefixes=dict(check.prefixes) if check.prefixes is not None else None)
    except SyntaxError:
        raise
    except (ValueError, RuntimeError, OSError) as error:  # RuntimeError: "The graph <g> does not exist"
        from yokuryu.graph.query_guard import is_network_refusal
        if is_network_refusal(error):
            raise  # the server answers 403
        # Any other failure is not a syntax problem; the real run reports it against the real data.
    return len(scratch)


class TooManySolutions(Exception):
    """An inserting DELETE/INSERT … WHERE has more solutions than one write may add quads."""

    def __init__(self, solutions: int, limit: int):
        super().__init__(solutions, limit)
        self.solutions, self.limit = solutions, limit


class UncountableWhere(Exception):
    """A WHERE of an update that parsed could not be counted on its own (the rewriting's fault)."""


def count_where_solutions(store: KnowledgeStore, check: UpdateCheck) -> None:
    """Evaluate ``check.where_counts`` on ``store`` (a query process's copy, in memory, or its
    checkpoint of an on-disk store, holding the latest write; each count sees no earlier operation of the same update: it bounds
    what evaluating each WHERE costs). It costs what the update's own evaluation of the WHERE costs,
    so a runaway is stopped here, at a query's time and memory limits, and not in the server."""
    limit = check.max_inserting_solutions
    for text, union_default_graph, inserts in check.where_counts:
        try:
            results = store.query(text, union_default_graph=union_default_graph, base_iri=check.base_iri,
                                  predeclared_prefixes=check.prefixes is not None)
            solutions = sum(int(solution[0].value) for solution in results)
            del results
        except (SyntaxError, ValueError, RuntimeError) as error:
            raise UncountableWhere(f"{error}") from None
        if inserts and limit is not None and solutions > limit:
            raise TooManySolutions(solutions, limit)


class ResultsTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


class NotAcceptable(Exception):
    """The query's kind of result (``"results"`` or ``"graph"``) has no format the client accepts."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def evaluate_query(store: KnowledgeStore, request: QueryRequest) -> tuple[bytes, str]:
    """The serialised results of ``request`` and their media type."""
    kwargs = {"base_iri": request.base_iri, "predeclared_prefixes": request.predeclared_prefixes,
              "union_default_graph": request.union_default_graph}
    if request.default_graph is not None or request.named_graphs is not None:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in request.default_graph or ()]
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in request.named_graphs or ()]
    results = store.query(request.text, **kwargs)
    is_graph = isinstance(results, ox.QueryTriples)
    name = request.graph_format if is_graph else request.results_format
    # The results must be dropped in this thread (pyoxigraph refuses another), not with the
    # traceback of an exception that the waiting thread receives: hence the ``del``s.
    if name is None:
        del results
        raise NotAcceptable("graph" if is_graph else "results")
    syntax = rdf_syntax(name) if is_graph else results_syntax(name)
    out = _ResultsBuffer(request.max_result_bytes)
    try:
        results.serialize(out, format=syntax.oxigraph)  # evaluation happens here, lazily
    finally:
        del results
    return bytes(out.data), syntax.media_type


class _ResultsBuffer:
    """Collects serialised results, and stops the serialiser (and the evaluation) past ``limit`` bytes.

    The file object pyoxigraph writes to (``write`` and ``flush``): a plain class, cheaper to make
    and to call than an ``io`` one, once per query."""

    __slots__ = ("data", "limit")

    def __init__(self, limit: int):
        self.data = bytearray()
        self.limit = limit

    def write(self, chunk) -> int:
        self.data += chunk
        if len(self.data) > self.limit:
            raise ResultsTooLarge(self.limit)
        return len(chunk)

    def flush(self) -> None:
        pass


def over_the_limit(timeout: float, what: str) -> ProtocolError:
    """The 503 for a query that ran past ``timeout``; ``what`` says what became of its evaluation."""
    return ProtocolError(
        f"503 Service Unavailable: the query did not finish within the {timeout:g} s limit and was {what}. "
        "Narrow it (LIMIT, more specific patterns), or raise the limit with 'yokuryu serve --timeout SECONDS' "
        "or YOKURYU_QUERY_TIMEOUT.", 503, headers={"Retry-After": "5"})


def out_of_memory(memory_mib: int) -> ProtocolError:
    """The 503 for a query that needed more memory than a query process may use."""
    return ProtocolError(
        f"503 Service Unavailable: the query needed more than the {memory_mib} MiB of memory a query may use, "
        "and was stopped. Narrow it (LIMIT, more specific patterns, no GROUP_CONCAT over everything), or "
        "raise the limit with 'yokuryu serve --query-memory MIB' or YOKURYU_QUERY_MEMORY.", 503,
        headers={"Retry-After": "5"})


class QueryExecutor:
    """A fixed pool of evaluation threads shared by all requests of one app."""

    runs_work_outs = True  # run() evaluates a page's figures too (server.figures)

    def __init__(self, store: KnowledgeStore, workers: int, timeout: float):
        self.store = store
        self.timeout = timeout
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="yokuryu-query",
                                        initializer=lock_out_network)
        self._abandoned = 0
        self._lock = threading.Lock()

    def run(self, request):
        """The evaluated ``request`` (body, media type; a figure's value), or a 503 once the time limit has passed."""
        with self._lock:
            if self._abandoned >= self.workers:
                raise ProtocolError(
                    f"503 Service Unavailable: all {self.workers} query workers are still finishing queries "
                    "that ran past the time limit; try again in a few seconds (or start the server with "
                    "more --workers).", 503, headers={"Retry-After": "5"})
        future = self._pool.submit(evaluate, self.store, request)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            if not future.cancel():
                self._abandon(future)
            raise over_the_limit(self.timeout, "abandoned (it finishes in the background)") from None

    def check_update(self, check: UpdateCheck) -> int:
        """Parse an update in an evaluation thread (no network there); the quads of its data."""
        return self._pool.submit(check_update_syntax, check).result()

    def _abandon(self, future: Future) -> None:
        """Count a running query nobody waits for until its worker is free again."""
        log.warning("a query exceeded the %s s limit; it keeps a worker busy until it ends", self.timeout)
        with self._lock:
            self._abandoned += 1

        def released(_: Future) -> None:
            with self._lock:
                self._abandoned -= 1

        future.add_done_callback(released)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class InProcessReads:
    """Queries of bounded cost evaluated here, in the calling thread; every other request to ``executor``.

    ``executor`` runs queries where they can be stopped at ``--timeout`` (the query processes).
    A query that :mod:`yokuryu.graph.bounded_query` proves cannot run away — a point lookup, a
    short chain from a constant, a path from a constant — gains nothing from that and pays a
    round trip to another process, more than its evaluation costs; it is evaluated on the
    server's own store instead, with the same :func:`evaluate_query` (and so the same result
    size limit). The protocol's dataset parameters send a query the usual way.

    The bound needs the store's largest out-degree (the most quads of one subject), measured
    by :func:`store_size` before the query processes are forked (a scan of the in-memory store
    in the server after the fork would copy the pages it shares with them; on disk, in a thread
    after the start), and raised by every committed write for the subjects it added to, under
    the write lock, just after the store committed it (a query classified in that moment uses
    the bound from before the write). The quad count only
    grows with it (removals are not subtracted: a bound may be loose, never low).

    Reads here see the store as committed: the state before or after each write (pyoxigraph
    evaluates on a snapshot), and a write from the moment the store commits it, which is before
    the write is answered (read-your-writes). In memory, they cost this process copies of the
    pages they read, which it keeps (docs/architecture.md, "Bounded queries skip the hop").
    """

    def __init__(self, store: KnowledgeStore, executor, size: StoreSize | None, memory_mib: int = 0):
        self.store = store
        self.executor = executor
        # From store_size(store), measured before the query processes were forked (None: not yet
        # known, every query goes to ``executor``; see measured_later).
        self.size = size
        # In memory, the pages these reads copy stay in this process: a bound on them (0: none).
        # pyoxigraph writes reference counts on what a read touches, so a read here copies the
        # store's pages it shares with the query processes, and this process keeps them (a query
        # process is retired and gives them back). Above the bound of private memory, bounded
        # reads go to the query processes, until it is below again (read again every 30 s meanwhile).
        self.guard = None
        if memory_mib and not store.is_persistent:
            self.guard = OwnMemoryGuard(memory_mib * 1024 * 1024, step=GUARD_STEP, recheck_after=30.0,
                                        on_change=_log_guard(memory_mib))
            self.guard.read()

    @classmethod
    def measured_later(cls, store: KnowledgeStore, executor, start: bool = True) -> InProcessReads:
        """For an on-disk store, whose pages no query process shares: the bound is measured in a
        thread after the server is ready (at 1M quads ~2 s of CPU, most of an on-disk start).
        ``start`` False: once :meth:`start_measuring` is called (the measurement holds the write
        lock, which starting read processes takes too)."""
        reads = cls(store, executor, None)
        if start:
            reads.start_measuring()
        return reads

    def start_measuring(self) -> None:
        threading.Thread(target=self._measure, name="yokuryu-store-size", daemon=True).start()

    def _measure(self) -> None:
        try:
            with self.store.write_lock:  # a write waits, so the bound includes it or is raised by it
                self.size = store_size(self.store)
                measured = getattr(self.executor, "measured", None)  # the read processes wait for it too
                if measured is not None:
                    measured(self.size)
            give_back_freed_memory()  # the grouping's tens of MB at 1M, else kept by this thread's malloc arena
        except Exception:  # noqa: BLE001 - without the bound every query still has its process
            log.exception("could not measure the store for in-process reads; every query runs in a query process")

    def __getattr__(self, name):  # timeout, workers, check_update, shutdown… are the executor's
        return getattr(self.executor, name)

    def run(self, request):
        size, guard = self.size, self.guard
        if size is not None and isinstance(request, QueryRequest) and request.default_graph is None \
                and request.named_graphs is None and is_bounded(request.text, size) \
                and (guard is None or not guard.over()):
            try:
                return self.evaluate_here(request)
            finally:
                if guard is not None:
                    guard.check()
        return self.executor.run(request)

    def evaluate_here(self, request: QueryRequest) -> tuple[bytes, str]:
        return evaluate_query(self.store, request)

    def committed(self, removed: set[ox.Quad], added: set[ox.Quad]) -> None:
        """A write was committed (under the write lock): pass it on, and raise the bounds it raised."""
        try:
            committed = getattr(self.executor, "committed", None)
            if committed is not None:
                committed(removed, added)
        finally:
            if added and self.size is not None:  # None: the measurement to come includes this write
                live = self.store.oxigraph
                degree = max((sum(1 for _ in live.quads_for_pattern(s, None, None, None))
                              for s in {q.subject for q in added}), default=0)
                self.size = StoreSize(max(self.size.out_degree, degree), self.size.quads + len(added))


GUARD_STEP = 8 * 1024 * 1024  # bytes of faults between two readings of the server's memory at least


def _log_guard(memory_mib: int):
    def changed(over: bool, private: int) -> None:
        log.warning("the server process holds %d MiB of its own memory (limit %d MiB, "
                    "YOKURYU_IN_PROCESS_READS_MEMORY): bounded reads %s", private >> 20, memory_mib,
                    "go to the query processes from now on" if over else "are answered in it again")
    return changed


def give_back_freed_memory() -> None:
    """Return the heap that glibc keeps after a large query to the system (elsewhere: nothing)."""
    import ctypes
    import ctypes.util
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def store_size(store: KnowledgeStore) -> StoreSize:
    """The numbers that bound an in-process query's work: the largest out-degree, and the quads.

    One grouped query over every quad (at 1M quads about half a second): run it before forking
    anything that shares the in-memory store's pages.
    """
    (solution,) = store.oxigraph.query(_OUT_DEGREE)
    degree = solution["degree"]
    return StoreSize(int(degree.value) if degree is not None else 0, store.quad_count())


# Every subject's quads, counted over all graphs (the default one included).
_OUT_DEGREE = ("SELECT (MAX(?n) AS ?degree) WHERE { SELECT (COUNT(*) AS ?n) WHERE { "
               "{ ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } } GROUP BY ?s }")
