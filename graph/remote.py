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
import re
import socket
import threading
import time
import urllib.error
import uuid
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator

import pyoxigraph as ox

from yokuryu.graph.sparql_engine import Row, sparql_term
from yokuryu.graph.store import KnowledgeStore
from yokuryu.ontology import GRAPH, INFERRED_GRAPH, ONTOLOGY_GRAPH, SHAPES_GRAPH

INFERRED = str(INFERRED_GRAPH)

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
        query, params = dataset_as_parameters(query, "FROM")
        body, media_type = self.query(query, accept=NTRIPLES, params=params)
        return list(_parse_rdf(body, media_type, self.query_url))

    def update(self, update: str) -> None:
        if self.update_url is None:
            raise RemoteError("no update URL was given for the remote server (--remote-update URL)")
        update, params = dataset_as_parameters(update, "USING")
        self._send(self.update_url, "POST", urllib.parse.urlencode([("update", update), *params]).encode(), FORM)

    def insert_quads(self, quads: Iterable[ox.Quad]) -> None:
        for batch in _batches(quads, self.batch_size):
            self.update("INSERT DATA {\n" + quads_text(batch) + "}")

    def update_with(self, update: str, params: Iterable[tuple[str, str]]) -> None:
        """POST ``update`` (any number of operations) with the protocol's dataset ``params``."""
        if self.update_url is None:
            raise RemoteError("no update URL was given for the remote server (--remote-update URL)")
        self._send(self.update_url, "POST", urllib.parse.urlencode([("update", update), *params]).encode(), FORM)

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
        query, params = dataset_as_parameters(query, "FROM")
        body, media_type = self.query(query, accept=JSON_RESULTS, params=params)
        return parse_results(body, media_type, self.query_url)

    def _send(self, url: str, method: str, body: bytes, content_type: str, *, accept: str | None = None,
              max_bytes: int | None = None) -> tuple[bytes, str]:
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Content-Type", content_type)
        if accept:
            request.add_header("Accept", accept)
        if self.authorization:
            request.add_header("Authorization", self.authorization)
        # A client's query (``max_bytes``: its results limit) is answered within the time limit as a
        # whole; the server's own reads of whole graphs (a build, a backup) may take longer.
        deadline = time.monotonic() + self.timeout if max_bytes is not None else float("inf")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = _read_until(response, deadline, max_bytes)
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


