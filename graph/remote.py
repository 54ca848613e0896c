"""A remote SPARQL 1.1 server as Yokuryū's store: for graphs that outgrow one machine.

:class:`RemoteEngine` speaks the SPARQL 1.1 Protocol (query and update, as POSTed forms, which
every server accepts and which have no URL length limit) and, where the server has one, the
Graph Store Protocol (whole graphs as N-Triples). It implements
:class:`yokuryu.graph.sparql_engine.SparqlEngine`, so the compiled validation and reasoning run
on it unchanged. Every request has a timeout and may carry an ``Authorization`` header; every
failure is a :class:`RemoteError` (:class:`RemoteTimeout` when the server did not answer in
time) whose message names the server and what it said, so the endpoint can answer 502/504.

:class:`RemoteKnowledgeStore` puts the same server behind the interface the Flask views use
(:class:`yokuryu.graph.store.KnowledgeStore`): the few pyoxigraph calls they make
(``quads_for_pattern``, ``named_graphs``, ``query``, ``update``…) become SPARQL requests.
"""
from __future__ import annotations

import io
import logging
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator

import pyoxigraph as ox

from yokuryu.graph.sparql_engine import Row, sparql_term
from yokuryu.graph.store import KnowledgeStore
from yokuryu.ontology import GRAPH

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
JSON_RESULTS = "application/sparql-results+json"
NTRIPLES = "application/n-triples"
# INSERT DATA requests and Graph Store POSTs carry at most this many triples each.
DEFAULT_BATCH = 20_000
# Every write Yokuryū commits to a knowledge graph on the server, and every build, replaces one
# value here in the same request: a Yokuryū whose working copy was made at another value knows
# that someone else wrote since. (Under …/graph/reasoner/: private, no write may change it.)
GENERATION = str(GRAPH) + "reasoner/generation"
RDF_VALUE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#value"


def _new_generation() -> str:
    import uuid
    return uuid.uuid4().hex


def generation_update(value: str) -> str:
    """The update that sets the server's write generation to ``value``."""
    return (f"DELETE WHERE {{ GRAPH <{GENERATION}> {{ <{GENERATION}> <{RDF_VALUE}> ?v }} }} ;\n"
            f'INSERT DATA {{ GRAPH <{GENERATION}> {{ <{GENERATION}> <{RDF_VALUE}> "{value}" }} }}')


class RemoteError(RuntimeError):
    """The remote server failed or refused a request; the message says which and why."""


class RemoteTimeout(RemoteError):
    """The remote server did not answer within the timeout."""


