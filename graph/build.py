"""The build pipeline: parse → validate (SHACL) → reason (OWL-RL) → name blank nodes → store.

Every step works on named graphs so that what was asserted, by which file, stays apart from
what the reasoner derived. The result is deterministic: the same inputs give the same quads.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, RDF, RDFS, VOID, XSD

from yokuryu import __version__
from yokuryu.graph.formats import UnknownFormat, rdf_syntax_for_path
from yokuryu.graph.progress import Progress
from yokuryu.graph.reasoning import infer
from yokuryu.graph.sources import bundled_sources, data_root
from yokuryu.graph.terms import rdflib_triples_to_quads, to_rdflib
from yokuryu.graph.validation import ValidationReport, validate
from yokuryu.ontology import (
    DATA_LICENSE,
    DATASET_IRI,
    EXTERNAL_GRAPH,
    GENID,
    GRAPH,
    INFERRED_GRAPH,
    LINKS_GRAPH,
    METADATA_GRAPH,
    ONTOLOGY_GRAPH,
    SHAPES_GRAPH,
    YK,
    ontology_files,
    source_graph,
)
from yokuryu.shapes import shapes_files

log = logging.getLogger(__name__)

# Where the compiled reasoner keeps its own graphs (never stored; no input may write there).
REASONER_GRAPHS = str(GRAPH) + "reasoner/"
# Graphs that describe the data rather than being data: never validated or reasoned over as facts.
SCHEMA_GRAPHS = (ONTOLOGY_GRAPH, SHAPES_GRAPH)


class InputError(ValueError):
    """An input file could not be read or parsed; the message names the file and the position."""


@dataclass
class Inputs:
    """The asserted named graphs of a build, and the files each one came from.

    RDF files are parsed by pyoxigraph straight into a store (``store``: Rust all the way, no
    Python object per triple); the ontology, the shapes and the source documents are rdflib
    graphs (they are small, and the reference engines and the compilers read them as such).
    The rdflib graphs of the data, which only the reference engines need, are made on first use
    of :attr:`graphs`, so a build with the fast engine never turns a large file into rdflib terms.
    """

    origins: dict[URIRef, list[str]] = field(default_factory=dict)
    digest: str = ""
    _rdflib: dict[URIRef, Graph] = field(default_factory=dict)
    store: ox.Store | None = None
    _taken: ox.Store | None = None  # the store handed to the fast engine, still read by files_mentioning

    @classmethod
    def of(cls, graphs: dict[URIRef, Graph]) -> Inputs:
        """Inputs made of rdflib graphs already at hand (a store's asserted graphs, for a write)."""
        return cls(origins={name: [] for name in graphs}, _rdflib=dict(graphs))

    def add(self, name: URIRef, triples: Iterable, origin: str) -> None:
        """Add rdflib triples (the ontology, the shapes, the source documents)."""
        graph = self._rdflib.setdefault(name, Graph())
        for triple in triples:
            graph.add(triple)
        self._note(name, origin)

    def parsed_store(self) -> ox.Store:
        """The store that RDF files are parsed into (made on first use)."""
        if self.store is None:
            self.store = ox.Store()
        return self.store

    def _note(self, name: URIRef, origin: str) -> None:
        files = self.origins.setdefault(name, [])
        if origin not in files:
            files.append(origin)

    @property
    def graphs(self) -> dict[URIRef, Graph]:
        """Every asserted graph as an rdflib graph (converted from the parsed files once)."""
        if self.store is not None:
            for quad in self.store:
                graph = self._rdflib.setdefault(URIRef(quad.graph_name.value), Graph())
                graph.add((to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object)))
            self.store = None
        return self._rdflib

    def graphs_for_schema(self) -> dict[URIRef, Graph]:
        """The ontology and the shapes as rdflib graphs, leaving the parsed data as it is."""
        return {name: self._rdflib[name] for name in SCHEMA_GRAPHS if name in self._rdflib}

    def names(self) -> list[URIRef]:
        """Every asserted graph, in the order the inputs named them."""
        return list(dict.fromkeys([*self.origins, *self._rdflib]))

    def take_store(self) -> ox.Store:
        """Every asserted quad in one pyoxigraph store, which the caller now owns (the fast engine
        validates and reasons in it). The parsed files' store is handed over, not copied; the
        inputs keep only their rdflib graphs and file names after this."""
        store = self.store if self.store is not None else ox.Store()
        self.store, self._taken = None, store
        store.bulk_extend(q for name, graph in self._rdflib.items() for q in rdflib_triples_to_quads(graph, name))
        return store

    def give_back(self, store: ox.Store) -> None:
        """Take back a store from :meth:`take_store` (the fast engine gave up): keep only the
        asserted graphs in it, so that :attr:`graphs` sees what was parsed and nothing derived."""
        names = {str(name) for name in self.names()}
        for graph in list(store.named_graphs()):
            if not isinstance(graph, ox.NamedNode) or graph.value not in names:
                store.remove_graph(graph)
        self.store, self._taken = store, None

    def quads(self) -> Iterator[ox.Quad]:
        """Every asserted quad, without going through rdflib for what pyoxigraph parsed."""
        for name, graph in self._rdflib.items():
            yield from rdflib_triples_to_quads(graph, name)
        if self.store is not None:
            yield from self.store

    def triple_count(self) -> int:
        return sum(len(g) for g in self._rdflib.values()) + (len(self.store) if self.store is not None else 0)

    @property
    def data_graph_names(self) -> list[URIRef]:
        """The graphs that hold facts (everything but the ontology and the shapes)."""
        return [name for name in self.names() if name not in SCHEMA_GRAPHS]

    def data_union(self) -> Graph:
        union = Graph()
        graphs = self.graphs
        for name in self.data_graph_names:
            if name in graphs:
                union += graphs[name]
        return union

    def files_mentioning(self, node) -> list[str]:
        """The input files whose triples have ``node`` as subject (for validation reports)."""
        found: list[str] = []
        names = [name for name, graph in self._rdflib.items() if (node, None, None) in graph]
        parsed = self.store if self.store is not None else self._taken
        if parsed is not None and isinstance(node, (URIRef, BNode)):
            term = ox.NamedNode(str(node)) if isinstance(node, URIRef) else ox.BlankNode(str(node))
            names += [URIRef(q.graph_name.value) for q in parsed.quads_for_pattern(term, None, None)]
        for name in dict.fromkeys(names):
            found.extend(f for f in self.origins.get(name, []) if f not in found)
        return found