def _read_until(response, deadline: float, max_bytes: int | None) -> bytes:
    """The answer's body, up to one byte past ``max_bytes``; a :class:`TimeoutError` once ``deadline``
    has passed. The socket's timeout bounds each wait for bytes, not the whole: a server sending
    a byte a second would otherwise hold the request for ever."""
    chunks, total = [], 0
    while max_bytes is None or total <= max_bytes:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer did not finish in time")
        wanted = 65536 if max_bytes is None else min(65536, max_bytes + 1 - total)
        chunk = response.read1(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def dataset_as_parameters(text: str, keyword: str) -> tuple[str, list[tuple[str, str]]]:
    """A one-operation request's ``FROM``/``USING`` (``NAMED``) clauses as protocol parameters.

    Both say the same per SPARQL 1.1, and the protocol's win; but a server that serves the
    union of its graphs as the default graph may ignore the clauses in the text (``oxigraph
    serve --union-default-graph`` reads all graphs despite FROM, and refuses USING), while every
    server honours the parameters. The compiled checks name their datasets this way, so they
    need it to read exactly the graphs they name. Texts with several operations stay as they are.
    """
    if keyword not in text and keyword.lower() not in text:
        return text, []
    from yokuryu.graph.sparql_text import SparqlTextError, tokens

    try:
        found = tokens(text)
    except SparqlTextError:
        return text, []  # the server reports the error
    if any(t.kind == "semicolon" and t.depth == 0 for t in found):
        return text, []
    names = ("default-graph-uri", "named-graph-uri") if keyword == "FROM" else ("using-graph-uri", "using-named-graph-uri")
    params, cuts = [], []
    i = 0
    while i < len(found):
        token = found[i]
        if token.depth == 0 and token.keyword == keyword:
            named = i + 1 < len(found) and found[i + 1].keyword == "NAMED"
            j = i + 2 if named else i + 1
            if j < len(found) and found[j].kind == "iri":
                params.append((names[1] if named else names[0], found[j].text[1:-1]))
                cuts.append((token.start, found[j].start + len(found[j].text)))
                i = j + 1
                continue
            return text, []  # a prefixed name or something unexpected: leave the text to the server
        i += 1
    for start, end in reversed(cuts):
        text = text[:start] + text[end:]
    return text, params


def hidden(graph: str) -> bool:
    """A graph no reader through Yokuryū sees: the reasoner's own (``…/graph/reasoner/``), among
    them the staging graphs of a write being checked, whose triples are not the knowledge graph's
    (or not yet). A local store holds none of them."""
    return graph.startswith(REASONER)


def visible_graph_names(engine: RemoteEngine, generation: str | None | object = ...) -> list[str]:
    """The server's named graphs a reader may see.

    Listing a server's graphs can cost as much as a scan (9 ms of oxigraph's CPU at 100k
    triples, against 0.2 ms for a point lookup), so the list is kept with the write generation
    it was read at (``GENERATION``: every commit and build changes it) and read again when the
    generation differs, or after ``GRAPHS_KEPT_FOR`` seconds for graphs that clients writing to
    the server directly (not through Yokuryū, so without a new generation) make. The generation
    is read first: a commit between the two reads leaves a list kept under a value that is gone.
    ``generation``: the value, when the caller has just read it.
    """
    if generation is ...:
        generation = engine.generation()
    kept = getattr(engine, "_visible_graphs", None)
    now = time.monotonic()
    if kept is not None and kept[0] == generation and now - kept[1] < GRAPHS_KEPT_FOR:
        return kept[2]
    graphs = [g for g in _graph_names(engine) if not hidden(g)]
    engine._visible_graphs = (generation, now, graphs)
    return graphs


def _graphs_after_commit(engine: RemoteEngine, seen: str | None, value: str, text: str) -> None:
    """This Yokuryū committed ``text`` at generation ``seen``, making it ``value``: the kept list of
    graphs (if read at ``seen``) holds at ``value`` with the graphs the commit names added (a graph
    a commit empties may stay listed: an empty graph in a dataset changes no answer)."""
    kept = getattr(engine, "_visible_graphs", None)
    if kept is not None and kept[0] == seen:
        named = {g for g in re.findall(r"GRAPH <([^>]*)>", text) if not hidden(g)}
        engine._visible_graphs = (value, kept[1], sorted(set(kept[2]) | named))


def reader_dataset(engine: RemoteEngine, text: str, default_graph: Iterable[str] | None = None,
                   named_graphs: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """The protocol dataset (default-graph-uri / named-graph-uri) of a reader's query over the
    knowledge graph on the server, so that it never reads a hidden graph.

    The server serves the union of all its graphs as the default graph, and a write's staging
    graphs are among them while it is checked; SPARQL has no way to leave graphs out of a union,
    so the query names its dataset: the one it gave (protocol parameters, else its own FROM /
    FROM NAMED, which protocol parameters replace) without hidden graphs, else every visible
    graph as the default graph and as the named graphs (one more request: the list of graphs,
    asked after the query arrived, so a graph a commit made before then is in it). The union
    of the named graphs is the knowledge graph's default graph: its writes never go to the
    server's own default graph (400).
    """
    if default_graph is None and named_graphs is None:
        default_graph, named_graphs = text_dataset(text)
        if default_graph is None and named_graphs is None:
            default_graph = named_graphs = visible_graph_names(engine)
    params = [("default-graph-uri", g) for g in default_graph or () if not hidden(g)]
    params += [("named-graph-uri", g) for g in named_graphs or () if not hidden(g)]
    # No parameter at all would mean "the server's default dataset" (the union, staging included):
    # a dataset whose graphs were all hidden is one graph that never exists instead.
    return params or [("default-graph-uri", NO_GRAPH)]


def text_dataset(text: str) -> tuple[list[str] | None, list[str] | None]:
    """A query's FROM and FROM NAMED graphs, as absolute IRIs; (None, None) when it names none.

    Prefixed names are expanded with the text's PREFIX declarations, relative IRIs resolved
    against its BASE (``prologue`` puts the request's own there). The text was parsed already,
    so it is well formed.
    """
    if "from" not in text.lower():
        return None, None
    from yokuryu.graph.sparql_text import tokens

    found = [t for t in tokens(text) if t.depth == 0]
    prefixes: dict[str, str] = {}
    base = ""
    default: list[str] = []
    named: list[str] = []
    any_clause = False
    i = 0
    while i < len(found):
        word = found[i].keyword
        if word == "BASE" and i + 1 < len(found) and found[i + 1].kind == "iri":
            base = urllib.parse.urljoin(base, found[i + 1].text[1:-1])
            i += 2
        elif word == "PREFIX" and i + 2 < len(found) and found[i + 2].kind == "iri":
            prefixes[found[i + 1].text[:-1]] = urllib.parse.urljoin(base, found[i + 2].text[1:-1])
            i += 3
        elif word == "FROM":
            any_clause = True
            is_named = i + 1 < len(found) and found[i + 1].keyword == "NAMED"
            term = found[i + 2 if is_named else i + 1]
            if term.kind == "iri":
                iri = urllib.parse.urljoin(base, term.text[1:-1])
            else:
                prefix, local = term.text.split(":", 1)
                iri = prefixes[prefix] + re.sub(r"\\(.)", r"\1", local)
            (named if is_named else default).append(iri)
            i += 3 if is_named else 2
        else:
            i += 1
    return (default, named) if any_clause else (None, None)


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

    def __init__(self, engine: RemoteEngine, union_default_graph: bool, generations=None):
        self.engine = engine
        self.union_default_graph = union_default_graph
        self.generations = generations
        self._known: dict[ox.Quad, bool] = {}  # presence of the quads a write asked about (look_up)

    def query(self, text: str, *, base_iri: str | None = None, prefixes: dict | None = None,
              use_default_graph_as_union: bool = False, default_graph=None, named_graphs=None):
        text = prologue(base_iri, prefixes) + text
        form = query_form(text)
        default = [_iri(g) for g in default_graph] if default_graph is not None else None
        named = [_iri(g) for g in named_graphs] if named_graphs is not None else None
        if self.union_default_graph:  # the knowledge graph: never a write's staging graphs
            params = reader_dataset(self.engine, text, default, named)
        else:
            params = [("default-graph-uri", g) for g in default or ()] + [("named-graph-uri", g) for g in named or ()]
        if form is ox.QueryTriples:
            body, media_type = self.engine.query(text, accept=NTRIPLES, params=params)
            return list(_parse_rdf(body, media_type, self.engine.query_url))
        body, media_type = self.engine.query(text, accept=JSON_RESULTS, params=params)
        return parse_results(body, media_type, self.engine.query_url)

    def update(self, text: str, *, base_iri: str | None = None, prefixes: dict | None = None) -> None:
        self._known = {}
        text = prologue(base_iri, prefixes) + text
        if self.generations is None:
            self.engine.update(text)
        else:
            self.generations.commit(text)

    def quads_for_pattern(self, subject, predicate, obj, graph_name=None) -> Iterator[ox.Quad]:
        s, p, o = (sparql_term(t) if t is not None else f"?{v}" for t, v in ((subject, "s"), (predicate, "p"), (obj, "o")))
        if isinstance(graph_name, ox.NamedNode):
            where = f"GRAPH {sparql_term(graph_name)} {{ {s} {p} {o} }}"
        elif isinstance(graph_name, ox.DefaultGraph):
            where = f"{s} {p} {o}"
        elif self.union_default_graph:
            where = f"GRAPH ?g {{ {s} {p} {o} }} {VISIBLE_G}"
        else:
            where = f"{{ {s} {p} {o} }} UNION {{ GRAPH ?g {{ {s} {p} {o} }} }}"
        quads = []
        for row in self.engine.select(f"SELECT * WHERE {{ {where} }}"):
            graph = graph_name if graph_name is not None else row.get("g", ox.DefaultGraph())
            quads.append(ox.Quad(subject or row["s"], predicate or row["p"], obj or row["o"], graph))
        return iter(quads)  # an iterator, as pyoxigraph's own

    def named_graphs(self) -> Iterator[ox.NamedNode]:
        names = [row["g"] for row in self.engine.select("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }")]
        return iter([g for g in names if not (self.union_default_graph and hidden(g.value))])

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
            if self.union_default_graph:
                return self.engine.ask(f"ASK {{ GRAPH ?g {{ {triple} }} {VISIBLE_G} }}")
            return self.engine.ask(f"ASK {{ {triple} }}")
        return self.engine.ask(f"ASK {{ GRAPH {sparql_term(quad.graph_name)} {{ {triple} }} }}")

    def __iter__(self) -> Iterator[ox.Quad]:
        return self.quads_for_pattern(None, None, None, None)

    def __len__(self) -> int:
        where = f"GRAPH ?g {{ ?s ?p ?o }} {VISIBLE_G}" if self.union_default_graph else \
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


def _iri(graph) -> str:
    return graph if isinstance(graph, str) else graph.value


def prologue(base_iri: str | None, prefixes: dict | None) -> str:
    """BASE and PREFIX declarations put before a request's own (its own still win)."""
    lines = [f"BASE <{base_iri}>"] if base_iri else []
    lines += [f"PREFIX {name}: <{iri}>" for name, iri in (prefixes or {}).items()]
    return "\n".join(lines) + "\n" if lines else ""


class RemoteKnowledgeStore(KnowledgeStore):
    """A :class:`KnowledgeStore` whose data lives on a remote SPARQL server.

    Writes to the knowledge graph (``union_default_graph``) are checked on the server itself
    (:class:`RemoteChecker`: the change staged in temporary graphs there, the compiled shapes
    and the compiled reasoner run over them as SPARQL), so Yokuryū holds no copy of the data.
    A write is committed only if the server's write generation is still the one it was checked
    at (:class:`_Generations`): a write by another Yokuryū, or a build, in between refuses it.
    """

    def __init__(self, engine: RemoteEngine, union_default_graph: bool = True):
        self._checker = None
        self.generations = _Generations(engine, self) if union_default_graph else None
        super().__init__(RemoteDataset(engine, union_default_graph, generations=self.generations))
        self.engine = engine
        self.write_lock = _WriteLock(self.oxigraph)

    @property
    def incremental(self):
        """What the write transaction checks a change with (the fast engine's interface)."""
        if self._checker is None and self.generations is not None:
            self._checker = RemoteChecker(self.engine, self.generations)
        return self._checker

    @incremental.setter
    def incremental(self, state) -> None:
        # The transaction drops a local working copy after a failure; the checker keeps nothing
        # between writes (each one stages its change afresh), so there is nothing to drop.
        pass

    @property
    def is_persistent(self) -> bool:
        return True  # the remote server keeps the data

    @property
    def location(self) -> str:
        return self.engine.query_url

    def quad_count(self) -> int:
        return len(self)  # others may write to the remote server: ask it every time

    def graph_count(self, name: str | None) -> int:
        if name is None:  # the default graph: the union of the graphs a reader sees
            where = f"GRAPH ?g {{ ?s ?p ?o }} {VISIBLE_G}" if self.oxigraph.union_default_graph else "{ ?s ?p ?o }"
        else:
            where = f"GRAPH <{name}> {{ ?s ?p ?o }}"
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
    """The server's write generation, as the write being checked saw it.

    ``begin`` reads it when a write's check starts; ``commit`` sends the write together with a
    new generation, in one request (a SPARQL server applies one update request as a whole),
    after checking that nobody else wrote since the check began.
    """

    def __init__(self, engine: RemoteEngine, store: RemoteKnowledgeStore):
        self.engine = engine
        self.store = store
        self.seen: str | None = None  # read when the current write's check began
        self.checking = False

    def begin(self) -> None:
        self.seen = self.engine.generation()
        self.checking = True

    def current(self) -> bool:
        return self.engine.generation() == self.seen

    def commit(self, text: str) -> None:
        checked, self.checking = self.checking, False
        value = _new_generation()
        conditional = _conditional(text, self.seen, value) if checked else None
        if conditional is not None:
            # Every operation applies only if the generation is still the one the check saw:
            # the server decides, within the one request, so no other writer can slip in between.
            self.engine.update(conditional)
            if self.engine.generation() != value:
                raise self._conflict()
            _graphs_after_commit(self.engine, self.seen, value, text)
            return
        if checked and not self.current():
            raise self._conflict()
        self.engine.update(text + " ;\n" + generation_update(value))

    def _conflict(self) -> RemoteConflict:
        return RemoteConflict(
            f"the remote server {self.engine.query_url} was written by someone else while this write was "
            "checked, so the check may be out of date; nothing was applied: send the write again")


def _conditional(text: str, seen: str | None, value: str) -> str | None:
    """The commit ``text`` (DELETE DATA / INSERT DATA operations, as the write transaction sends
    them) with each operation applied only while the generation is ``seen``, then the new
    generation ``value``; None for any other text (then the check and the write are two requests)."""
    import re

    now = f"GRAPH <{GENERATION}> {{ <{GENERATION}> <{RDF_VALUE}> ?__generation }}"
    if seen is None:
        condition = f"FILTER NOT EXISTS {{ {now} }}"
    else:
        condition = f'GRAPH <{GENERATION}> {{ <{GENERATION}> <{RDF_VALUE}> "{seen}" }}'
    parts = []
    for op in text.split(" ;\n"):
        match = re.fullmatch(r"(DELETE|INSERT) DATA \{\n(.*)\}", op, re.DOTALL)
        if match is None or "_:" in match.group(2):
            return None
        parts.append(f"{match.group(1)} {{\n{match.group(2)}}} WHERE {{ {condition} }}")
    old = f'GRAPH <{GENERATION}> {{ <{GENERATION}> <{RDF_VALUE}> "{seen}" }}'
    parts.append((f"DELETE {{ {old} }} " if seen is not None else "")
                 + f'INSERT {{ GRAPH <{GENERATION}> {{ <{GENERATION}> <{RDF_VALUE}> "{value}" }} }} '
                 + f"WHERE {{ {condition} }}")
    return " ;\n".join(parts)


class RemoteConflict(RemoteError):
    """Another writer changed the remote server between a write's check and its commit."""


# --- writes checked on the server itself ------------------------------------------------------

# The compiled reasoner's graphs are all under this prefix (yokuryu.graph.owlrl_sparql.REASONER_PREFIX);
# writes may not touch it, and the build stores none of it (except the write generation).
REASONER = str(GRAPH) + "reasoner/"
# Each write's staged state lives under STAGING + "<unix time>-<random>/"; stale ones (a Yokuryū
# killed in the middle of a check) are dropped by the next Yokuryū to check a write.
STAGING = REASONER + "staging/"
STALE_AFTER = 3600.0  # seconds: far longer than any check (every request has a timeout)
# An IRI that names no graph (no staging graph is named after the prefix alone): the dataset of
# a reader whose every graph was hidden.
NO_GRAPH = STAGING
GRAPHS_KEPT_FOR = 5.0  # seconds (see ``visible_graph_names``)
# A query's ``GRAPH ?g`` left to the graphs a reader sees (see ``hidden``).
VISIBLE_G = f'FILTER(!STRSTARTS(STR(?g), "{REASONER}"))'


class _Batched:
    """The remote engine for one check: its updates are held and sent together, as the operations
    of one request, when something reads (a query) or the check ends (``flush``).

    A check's compiled rules send dozens of updates in a row (a semi-naive round is a few drops
    and one INSERT … WHERE per rule), each a request of its own. The server applies the
    operations of one request in order, each seeing what the ones before did, as it would
    separate requests, so holding them changes no result. Their ``USING`` clauses go as the
    protocol's parameters (see :func:`dataset_as_parameters`), which apply to every operation
    of a request: operations that read (``… WHERE``) share a request only when they name the
    same dataset; the others (``DROP``, ``INSERT DATA``…) read nothing and join any.
    """

    MAX_TEXT = 1_000_000  # characters held before they are sent anyway

    def __init__(self, engine: RemoteEngine, prefix: str):
        self.engine = engine
        self.prefix = re.compile("<(" + re.escape(prefix) + "[^>]*)>")
        self.named: set[str] = set()  # the staging graphs named in the requests of the check
        self.held: list[str] = []
        self.params: list[tuple[str, str]] | None = None  # the held operations' dataset (None: any)
        self.size = 0

    def update(self, update: str) -> None:
        from yokuryu.graph.sparql_text import SparqlTextError, operations

        self.note(update)
        try:
            ops = operations(update)
        except SparqlTextError:
            ops = []
        if len(ops) != 1 or any(t.keyword == "WITH" for t in ops[0].tokens if t.depth == 0):
            self.flush()  # several operations or a WITH: sent as they are, on their own
            self.engine.update(update)
            return
        text, params = dataset_as_parameters(update, "USING")
        reads = ops[0].is_modify or ops[0].is_delete_where
        wanted = params if reads else None
        # oxigraph reads PREFIX / BASE only at the start of a request (not after a ';').
        prologue = ops[0].tokens[0].keyword in ("PREFIX", "BASE")
        if self.held and (prologue or self.size + len(text) > self.MAX_TEXT
                          or (wanted is not None and self.params is not None and wanted != self.params)):
            self.flush()
        self.held.append(text)
        self.size += len(text)
        if wanted is not None:
            self.params = wanted

    def insert_quads(self, quads: Iterable[ox.Quad]) -> None:
        for batch in _batches(quads, self.engine.batch_size):
            self.update("INSERT DATA {\n" + quads_text(batch) + "}")

    def flush(self) -> None:
        if self.held:
            held, params = self.held, self.params or []
            self.held, self.params, self.size = [], None, 0
            self.engine.update_with(" ;\n".join(held), params)

    def discard(self) -> None:
        self.held, self.params, self.size = [], None, 0

    def note(self, text: str) -> None:
        self.named.update(self.prefix.findall(text))

    def select(self, query: str) -> list[Row]:
        self.flush()
        self.note(query)
        return self.engine.select(query)

    def ask(self, query: str) -> bool:
        self.flush()
        self.note(query)
        return self.engine.ask(query)

    def construct(self, query: str) -> list[ox.Triple]:
        self.flush()
        self.note(query)
        return self.engine.construct(query)


class StagedView:
    """:class:`SparqlEngine` over the remote server in which some graphs are swapped for a write's
    staged copies: each request's text has the graph IRIs of ``renamed`` replaced by their
    copies, and the compiled reasoner's own graphs (``…/graph/reasoner/…``) moved under the
    write's staging prefix; graph names in answers are mapped back. The compiled shapes and
    reasoner name every graph they read or write explicitly (FROM, USING, GRAPH), so they run
    through this unchanged and see the staged state while the real graphs stay as they are."""

    def __init__(self, engine: RemoteEngine, prefix: str, renamed: dict[str, str],
                 overlays: dict[str, str] | None = None):
        import re

        self.engine = engine
        self.prefix = prefix
        self.renamed = dict(renamed)
        # Overlay mode (a write that only adds): graph → the staged graph of what the write adds
        # to it; the inferred graph's overlay also has a graph of what the write takes from it.
        self.overlays = dict(overlays or {})
        self.back = {copy: name for name, copy in (*self.renamed.items(), *self.overlays.items())}
        self.inferred_removed = prefix + "inferred-removed"
        # Renamed graphs only where a graph is named (a data term that happens to be a graph's
        # IRI stays as it is); the reasoner's own graphs wherever their prefix appears.
        exact = "|".join(re.escape(f"<{name}>") for name in sorted(self.renamed, key=len, reverse=True))
        where = r"(?:(?<![\w?$])(?:GRAPH|FROM|NAMED|USING|WITH|TO|SILENT)\s+|,\s*)"  # ",": IF(…, <S>, <I>)
        self._pattern = re.compile("|".join(([f"(?i:{where})(?:{exact})"] if exact else []) + [re.escape(REASONER)]))

    def text(self, text: str) -> str:
        text = self._pattern.sub(self._swap, text)
        if self.overlays and any(f"<{name}>" in text for name in self.overlays):
            text = _with_overlays(text, self.overlays, INFERRED, self.inferred_removed)
        return text

    def _swap(self, match) -> str:
        found = match.group(0)
        if found == REASONER:
            return self.prefix
        keyword, iri = found[:found.rindex("<")], found[found.rindex("<"):]
        return f"{keyword}<{self.renamed[iri[1:-1]]}>"

    def graph(self, name: str) -> str:
        if name in self.renamed:
            return self.renamed[name]
        if name in self.overlays:
            return self.overlays[name]  # what a write adds to a graph goes to its overlay
        return self.prefix + name[len(REASONER):] if name.startswith(REASONER) else name

    def _back(self, term):
        if isinstance(term, ox.NamedNode) and term.value.startswith(self.prefix):
            name = term.value
            return ox.NamedNode(self.back.get(name, REASONER + name[len(self.prefix):]))
        return term

    def select(self, query: str) -> list[Row]:
        return [{k: self._back(v) for k, v in row.items()} for row in self.engine.select(self.text(query))]

    def ask(self, query: str) -> bool:
        return self.engine.ask(self.text(query))

    def construct(self, query: str) -> list[ox.Triple]:
        return self.engine.construct(self.text(query))

    def update(self, update: str) -> None:
        self.engine.update(self.text(update))

    def insert_quads(self, quads: Iterable[ox.Quad]) -> None:
        self.engine.insert_quads(self.insert_quad(q) for q in quads)

    def insert_quad(self, q: ox.Quad) -> ox.Quad:
        """``q`` in the staged graph that stands for its graph."""
        return ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(self.graph(q.graph_name.value)))


def _with_overlays(text: str, overlays: dict[str, str], inferred: str, inferred_removed: str) -> str:
    """``text`` reading and writing each overlaid graph G as G plus its overlay graph O.

    For the inferred graph I (overlay A, removals R) the staged state is (I minus R) plus A:
    a read ``GRAPH <I> {b}`` becomes ``{ GRAPH <I> {b} FILTER NOT EXISTS { GRAPH <R> {b} } }
    UNION { GRAPH <A> {b} }``; an insert goes to A; a delete leaves A and enters R. A dataset
    clause naming G (FROM, USING, NAMED) names O too. A merged default graph cannot leave R out:
    the reasoner's rules do that themselves, atom by atom (``StagedReasoner.hiding``).
    """
    from yokuryu.graph.sparql_text import tokens

    found = tokens(text)
    edits: list[tuple[int, int, str]] = []
    added = overlays.get(inferred)

    def close_of(k: int) -> int:
        depth = found[k].depth
        for m in range(k + 1, len(found)):
            if found[m].kind == "close" and found[m].depth == depth:
                return m
        raise ValueError("unbalanced braces")

    kind = "read"
    handled: set[int] = set()
    i = 0
    while i < len(found):
        t = found[i]
        if t.kind == "open" and t.depth == 0:
            before = [u for u in found[:i] if u.depth == 0 and u.kind == "word"][-2:]
            words = [u.keyword for u in before]
            if words[-1:] == ["DATA"]:
                kind = "insert-data" if words[:1] == ["INSERT"] else "delete-data"
            elif words[-1:] in (["INSERT"], ["DELETE"]):
                kind = "insert" if words[-1] == "INSERT" else "delete"
            else:
                kind = "read"
        if t.depth == 0 and t.keyword in ("FROM", "USING") and i + 1 < len(found):
            named = found[i + 1].keyword == "NAMED"
            j = i + 2 if named else i + 1
            if j < len(found) and found[j].kind == "iri" and found[j].text[1:-1] in overlays:
                name = found[j].text[1:-1]
                extra = [overlays[name]] + ([inferred_removed] if named and name == inferred else [])
                edits.append((found[j].start + len(found[j].text), found[j].start + len(found[j].text),
                              "".join(f" {t.text}{' NAMED' if named else ''} <{g}>" for g in extra)))
                handled.add(j)
                i = j + 1
                continue
        if (t.kind == "iri" and t.text == f"<{inferred}>" and i not in handled and added is not None):
            graph_word = i > 0 and found[i - 1].keyword == "GRAPH"
            if graph_word and i + 1 < len(found) and found[i + 1].kind == "open":
                end = close_of(i + 1)
                body = text[found[i + 1].start + 1:found[end].start]
                if kind == "read":
                    edits.append((found[i - 1].start, found[end].start + 1,
                                  f"{{ {{ GRAPH <{inferred}> {{{body}}} FILTER NOT EXISTS {{ GRAPH <{inferred_removed}> "
                                  f"{{{body}}} }} }} UNION {{ GRAPH <{added}> {{{body}}} }} }}"))
                    i = end + 1
                    continue
                edits.append((t.start, t.start + len(t.text), f"<{added}>"))
                if kind in ("delete", "delete-data"):
                    # the end of this top-level block: what is deleted from I is recorded in R there
                    top = max(k for k in range(i) if found[k].kind == "open" and found[k].depth == 0)
                    block_end = close_of(top)
                    after = found[block_end].start + 1
                    if kind == "delete-data":
                        edits.append((after, after, f" ;\nINSERT DATA {{ GRAPH <{inferred_removed}> {{{body}}} }}"))
                    elif block_end + 2 < len(found) and found[block_end + 1].keyword == "INSERT" \
                            and found[block_end + 2].kind == "open":
                        spot = found[block_end + 2].start + 1
                        edits.append((spot, spot, f" GRAPH <{inferred_removed}> {{{body}}}"))
                    else:
                        edits.append((after, after, f" INSERT {{ GRAPH <{inferred_removed}> {{{body}}} }}"))
            elif i > 0 and found[i - 1].text.strip() == ",":  # BIND(IF(…, <S>, <I>) AS ?__destination): where to insert
                edits.append((t.start, t.start + len(t.text), f"<{added}>"))
        i += 1
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


# Overlay mode's graphs, as the reasoner names them (StagedView moves them under the write's
# staging prefix): what the write takes from the inferred graph (R), adds to it (A), asserts (M).
INFERRED_REMOVED = REASONER + "inferred-removed"
INFERRED_ADDED = REASONER + "inferred"
WRITTEN = REASONER + "written"


def _hidden_atom_filter(atom: str, exists: bool = False) -> str:
    """A FILTER that drops a solution whose ``atom`` is a triple taken from the inferred graph
    by this write (in R, and neither added back to it nor asserted by the write)."""
    test = (f"GRAPH <{INFERRED_REMOVED}> {{ {atom} }} FILTER NOT EXISTS {{ GRAPH <{INFERRED_ADDED}> {{ {atom} }} }} "
            f"FILTER NOT EXISTS {{ GRAPH <{WRITTEN}> {{ {atom} }} }}")
    return test if exists else f"FILTER NOT EXISTS {{ {test} }}"


class _NeedsCopy(Exception):
    """Overlay mode cannot check this write exactly: check it again on copies of the graphs."""


def _staged_reasoner_class():
    """The compiled reasoner, with its SHACL-AF rule outputs rebuilt on the fly.

    Locally the reasoner keeps each focus node's rule output in a graph of its own, so that a
    change retracts exactly that node's old output; a remote build does not store those graphs.
    Before a change re-runs the rules for some focus nodes, their old output is rebuilt from the
    server's unchanged graphs: what the rules derive there that the inferred graph holds and the
    data does not state. Retracting it may take away a triple that an OWL rule also derives;
    such triples are derived again in one step (their premises are still there) and put back.
    """
    import dataclasses
    import hashlib

    from yokuryu.graph import owlrl_sparql as owl

    class StagedReasoner(owl.CompiledReasoner):
        old_view: StagedView | None = None  # the server as it was, with this write's reasoner graphs
        restored: set
        overlay = False

        def hiding(self, on: bool) -> None:
            """Overlay mode (on): the inferred graph I is read as the real one plus what the write
            adds to it (A), but a rule reads the facts as one merged default graph, in which what
            the write takes from I (R) is still there. So every rule and check reads its atoms
            and tests its head without R's triples (unless A or the write's own quads (M) hold
            them): delete-and-rederive then sees the facts as they are after the retraction,
            and no copy of I is needed. Off (copy mode): the rules as compiled."""
            if "_compiled_rules" not in self.__dict__:
                self._compiled_rules = (self.rules, self.checks)
                hide = _hidden_atom_filter
                self._hiding_rules = tuple(
                    [dataclasses.replace(r, extra=" ".join([r.extra, *(hide(a) for a in dict.fromkeys(r.body))]).strip())
                     for r in rules] for rules in self._compiled_rules)
                self._head_tests = {f"FILTER NOT EXISTS {{ {r.head} }}": f"FILTER NOT EXISTS {{ {r.head} {hide(r.head)} }}"
                                    for r in self._compiled_rules[0]}
            self.rules, self.checks = self._hiding_rules if on else self._compiled_rules
            self.hides = on

        hides = False
        graph_names: list[str] | None = None  # the server's graphs, as the check found them

        def _all_graphs(self, engine):
            # The facts are the server's visible graphs and those the write touches (their staged
            # copies stand for them): known to the check, so not listed again (a listing scans).
            if self.graph_names is not None:
                return self.graph_names
            return super()._all_graphs(engine)

        def _dataset_update(self, template, where, default, named):
            if self.hides:
                for plain, hidden in self._head_tests.items():
                    where = where.replace(plain, hidden)
            return super()._dataset_update(template, where, default, named + self._hiding_graphs())

        def _dataset_update_text(self, text, default, named):
            return super()._dataset_update_text(text, default, named + self._hiding_graphs())

        def _dataset_query(self, head, where_and_tail, default, named):
            return super()._dataset_query(head, where_and_tail, default, named + self._hiding_graphs())

        def _hiding_graphs(self) -> list[str]:
            return [INFERRED_REMOVED, INFERRED_ADDED, WRITTEN] if self.hides else []

        def add(self, engine, quads):
            # No undo on failure (the base class retracts the quads again): the staging is dropped.
            quads = list(quads)
            self._refuse_schema_change(quads)
            if self.hides:  # asserted by this write: never hidden, though moved out of I (into R)
                engine.insert_quads(ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(WRITTEN)) for q in quads)
            return self._add(engine, quads)

        def _shape_rules(self, engine, facts, focus):
            if not self.shape_rules or (focus is not None and not focus):
                return set(), set()
            if focus is None:
                # Every focus node's old output would have to be rebuilt first: check it locally.
                raise owl.NeedsFullRederivation("the change may reach every focus node of the SHACL-AF rules")
            if self.hides and engine.ask(f"ASK {{ {_hidden_atom_filter('?s ?p ?o', exists=True)} }}"):
                # The SHACL-AF rules are SPARQL of any shape: their reads cannot leave R out.
                raise _NeedsCopy()
            self._restore(facts, [f for f in focus if f not in self.restored])
            added, removed = super()._shape_rules(engine, facts, focus)
            if removed and self.overlay:
                raise _NeedsCopy()  # a retraction the merged reads of overlay mode would still see
            return added, removed - self._derived_again(engine, facts, removed)

        def _restore(self, facts, focus) -> None:
            if not focus:
                return
            self.restored.update(focus)
            view = self.old_view
            graphs = sorted({owl.RULE_OUTPUT_PREFIX + hashlib.md5(owl._str(f).encode()).hexdigest() for f in focus})
            for rule in self.shape_rules:
                view.update(self._dataset_update_text(rule.insert(focus), facts, []))
            data = [g for g in facts if g not in (owl.INFERRED, owl.SUPPORT)]
            for g in graphs:
                derived = self._triples(view, f"GRAPH <{g}> {{ ?s ?p ?o }}")
                closed = {t for t in derived | self._rdfs_entailments(derived) if owl._keep(t)}
                keep = self._present(view, closed, owl.INFERRED) - self._existing(view, closed, data)
                view.update(f"DROP SILENT GRAPH <{g}>")
                if keep:
                    view.update(f"INSERT DATA {{ GRAPH <{g}> {{ {owl._triples_text(keep)} }} }}")

        def _derived_again(self, engine, facts, removed) -> set:
            if not removed:
                return set()
            scratch = owl.REASONER_PREFIX + "rule-retracted"
            engine.update(f"DROP SILENT GRAPH <{scratch}>")
            engine.insert_quads(ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(scratch)) for t in removed)
            for rule in self.rules:
                engine.update(self._dataset_update(
                    f"INSERT {{ GRAPH <{owl.INFERRED}> {{ {rule.head} }} }}",
                    f"GRAPH <{scratch}> {{ {rule.head} }}\n  FILTER EXISTS {{ {rule.where(None, None, bound=True)} }}",
                    facts, [scratch]))
            engine.update(f"DROP SILENT GRAPH <{scratch}>")
            return self._present(engine, set(removed), owl.INFERRED)

    return StagedReasoner