class RemoteEngine:
    """:class:`SparqlEngine` over a SPARQL 1.1 server reached by HTTP."""

    def __init__(self, query_url: str, update_url: str | None = None, store_url: str | None = None, *,
                 timeout: float = 30.0, authorization: str | None = None, batch_size: int = DEFAULT_BATCH):
        for name, url in (("query", query_url), ("update", update_url), ("store", store_url)):
            if url is not None and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"the remote {name} URL must start with http:// or https://, not {url!r}")
        self.query_url = query_url
        self.update_url = update_url
        self.store_url = store_url
        self.timeout = timeout
        self.authorization = authorization
        self.batch_size = batch_size

    # --- the SparqlEngine protocol ----------------------------------------------------------

    def select(self, query: str) -> list[Row]:
        results = self._results(query)
        names = [v.value for v in results.variables]
        return [{name: solution[name] for name in names if solution[name] is not None} for solution in results]

    def ask(self, query: str) -> bool:
        return bool(self._results(query))

    def construct(self, query: str) -> list[ox.Triple]:
        body, media_type = self.query(query, accept=NTRIPLES)
        return list(_parse_rdf(body, media_type, self.query_url))

    def update(self, update: str) -> None:
        if self.update_url is None:
            raise RemoteError("no update URL was given for the remote server (--remote-update URL)")
        self._send(self.update_url, "POST", urllib.parse.urlencode({"update": update}).encode(), FORM)

    def insert_quads(self, quads: Iterable[ox.Quad]) -> None:
        for batch in _batches(quads, self.batch_size):
            self.update("INSERT DATA {\n" + quads_text(batch) + "}")

    # --- raw protocol -------------------------------------------------------------------------

    def query(self, query: str, *, accept: str, params: Iterable[tuple[str, str]] = (),
              max_bytes: int | None = None) -> tuple[bytes, str]:
        """POST ``query`` (with protocol ``params`` such as default-graph-uri); the body and its media type.

        ``max_bytes`` stops reading a larger answer (:class:`ResponseTooLarge`).
        """
        form = urllib.parse.urlencode([("query", query), *params]).encode()
        return self._send(self.query_url, "POST", form, FORM, accept=accept, max_bytes=max_bytes)

    def replace_graph(self, graph: str, triples: Iterable[ox.Triple]) -> int:
        """Make ``graph`` hold exactly ``triples`` (idempotent: a second run changes nothing); their number."""
        count = 0
        first = True
        for batch in _batches(triples, self.batch_size):
            count += len(batch)
            if self.store_url:
                # Graph Store Protocol: PUT replaces the graph, POST adds the following batches.
                body = _serialize(batch, ox.RdfFormat.N_TRIPLES)
                self._send(self._graph_url(graph), "PUT" if first else "POST", body, NTRIPLES)
            else:
                insert = f"INSERT DATA {{ GRAPH <{graph}> {{\n{_serialize(batch, ox.RdfFormat.N_TRIPLES).decode()}}} }}"
                self.update(f"DROP SILENT GRAPH <{graph}> ;\n{insert}" if first else insert)
            first = False
        if first:  # no triples: the graph is emptied
            self.update(f"DROP SILENT GRAPH <{graph}>")
        return count

    def generation(self) -> str | None:
        """The server's write generation (see ``GENERATION``); None before the first build or write."""
        rows = self.select(f"SELECT ?v WHERE {{ GRAPH <{GENERATION}> {{ <{GENERATION}> <{RDF_VALUE}> ?v }} }}")
        return rows[0]["v"].value if rows else None

    def load_dataset(self, quads: Iterable[ox.Quad]) -> dict[str, int]:
        """Replace each named graph of ``quads`` on the server (graphs not in ``quads`` are kept),
        then start a new write generation: the working copies of running servers are out of date."""
        graphs: dict[str, list[ox.Triple]] = {}
        for quad in quads:
            if isinstance(quad.graph_name, ox.DefaultGraph):
                raise ValueError("the remote build loads named graphs only; a quad in the default graph was given")
            graphs.setdefault(quad.graph_name.value, []).append(ox.Triple(quad.subject, quad.predicate, quad.object))
        counts = {name: self.replace_graph(name, triples) for name, triples in graphs.items()}
        if self.update_url is not None:
            self.update(generation_update(_new_generation()))
        return counts

    def _graph_url(self, graph: str) -> str:
        separator = "&" if "?" in self.store_url else "?"
        return f"{self.store_url}{separator}{urllib.parse.urlencode({'graph': graph})}"

    def _results(self, query: str):
        body, media_type = self.query(query, accept=JSON_RESULTS)
        return parse_results(body, media_type, self.query_url)

    def _send(self, url: str, method: str, body: bytes, content_type: str, *, accept: str | None = None,
              max_bytes: int | None = None) -> tuple[bytes, str]:
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Content-Type", content_type)
        if accept:
            request.add_header("Accept", accept)
        if self.authorization:
            request.add_header("Authorization", self.authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read(max_bytes + 1) if max_bytes is not None else response.read()
                if max_bytes is not None and len(data) > max_bytes:
                    raise ResponseTooLarge(max_bytes)
                return data, response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            detail = error.read(2000).decode("utf-8", "replace").strip()
            raise RemoteError(f"the remote server {url} answered {error.code} {error.reason}"
                              + (f": {detail}" if detail else "")) from None
        except (TimeoutError, socket.timeout) as error:
            raise RemoteTimeout(f"the remote server {url} did not answer within {self.timeout:g} s") from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                raise RemoteTimeout(f"the remote server {url} did not answer within {self.timeout:g} s") from error
            raise RemoteError(f"cannot reach the remote server {url}: {error.reason}") from error
        except (ConnectionError, OSError) as error:  # reset or closed mid-answer
            raise RemoteError(f"the connection to the remote server {url} failed: {error}") from error


class ResponseTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


def parse_results(body: bytes, media_type: str, url: str):
    """SELECT/ASK results as pyoxigraph reads them (JSON, XML or TSV from the server)."""
    bare = media_type.split(";", 1)[0].strip().lower()
    formats = {"application/sparql-results+json": ox.QueryResultsFormat.JSON,
               "application/json": ox.QueryResultsFormat.JSON,
               "application/sparql-results+xml": ox.QueryResultsFormat.XML,
               "application/xml": ox.QueryResultsFormat.XML,
               "text/tab-separated-values": ox.QueryResultsFormat.TSV}
    if bare not in formats:
        raise RemoteError(f"the remote server {url} answered a query with {media_type or 'no media type'}, "
                          "not SPARQL results")
    try:
        return ox.parse_query_results(body, format=formats[bare])
    except (SyntaxError, ValueError) as error:
        raise RemoteError(f"the remote server {url} sent results that cannot be read: {error}") from error


def _parse_rdf(body: bytes, media_type: str, url: str) -> Iterator[ox.Triple]:
    from yokuryu.graph.formats import rdf_syntax_for_media_type

    syntax = rdf_syntax_for_media_type(media_type or NTRIPLES)
    if syntax is None:
        raise RemoteError(f"the remote server {url} answered with {media_type}, not RDF")
    try:
        quads = list(ox.parse(body, format=syntax.oxigraph))
    except (SyntaxError, ValueError) as error:
        raise RemoteError(f"the remote server {url} sent RDF that cannot be read: {error}") from error
    return (ox.Triple(q.subject, q.predicate, q.object) for q in quads)


def quads_text(quads: Iterable[ox.Quad]) -> str:
    """Quads as the body of INSERT DATA / DELETE DATA (``GRAPH`` blocks; default-graph triples bare)."""
    by_graph: dict[ox.NamedNode | ox.DefaultGraph, list[ox.Triple]] = {}
    for quad in quads:
        by_graph.setdefault(quad.graph_name, []).append(ox.Triple(quad.subject, quad.predicate, quad.object))
    parts = []
    for name, triples in by_graph.items():
        body = _serialize(triples, ox.RdfFormat.N_TRIPLES).decode()
        parts.append(body if isinstance(name, ox.DefaultGraph) else f"GRAPH <{name.value}> {{\n{body}}}\n")
    return "".join(parts)


def _serialize(triples, rdf_format) -> bytes:
    out = io.BytesIO()
    ox.serialize(triples, out, format=rdf_format)
    return out.getvalue()


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- the store the server's views use ---------------------------------------------------------


def query_form(text: str) -> type:
    """What kind of result a query gives (``ox.QuerySolutions``, ``ox.QueryBoolean``, ``ox.QueryTriples``).

    Evaluated lazily on an empty store, so this parses the query (a SyntaxError with the
    position, as a local store would give) without evaluating anything.
    """
    return type(ox.Store().query(text))


class RemoteDataset:
    """The pyoxigraph ``Store`` calls Yokuryū's views and writes make, as requests to a remote server.

    ``union_default_graph``: the server serves the union of its graphs as the default graph
    (as the knowledge graph is served), so the default graph is never read as a graph of its own.
    """

    def __init__(self, engine: RemoteEngine, union_default_graph: bool, on_failed_update=None, generations=None):
        self.engine = engine
        self.union_default_graph = union_default_graph
        self.on_failed_update = on_failed_update
        self.generations = generations
        self._known: dict[ox.Quad, bool] = {}  # presence of the quads a write asked about (look_up)

    def query(self, text: str, *, base_iri: str | None = None, prefixes: dict | None = None,
              use_default_graph_as_union: bool = False, default_graph=None, named_graphs=None):
        text = prologue(base_iri, prefixes) + text
        form = query_form(text)
        params = [("default-graph-uri", g.value) for g in default_graph or ()] if default_graph is not None else []
        params += [("named-graph-uri", g.value) for g in named_graphs or ()]
        if form is ox.QueryTriples:
            body, media_type = self.engine.query(text, accept=NTRIPLES, params=params)
            return list(_parse_rdf(body, media_type, self.engine.query_url))
        body, media_type = self.engine.query(text, accept=JSON_RESULTS, params=params)
        return parse_results(body, media_type, self.engine.query_url)

    def update(self, text: str, *, base_iri: str | None = None, prefixes: dict | None = None) -> None:
        self._known = {}
        text = prologue(base_iri, prefixes) + text
        try:
            if self.generations is None:
                self.engine.update(text)
            else:
                self.generations.commit(text)
        except RemoteError:
            # Applied or not, the server no longer matches what the writer prepared (for the
            # store: its working copy, already ahead by this write): the writer must start afresh.
            if self.on_failed_update is not None:
                self.on_failed_update()
            raise

    def quads_for_pattern(self, subject, predicate, obj, graph_name=None) -> Iterator[ox.Quad]:
        s, p, o = (sparql_term(t) if t is not None else f"?{v}" for t, v in ((subject, "s"), (predicate, "p"), (obj, "o")))
        if isinstance(graph_name, ox.NamedNode):
            where = f"GRAPH {sparql_term(graph_name)} {{ {s} {p} {o} }}"
        elif isinstance(graph_name, ox.DefaultGraph):
            where = f"{s} {p} {o}"
        elif self.union_default_graph:
            where = f"GRAPH ?g {{ {s} {p} {o} }}"
        else:
            where = f"{{ {s} {p} {o} }} UNION {{ GRAPH ?g {{ {s} {p} {o} }} }}"
        quads = []
        for row in self.engine.select(f"SELECT * WHERE {{ {where} }}"):
            graph = graph_name if graph_name is not None else row.get("g", ox.DefaultGraph())
            quads.append(ox.Quad(subject or row["s"], predicate or row["p"], obj or row["o"], graph))
        return iter(quads)  # an iterator, as pyoxigraph's own

    def named_graphs(self) -> Iterator[ox.NamedNode]:
        return iter([row["g"] for row in self.engine.select("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }")])

    def contains_named_graph(self, graph: ox.NamedNode) -> bool:
        return graph in self.named_graphs()

    def look_up(self, quads: Iterable[ox.Quad]) -> None:
        """Which of ``quads`` the server holds, in one query per thousand, for the ``in`` tests
        that follow (a write's change and its inferences): these replace any earlier answers."""
        known: dict[ox.Quad, bool] = {}
        named = [q for q in dict.fromkeys(quads) if isinstance(q.graph_name, ox.NamedNode)
                 and not isinstance(q.subject, ox.BlankNode) and not isinstance(q.object, ox.BlankNode)]
        for batch in _batches(named, 1000):
            rows = self.engine.select("SELECT ?s ?p ?o ?g WHERE { VALUES (?s ?p ?o ?g) { " + " ".join(
                f"({sparql_term(q.subject)} {sparql_term(q.predicate)} {sparql_term(q.object)} "
                f"{sparql_term(q.graph_name)})" for q in batch) + " } GRAPH ?g { ?s ?p ?o } }")
            present = {ox.Quad(r["s"], r["p"], r["o"], r["g"]) for r in rows}
            known.update((q, q in present) for q in batch)
        self._known = known

    def __contains__(self, quad: ox.Quad) -> bool:
        if quad in self._known:
            return self._known[quad]
        triple = f"{sparql_term(quad.subject)} {sparql_term(quad.predicate)} {sparql_term(quad.object)}"
        if isinstance(quad.graph_name, ox.DefaultGraph):
            return self.engine.ask(f"ASK {{ {triple} }}")
        return self.engine.ask(f"ASK {{ GRAPH {sparql_term(quad.graph_name)} {{ {triple} }} }}")

    def __iter__(self) -> Iterator[ox.Quad]:
        return self.quads_for_pattern(None, None, None, None)

    def __len__(self) -> int:
        where = "GRAPH ?g { ?s ?p ?o }" if self.union_default_graph else \
            "{ ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } }"
        rows = self.engine.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}")
        return int(rows[0]["n"].value) if rows else 0

    def extend(self, quads: Iterable[ox.Quad]) -> None:
        self.engine.insert_quads(quads)

    def clear(self) -> None:
        self.engine.update("DROP SILENT ALL")

    def flush(self) -> None:
        pass  # the remote server decides when its writes are durable

    def dump(self, output, format, from_graph=None) -> None:
        if from_graph is not None:
            quads = self.quads_for_pattern(None, None, None, from_graph)
            ox.serialize((ox.Triple(q.subject, q.predicate, q.object) for q in quads), output, format=format)
        else:
            ox.serialize(list(self), output, format=format)