class Derivation:
    """What ``derive`` made of the asserted graphs: the report, and the quads to store if it conforms.

    The reference engines give a list of quads; the fast engine gives the pyoxigraph store it
    worked in (``dataset``), already holding exactly the quads to store, so that a million
    quads need not become Python objects: :attr:`quads` lists them only when someone asks.
    """

    def __init__(self, report: ValidationReport, quads: list[ox.Quad] | None = None,
                 engine: str = "reference", dataset: ox.Store | None = None, count: int | None = None):
        self.report = report
        self._count = count  # the dataset's size when known (len() of a large store is a scan)
        self.engine = engine  # the engine that really ran (fast falls back to reference)
        self.dataset = dataset
        self._quads = quads if quads is not None or dataset is not None else []

    @property
    def quads(self) -> list[ox.Quad]:
        """Every quad to store, in a stable order (graph, subject, predicate, object)."""
        if self._quads is None:
            self._quads = sorted(self.dataset, key=_quad_key)
        return self._quads

    def quad_count(self) -> int:
        if self._quads is not None:
            return len(self._quads)
        if self._count is None:
            self._count = len(self.dataset)
        return self._count

    def graph_counts(self) -> dict[str, int]:
        """Triples per named graph, counted in the store when there is one."""
        if self._quads is None:
            rows = self.dataset.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
            return {row["g"].value: int(row["n"].value) for row in rows}
        counts: dict[str, int] = {}
        for quad in self._quads:
            key = quad.graph_name.value if isinstance(quad.graph_name, ox.NamedNode) else ""
            counts[key] = counts.get(key, 0) + 1
        return counts


def _quad_key(quad: ox.Quad) -> tuple[str, str, str, str]:
    return str(quad.graph_name), str(quad.subject), str(quad.predicate), str(quad.object)