class _Presence:
    """Which of a write's touched inferred quads the staged state holds (``quad in state.store``)."""

    def __init__(self, quads: set[ox.Quad]):
        self.quads = quads

    def __contains__(self, quad: ox.Quad) -> bool:
        return quad in self.quads


class RemoteChecker:
    """Checks a write on the remote server itself, with the compiled shapes and reasoner.

    It has the interface of the fast engine's working copy (:class:`yokuryu.graph.fast.
    IncrementalState`: ``try_change`` and ``store``) but keeps no data. For each write:

    1. **stage** (one request): what an addition adds goes to overlay graphs under this
       write's staging prefix; each data graph a removal touches is copied there (``COPY``) and
       the change applied to the copy; the inferred graph is overlaid (what the write adds to
       it, what it takes from it), and copied only when the SHACL-AF rules must run after a
       retraction; the reasoner's support graph (statements about vocabulary terms, which
       follow from the ontology) is added there;
    2. **validate**: the compiled shapes find the focus nodes the change can reach and check
       them, over the real data graphs with the touched ones swapped for their copies
       (:class:`StagedView`);
    3. **reason**: the copies are put back as they were and the compiled reasoner retracts and
       extends the closure from the change, in the staged graphs (SPARQL Update on the server);
    4. **answer**: which of the inferred triples the reasoner touched the staged inferred graph
       holds (one query); the transaction then commits the difference in one request.

    The staging graphs are dropped on every outcome. Nothing of the data is read back but the
    answers of these queries, so a write's cost in Yokuryū follows the change, not the server.
    """

    def __init__(self, engine: RemoteEngine, generations: _Generations):
        self.engine = engine
        self.generations = generations
        self.store = _Presence(set())
        self._compiled = None
        self._support: list[ox.Quad] | None = None
        self._cleaned = False
        self.checks = 0  # writes checked on the server (a public count, for tests and benchmarks)
        self.last_mode: str | None = None  # how the last write was staged: overlay, hybrid or copy

    def _compile(self):
        if self._compiled is None:
            from yokuryu.graph.fast import compilers
            from yokuryu.graph.transaction import schema

            found = compilers()
            if found is None:
                raise UnsupportedRemoteCheck("the compiled shapes and reasoner are not available")
            compiled_shapes, _ = found
            ontology, shapes = schema()
            self._compiled = (compiled_shapes.compile(shapes, ontology),
                              _staged_reasoner_class().compile(ontology, shapes))
            self._support = _support_quads(ontology, shapes)
        return self._compiled

    def clean_stale(self) -> None:
        """Drop staging graphs left by a check that never finished (older than ``STALE_AFTER``)."""
        now = time.time()
        stale = []
        for name in _graphs_under(self.engine, STAGING):
            stamp = name[len(STAGING):].split("-", 1)[0]
            if stamp.isdigit() and now - int(stamp) > STALE_AFTER:
                stale.append(name)
        _drop(self.engine, stale)

    def try_change(self, removed: set[ox.Quad], added: set[ox.Quad], locate=None):
        """As :meth:`yokuryu.graph.fast.IncrementalState.try_change`, on the server."""
        validator, reasoner = self._compile()
        if locate is not None:  # while the check runs, the focus nodes are in staging graphs too
            where = locate
            locate = lambda node: [g for g in where(node) if REASONER not in g]  # noqa: E731
        if not self._cleaned:
            self.clean_stale()
            self._cleaned = True
        self.store = _Presence(set())
        self.checks += 1
        self.generations.begin()
        try:
            return self._check(validator, reasoner, removed, added, locate, mode="hybrid" if removed else "overlay")
        except _NeedsCopy:
            return self._check(validator, reasoner, removed, added, locate, mode="copy")

    def _check(self, validator, reasoner, removed, added, locate, *, mode: str):
        """One attempt. ``overlay`` (a write that only adds): what the write adds is staged in
        graphs of its own, read together with the real ones (:func:`_with_overlays`), so nothing
        is copied. ``hybrid`` (a write that removes): the data graphs it touches are copied on
        the server and the change applied to the copies; the inferred graph is overlaid, its
        retractions hidden from the rules' reads (``StagedReasoner.hiding``). ``copy`` (when the
        SHACL-AF rules must run after a retraction, see ``_NeedsCopy``): the inferred graph is
        copied too."""
        from yokuryu.graph.fast import with_results_graph
        from yokuryu.graph.transaction import PROTECTED_GRAPHS

        self.last_mode = mode
        finished = False
        prefix = f"{STAGING}{int(time.time())}-{uuid.uuid4().hex}/"
        touched_graphs = sorted({q.graph_name.value for q in (*removed, *added)})
        staged = {name: f"{prefix}data/{i}" for i, name in enumerate(touched_graphs)}
        staged[INFERRED] = prefix + "inferred"
        batched = _Batched(self.engine, prefix)
        if mode == "overlay":
            view = StagedView(batched, prefix, {}, staged)
        elif mode == "hybrid":
            data = {name: copy for name, copy in staged.items() if name != INFERRED}
            view = StagedView(batched, prefix, data, {INFERRED: staged[INFERRED]})
        else:
            view = StagedView(batched, prefix, staged)
        try:
            existing = visible_graph_names(self.engine, self.generations.seen)
            data_graphs = sorted({g for g in existing if g not in PROTECTED_GRAPHS and g != str(SHAPES_GRAPH)}
                                 | set(touched_graphs))
            copies = [f"COPY SILENT <{name}> TO <{copy}>" for name, copy in view.renamed.items() if name in existing]
            support = "INSERT DATA { " + quads_text(view.insert_quad(q) for q in self._support) + " }" \
                if self._support else ""
            stage = " ;\n".join(part for part in [*copies, support, *_change_text(view, removed, added)] if part)
            batched.note(stage)
            self.engine.update(stage)
            focus = validator.affected_focus_nodes(view, added=added, removed=removed, data_graphs=data_graphs)
            report = with_results_graph(
                validator.validate(view, data_graphs=data_graphs, focus=focus).to_validation_report(locate))
            if not report.conforms:
                finished = True
                return report, None
            if mode != "overlay":  # the reasoner applies the change itself, from the old state
                undo = _change_text(view, added, removed)
                if undo:
                    batched.flush()
                    self.engine.update(" ;\n".join(undo))
            reasoner.old_view = StagedView(batched, prefix, {})
            reasoner.graph_names = sorted(set(existing) | set(touched_graphs))
            reasoner.restored = set()
            reasoner.overlay = mode != "copy"
            reasoner.hiding(mode != "copy")
            touched: set[ox.Triple] = set()
            for change, call in ((removed, reasoner.remove), (added, reasoner.add)):
                if change:
                    delta = call(view, change)
                    touched |= delta.added | delta.removed | delta.rederived
            inferred = ox.NamedNode(INFERRED)
            present = set()
            for batch in _batches(sorted(touched, key=str), 1000):
                rows = view.select("SELECT ?s ?p ?o WHERE { VALUES (?s ?p ?o) { " + " ".join(
                    f"({sparql_term(t.subject)} {sparql_term(t.predicate)} {sparql_term(t.object)})" for t in batch)
                    + f" }} GRAPH <{INFERRED}> {{ ?s ?p ?o }} }}")
                present.update(ox.Quad(r["s"], r["p"], r["o"], inferred) for r in rows)
            self.store = _Presence(present)
            finished = True
            return report, touched
        finally:
            batched.discard()  # a check that failed half-way: its staging graphs go whole
            reasoner.old_view = None
            reasoner.graph_names = None
            try:
                # Every staging graph a check makes is named in a request it sent (the SHACL-AF
                # rules' per-focus-node graphs are read by name after they are written), so the
                # names are known; after a failure they are listed (a listing scans the server).
                _drop(self.engine, sorted(batched.named) if finished else _graphs_under(self.engine, prefix))
            except RemoteError as error:  # the answer stands; the next Yokuryū start drops them
                log.warning("could not drop the staging graphs of a write: %s", error)