def prologue(base_iri: str | None, prefixes: dict | None) -> str:
    """BASE and PREFIX declarations put before a request's own (its own still win)."""
    lines = [f"BASE <{base_iri}>"] if base_iri else []
    lines += [f"PREFIX {name}: <{iri}>" for name, iri in (prefixes or {}).items()]
    return "\n".join(lines) + "\n" if lines else ""


class RemoteKnowledgeStore(KnowledgeStore):
    """A :class:`KnowledgeStore` whose data lives on a remote SPARQL server.

    Writes to the knowledge graph (``union_default_graph``) use the fast engine's working copy
    (:class:`yokuryu.graph.fast.IncrementalState`: made from the server by the first write, then
    kept up to date by each write, so a write's validation and reasoning cost follows its change,
    not the server's size). The copy is trusted only while the server's write generation is the
    one it was made at (:class:`_Generations`): a write by another Yokuryū, or a build, makes
    the next write start a fresh copy.
    """

    def __init__(self, engine: RemoteEngine, union_default_graph: bool = True):
        self._working_copy = None
        self.generations = _Generations(engine, self) if union_default_graph else None
        super().__init__(RemoteDataset(engine, union_default_graph, on_failed_update=self._forget_working_copy,
                                       generations=self.generations))
        self.engine = engine
        self.write_lock = _WriteLock(self.oxigraph)

    @property
    def incremental(self):
        if self._working_copy is not None and self.generations is not None and not self.generations.current():
            self._working_copy = None  # someone else wrote since it was made
        if self._working_copy is None and self.generations is not None:
            self.generations.before_copy()
        return self._working_copy

    @incremental.setter
    def incremental(self, state) -> None:
        self._working_copy = state
        if self.generations is not None:
            self.generations.copied(state is not None)

    def _forget_working_copy(self) -> None:
        # The fast engine's copy took the write before the commit failed; the next write makes
        # a new one from the server.
        self.incremental = None

    @property
    def is_persistent(self) -> bool:
        return True  # the remote server keeps the data

    @property
    def location(self) -> str:
        return self.engine.query_url

    def quad_count(self) -> int:
        return len(self)  # others may write to the remote server: ask it every time

    def graph_count(self, name: str | None) -> int:
        where = "{ ?s ?p ?o }" if name is None else f"GRAPH <{name}> {{ ?s ?p ?o }}"
        rows = self.engine.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}")
        return int(rows[0]["n"].value) if rows else 0

    def close(self) -> None:
        pass