@dataclass
class BuildResult:
    """What a build produced: the quads to store (see :class:`Derivation`), the report and the counts."""

    inputs: Inputs
    derivation: Derivation

    @property
    def report(self) -> ValidationReport:
        return self.derivation.report

    @property
    def quads(self) -> list[ox.Quad]:
        return self.derivation.quads

    @property
    def dataset(self) -> ox.Store | None:
        """The fast engine's store holding exactly :attr:`quads`, or None."""
        return self.derivation.dataset

    @property
    def engine(self) -> str:
        return self.derivation.engine

    @property
    def ok(self) -> bool:
        return self.report.conforms

    def quad_count(self) -> int:
        return self.derivation.quad_count()

    def triple_counts(self) -> dict[str, int]:
        return self.derivation.graph_counts()


def load_inputs(extra_files: Sequence[str | Path] = (), *, data_dir: str | Path | None = None) -> Inputs:
    """Parse the bundled ontology, shapes, sources and data, plus any extra RDF files.

    ``data_dir`` replaces the bundled ``graph/data/`` folder (for "what if" copies of the data).
    """
    inputs = Inputs(digest=input_digest(extra_files, data_dir=data_dir))
    for file in ontology_files():
        text = file.read_text(encoding="utf-8")
        inputs.add(ONTOLOGY_GRAPH, Graph().parse(data=text, format="turtle"), f"ontology/{file.name}")
    for file in shapes_files():
        text = file.read_text(encoding="utf-8")
        inputs.add(SHAPES_GRAPH, Graph().parse(data=text, format="turtle"), f"shapes/{file.name}")
    for doc in bundled_sources():
        inputs.add(source_graph(doc.slug), doc.to_graph(), f"graph/sources/{doc.slug}.txt")
    data_folder = Path(data_dir) if data_dir is not None else data_root() / "data"
    prefix = f"{data_dir}/" if data_dir is not None else "graph/data/"
    for file in sorted(data_folder.iterdir(), key=lambda f: f.name):
        if file.name.endswith((".trig", ".ttl")):
            data = file.read_bytes()
            add_rdf_file(inputs, data, file.name, prefix + file.name, default_graph=EXTERNAL_GRAPH)
    for path in extra_files:
        add_user_file(inputs, path)
    return inputs