class UnsupportedRemoteCheck(RuntimeError):
    """A write the server cannot check (the transaction then re-derives everything)."""


def _change_text(view: StagedView, removed: Iterable[ox.Quad], added: Iterable[ox.Quad]) -> list[str]:
    """DELETE DATA / INSERT DATA of a change, into the staged copies of its graphs."""
    parts = []
    for verb, quads in (("DELETE", removed), ("INSERT", added)):
        quads = [view.insert_quad(q) for q in quads]
        if quads:
            parts.append(f"{verb} DATA {{\n{quads_text(quads)}}}")
    return parts


def _graph_names(engine: RemoteEngine) -> list[str]:
    return [row["g"].value for row in engine.select("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }")
            if isinstance(row.get("g"), ox.NamedNode)]


def _graphs_under(engine: RemoteEngine, prefix: str) -> list[str]:
    rows = engine.select(f'SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ }} FILTER(STRSTARTS(STR(?g), "{prefix}")) }}')
    return [row["g"].value for row in rows if isinstance(row.get("g"), ox.NamedNode)]


def _drop(engine: RemoteEngine, graphs: list[str]) -> None:
    if graphs:
        engine.update(" ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in graphs))


def _support_quads(ontology, shapes) -> list[ox.Quad]:
    """The reasoner's support graph for the ontology alone (statements about vocabulary terms;
    the build does not store it). Materialised once, on a small local store of the ontology."""
    from yokuryu.graph.owlrl_sparql import SUPPORT, CompiledReasoner
    from yokuryu.graph.sparql_engine import LocalEngine
    from yokuryu.graph.terms import rdflib_triples_to_quads

    local = ox.Store()
    local.bulk_extend(rdflib_triples_to_quads(ontology, ONTOLOGY_GRAPH))
    CompiledReasoner.compile(ontology, shapes).materialize(LocalEngine(local))
    return [q for q in local.quads_for_pattern(None, None, None, ox.NamedNode(SUPPORT))
            if not isinstance(q.subject, ox.BlankNode) and not isinstance(q.object, ox.BlankNode)]