class _WriteLock:
    """The store's write lock; on release, the answers a write looked up are forgotten (they were
    true for that write only: a reader after it asks the server again)."""

    def __init__(self, dataset: RemoteDataset):
        self._lock = threading.Lock()
        self._dataset = dataset

    def acquire(self, *args, **kwargs) -> bool:
        return self._lock.acquire(*args, **kwargs)

    def release(self) -> None:
        self._dataset._known = {}
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class _Generations:
    """The server's write generation, as the store's working copy knows it.

    ``before_copy`` reads it before a copy is made (a write that lands between that read and
    the copy only makes the copy look older than it is: the next write starts afresh, which is
    safe); ``commit`` sends a write together with a new generation, in one request (a SPARQL
    server applies one update request as a whole), after checking that nobody else wrote since
    the copy was made.
    """

    def __init__(self, engine: RemoteEngine, store: RemoteKnowledgeStore):
        self.engine = engine
        self.store = store
        self.seen: str | None = None  # the generation the working copy holds
        self.read: str | None = None  # read before the copy that is being made

    def before_copy(self) -> None:
        self.read = self.engine.generation()

    def copied(self, made: bool) -> None:
        self.seen = self.read if made else None

    def current(self) -> bool:
        return self.engine.generation() == self.seen

    def commit(self, text: str) -> None:
        if self.store._working_copy is not None and not self.current():
            raise RemoteConflict(
                f"the remote server {self.engine.query_url} was written by someone else while this write was "
                "checked, so the check may be out of date; nothing was applied: send the write again")
        value = _new_generation()
        self.engine.update(text + " ;\n" + generation_update(value))
        if self.store._working_copy is not None:
            self.seen = value


class RemoteConflict(RemoteError):
    """Another writer changed the remote server between a write's check and its commit."""