def add_user_file(inputs, path) -> None:
    """Add one of the user's files (``build FILE…``, ``load FILE…``) as its own named graph."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the file ({error.strerror})") from error
    add_rdf_file(inputs, data, path.name, str(path), default_graph=user_graph(path))


def input_digest(extra_files: Sequence[str | Path] = (), *, data_dir: str | Path | None = None) -> str:
    """A SHA-256 fingerprint of everything a build depends on, computed without parsing.

    It covers every input file, the code of this package's pipeline and the versions of the
    libraries that parse, validate and reason: equal digests mean equal builds, so a digest is
    a safe key for reusing a build.
    """
    h = hashlib.sha256(f"yokuryu {__version__}\n".encode())
    for library in ("rdflib", "owlrl", "pyshacl", "pyoxigraph"):
        h.update(f"{library} {_version(library)}\n".encode())
    code = resources.files("yokuryu.graph")
    parts = [f.read_bytes() for f in sorted(code.iterdir(), key=lambda f: f.name) if f.name.endswith(".py")]
    parts += [f.read_bytes() for f in ontology_files()] + [f.read_bytes() for f in shapes_files()]
    for doc in bundled_sources():
        parts.append(doc.text.read_bytes() + b"\0" + doc.metadata.read_bytes())
    data_folder = Path(data_dir) if data_dir is not None else data_root() / "data"
    parts += [f.name.encode() + b"\0" + f.read_bytes()
              for f in sorted(data_folder.iterdir(), key=lambda f: f.name) if f.name.endswith((".trig", ".ttl"))]
    for path in extra_files:
        try:
            parts.append(Path(path).name.encode() + b"\0" + Path(path).read_bytes())
        except OSError as error:
            raise InputError(f"{path}: cannot read the file ({error.strerror})") from error
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def user_graph(path: str | Path) -> URIRef:
    """The named graph for the triples of an extra file given to ``yokuryu build``."""
    return GRAPH["user/" + Path(path).stem.replace(" ", "-")]


ENGINES = ("fast", "reference")
# The compiled engine, which falls back to the reference engines for what it cannot compile.
DEFAULT_ENGINE = "fast"


def build(extra_files: Sequence[str | Path] = (), *, reason: bool = True,
          data_dir: str | Path | None = None, engine: str = "reference",
          progress: Progress | None = None) -> BuildResult:
    """Run the whole pipeline in memory; the caller stores ``result.quads`` if ``result.ok``.

    ``engine`` is ``reference`` (pyshacl and owlrl) or ``fast`` (the shapes and the OWL-RL rules
    compiled to SPARQL and run on pyoxigraph, see :func:`derive`); both give the same quads.
    """
    progress = progress or Progress()
    with progress.stage("parse") as stage:
        inputs = load_inputs(extra_files, data_dir=data_dir)
        stage.done(inputs.triple_count())
    derivation = derive(inputs, digest=inputs.digest, locate=inputs.files_mentioning, reason=reason,
                        engine=engine, progress=progress)
    return BuildResult(inputs=inputs, derivation=derivation)


def derive(inputs: Inputs, *, digest: str, locate=None, reason: bool = True, engine: str = "reference",
           progress: Progress | None = None) -> Derivation:
    """Validate, reason, describe and skolemise: the one step a build and a checked write share.

    ``inputs`` holds every asserted graph, the ontology and the shapes included; ``locate`` maps
    a focus node to where it was asserted, for the report. Nothing is derived from data that does
    not conform (``quads`` stays empty); an inconsistent closure raises
    :class:`yokuryu.graph.reasoning.InconsistentData`.
    """
    progress = progress or Progress()
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "fast":
        from yokuryu.graph.fast import derive_fast
        derivation = derive_fast(inputs, digest=digest, locate=locate, reason=reason, progress=progress)
        if derivation is not None:
            return derivation
        log.info("the fast engine cannot run these shapes or axioms; using the reference engines")
    graphs = inputs.graphs
    ontology, shapes = graphs[ONTOLOGY_GRAPH], graphs[SHAPES_GRAPH]
    data = inputs.data_union()
    with progress.stage("validate") as stage:
        report = validate(data, shapes=shapes, ontology=ontology, locate=locate)
        stage.done(len(data))
    if not report.conforms:
        log.info("the data violates the shapes (%d results): nothing is reasoned or stored", len(report.violations))
        return Derivation(report)
    everything = dict(graphs)
    if reason:
        everything[INFERRED_GRAPH] = infer(ontology, data, shapes, progress=progress)
        log.info("inferred %d triples", len(everything[INFERRED_GRAPH]))
    with progress.stage("describe", unit="quads") as stage:
        everything[METADATA_GRAPH] = describe_dataset(everything, digest)
        quads = skolemize(everything)
        stage.done(len(quads))
    return Derivation(report, quads)


def describe_dataset(graphs: dict[URIRef, Graph | int], digest: str) -> Graph:
    """A VoID description of the dataset and of each named graph, with licence and counts.

    ``graphs`` maps each graph name to the graph or to its number of triples."""
    meta = Graph()
    dataset = URIRef(DATASET_IRI)
    meta.add((dataset, RDF.type, VOID.Dataset))
    meta.add((dataset, DCTERMS.title, Literal("Yokuryū: Japanese prisoners of war in the Soviet Union", lang="en")))
    meta.add((dataset, DCTERMS.license, URIRef(DATA_LICENSE)))
    meta.add((dataset, YK.buildDigest, Literal(digest)))
    meta.add((dataset, YK.softwareVersion, Literal(__version__)))
    for doc in bundled_sources():
        meta.add((dataset, DCTERMS.source, doc.iri))
    total = 0
    for name, graph in graphs.items():
        meta.add((dataset, VOID.subset, name))
        meta.add((name, RDF.type, VOID.Dataset))
        meta.add((name, DCTERMS.license, URIRef(DATA_LICENSE)))
        count = graph if isinstance(graph, int) else len(graph)
        meta.add((name, VOID.triples, Literal(count, datatype=XSD.integer)))
        meta.add((name, RDFS.label, Literal(_graph_label(name), lang="en")))
        total += count
    meta.add((dataset, VOID.triples, Literal(total, datatype=XSD.integer)))
    # The description describes itself too, so every stored graph states its licence.
    meta.add((dataset, VOID.subset, METADATA_GRAPH))
    meta.add((METADATA_GRAPH, RDF.type, VOID.Dataset))
    meta.add((METADATA_GRAPH, DCTERMS.license, URIRef(DATA_LICENSE)))
    meta.add((METADATA_GRAPH, RDFS.label, Literal(_graph_label(METADATA_GRAPH), lang="en")))
    return meta


def _graph_label(name: URIRef) -> str:
    labels = {
        ONTOLOGY_GRAPH: "ontology (TBox)",
        SHAPES_GRAPH: "SHACL shapes and rules",
        EXTERNAL_GRAPH: "external facts with their citations",
        LINKS_GRAPH: "links to DBpedia and Wikidata, and between its own resources, curated by the project",
        INFERRED_GRAPH: "inferred by OWL-RL reasoning and the violation rules",
        METADATA_GRAPH: "dataset description",
    }
    if name in labels:
        return labels[name]
    local = str(name)[len(str(GRAPH)):]
    if local.startswith("source/"):
        return f"asserted by the source document {local[len('source/'):]}"
    return f"graph {local}"


def skolemize(graphs: dict[URIRef, Graph]) -> list[ox.Quad]:
    """Quads of every graph, blank nodes replaced by stable Skolem IRIs (RDFC-1.0 labels)."""
    dataset = ox.Dataset()
    for name, graph in graphs.items():
        for quad in rdflib_triples_to_quads(graph, name):
            dataset.add(quad)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)

    def named(term):
        return ox.NamedNode(GENID[term.value]) if isinstance(term, ox.BlankNode) else term

    quads = [ox.Quad(named(q.subject), q.predicate, named(q.object), q.graph_name) for q in dataset]
    quads.sort(key=_quad_key)
    return quads


def add_rdf_file(inputs: Inputs, data: bytes, filename: str, origin: str, default_graph: URIRef) -> None:
    """Parse one RDF file into the inputs' store; triples outside a named graph go to ``default_graph``.

    pyoxigraph's bulk loader parses and indexes in Rust, with blank nodes renamed apart per file.
    A file that can name graphs (TriG, N-Quads, JSON-LD) is parsed into a scratch store first,
    so that a file writing into a reserved graph is refused before anything of it is kept.
    """
    try:
        syntax = rdf_syntax_for_path(filename)
    except UnknownFormat as error:
        raise InputError(str(error)) from error
    # Bundled files use absolute IRIs only; a user's file resolves relative IRIs against its path.
    base = Path(origin).resolve().as_uri() if not origin.startswith("graph/data/") else None
    target = ox.Store() if syntax.is_dataset else inputs.parsed_store()
    try:
        target.bulk_load(data, format=syntax.oxigraph, base_iri=base, to_graph=ox.NamedNode(str(default_graph)))
    except SyntaxError as error:
        raise InputError(f"{origin}: not valid {syntax.name}: {error}") from error
    except (ValueError, OSError) as error:
        raise InputError(f"{origin}: cannot parse as {syntax.name}: {error}") from error
    names = [default_graph]
    if syntax.is_dataset:
        names = []
        for graph in target.named_graphs():
            if isinstance(graph, ox.BlankNode):
                raise InputError(f"{origin}: a graph named by a blank node cannot be stored; give it an IRI")
            name = URIRef(graph.value)
            if name in SCHEMA_GRAPHS or name in (INFERRED_GRAPH, METADATA_GRAPH) or name.startswith(REASONER_GRAPHS):
                raise InputError(f"{origin}: writes into the reserved graph <{name}>; put your triples in another graph")
            names.append(name)
        inputs.parsed_store().bulk_extend(target)
        names = names or [default_graph]  # an empty file still names its graph
    for name in dict.fromkeys(names):
        inputs._note(name, origin)
