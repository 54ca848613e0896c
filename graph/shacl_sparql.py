"""SHACL validation compiled to plain SPARQL 1.1 SELECT queries, run on any :class:`SparqlEngine`.

pyshacl walks the shapes in Python over an rdflib graph; at a million triples that takes most
of an hour. Here every constraint of the bundled shapes becomes one SELECT that returns exactly
the results pyshacl would report (focus node, path, value, constraint component, severity,
message, source shape), evaluated by the store's own engine.

What pyshacl validates is not the bare data: ``yokuryu.graph.validation`` first adds the RDFS
entailments the shapes rely on (super-properties, types from ``rdfs:domain``/``rdfs:range``,
superclasses), with the ontology graph alongside the data. Rather than materialising that
closure, the compiler folds the ontology's hierarchy into the queries: a path ``yk:location``
matches ``yk:location|yk:heldIn``, and "is a ``yk:Agent``" is an explicit type in the class's
sub-classes, or a subject/object of a property whose domain/range implies it. So the queries
read the asserted graphs only, and a write needs no re-materialisation.

Constructs the compiler does not know raise :class:`UnsupportedShapes` at compile time, so a
caller can fall back to pyshacl. ``docs/validation.md`` lists the intended differences.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDF, RDFS, SH, XSD
from rdflib.plugins.sparql import prepareQuery
from rdflib.term import Node, Variable

from yokuryu.graph.sparql_engine import SparqlEngine, sparql_term
from yokuryu.graph.terms import to_rdflib
from yokuryu.graph.validation import ValidationReport, Violation, _show, _typed_by_text, transitive
from yokuryu.ontology import GENID, INFERRED_GRAPH, METADATA_GRAPH, ONTOLOGY_GRAPH, SHAPES_GRAPH

# Graphs that are never validated as data (the ontology is read alongside the data, as pyshacl does).
NOT_DATA = (str(SHAPES_GRAPH), str(INFERRED_GRAPH), str(METADATA_GRAPH))

_DATASET = "#DATASET#"
_ANCHOR_LIMIT = 300  # above this many focus nodes, a shape's checks run as joins, not per node
_FOCUS = "#FOCUS#"

# Shape parameters that carry no constraint (or that validation leaves to others: sh:rule).
_INERT = {SH.name, SH.description, SH.message, SH.severity, SH.order, SH.group, SH.defaultValue,
          SH.deactivated, SH.rule, SH.declare, SH.prefixes, SH.targetClass, SH.targetSubjectsOf,
          SH.targetObjectsOf, SH.targetNode, SH.path, SH.property, SH.flags, RDFS.label, RDFS.comment}
_VALUE_PARAMETERS = {SH.datatype, SH["class"], SH.nodeKind, SH["in"], SH.hasValue, SH.pattern, SH["or"],
                     SH["and"], SH.xone, SH["not"], SH.node, SH.minLength, SH.maxLength, SH.minInclusive,
                     SH.maxInclusive, SH.minExclusive, SH.maxExclusive}
_COMPONENT = {
    SH.datatype: SH.DatatypeConstraintComponent, SH["class"]: SH.ClassConstraintComponent,
    SH.nodeKind: SH.NodeKindConstraintComponent, SH["in"]: SH.InConstraintComponent,
    SH.hasValue: SH.HasValueConstraintComponent, SH.pattern: SH.PatternConstraintComponent,
    SH["or"]: SH.OrConstraintComponent, SH["and"]: SH.AndConstraintComponent,
    SH.xone: SH.XoneConstraintComponent, SH["not"]: SH.NotConstraintComponent,
    SH.node: SH.NodeConstraintComponent, SH.minCount: SH.MinCountConstraintComponent,
    SH.maxCount: SH.MaxCountConstraintComponent, SH.minLength: SH.MinLengthConstraintComponent,
    SH.maxLength: SH.MaxLengthConstraintComponent, SH.minInclusive: SH.MinInclusiveConstraintComponent,
    SH.maxInclusive: SH.MaxInclusiveConstraintComponent, SH.minExclusive: SH.MinExclusiveConstraintComponent,
    SH.maxExclusive: SH.MaxExclusiveConstraintComponent, SH.lessThan: SH.LessThanConstraintComponent,
    SH.lessThanOrEquals: SH.LessThanOrEqualsConstraintComponent, SH.equals: SH.EqualsConstraintComponent,
    SH.disjoint: SH.DisjointConstraintComponent, SH.sparql: SH.SPARQLConstraintComponent,
}
_TZ = "(Z|[+-][0-9]{2}:[0-9]{2})?"
# Lexical forms of the datatypes the shapes name, so an ill-typed literal fails sh:datatype.
_LEXICAL = {
    XSD.integer: "^[+-]?[0-9]+$", XSD.positiveInteger: "^[+]?0*[1-9][0-9]*$",
    XSD.nonNegativeInteger: "^[+]?[0-9]+$", XSD.decimal: "^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$",
    XSD.boolean: "^(true|false|1|0)$",
    XSD.date: "^-?[0-9]{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])" + _TZ + "$",
    XSD.gYearMonth: "^-?[0-9]{4,}-(0[1-9]|1[0-2])" + _TZ + "$",
    XSD.gYear: "^-?[0-9]{4,}" + _TZ + "$",
}
_PAIR_PARAMETERS = {SH.lessThan, SH.lessThanOrEquals, SH.equals, SH.disjoint}
_SCHEMA_PREDICATES = {str(RDFS.subClassOf), str(RDFS.subPropertyOf), str(RDFS.domain), str(RDFS.range)}


class UnsupportedShapes(ValueError):
    """The shapes use something the compiler cannot translate; validate them with pyshacl instead."""


@dataclass(frozen=True)
class Result:
    """One validation result, with the terms as the store holds them."""

    focus: ox.NamedNode | ox.BlankNode | ox.Literal
    path: Node | None               # the sh:path node of the shapes graph (an IRI or a path expression)
    value: ox.NamedNode | ox.BlankNode | ox.Literal | None
    component: str                  # IRI of the constraint component
    severity: str                   # IRI: sh:Violation, sh:Warning or sh:Info
    messages: tuple[str, ...]
    source_shape: Node              # the shape in the shapes graph (a blank node for most property shapes)
    graphs: tuple[str, ...] = ()    # the data graphs in which the focus node is a subject
    inferred_type: str | None = None  # which statement gave the focus node the shape's class, if not stated


@dataclass
class CompiledReport:
    """What :meth:`CompiledShapes.validate` found; ``to_validation_report`` gives the CLI's report."""

    results: list[Result] = field(default_factory=list)
    shapes: Graph | None = None

    @property
    def conforms(self) -> bool:
        return not any(r.severity == str(SH.Violation) for r in self.results)

    def to_validation_report(self, locate: Callable[[Node], list[str]] | None = None) -> ValidationReport:
        """The same :class:`ValidationReport` that ``yokuryu.graph.validation.validate`` gives.

        ``locate`` maps a focus node (rdflib) to its input files; without it the report names the
        graphs the focus node is described in.
        """
        violations = []
        for r in self.results:
            focus = to_rdflib(r.focus)
            shape = r.source_shape
            violations.append(Violation(
                focus=_show(focus), path=_show_path(self.shapes, r.path),
                value=_show(to_rdflib(r.value)) if r.value is not None else None,
                message=r.messages[0] if r.messages else "(no message)",
                severity=r.severity.rsplit("#", 1)[-1],
                shape=_show(shape) if shape is not None and not isinstance(shape, BNode) else None,
                files=tuple(locate(focus)) if locate else r.graphs,
                inferred_type=r.inferred_type,
            ))
        violations.sort(key=lambda v: (v.files, v.focus, v.path or "", v.message))
        return ValidationReport(conforms=self.conforms, violations=violations)


@dataclass
class _Check:
    """One compiled constraint: a SELECT whose solutions are validation results."""

    shape: Node
    component: URIRef
    path: Node | None
    query: str
    value: str                   # "bound" (?value), "focus" (the focus node) or "none"
    messages: tuple[str, ...]
    severity: str
    sparql_messages: tuple[str, ...] = ()
    extra_vars: tuple[str, ...] = ()
    root: Node | None = None     # the node shape whose targets give the focus nodes
    flag: str | None = None      # boolean SPARQL expression over ?this: "this check has a result here"
    branch: str | None = None    # or: a pattern binding ?this ?value (?_o) to its results, joined with the targets
    free: bool = False           # the branch alone binds ?this to few nodes: run it first, ask the targets after


class CompiledShapes:
    """A shapes graph compiled against an ontology; validate any dataset an engine holds."""

    def __init__(self, checks: list[_Check], shapes: Graph, walk: tuple[set[str], set[str]], depth: int,
                 targets: dict | None = None):
        self.checks = checks
        self.targets = targets or {}  # node shape → its target pattern binding ?this
        self.target_specs: dict = {}
        self.targets_query = {root: f"{{ SELECT DISTINCT ?this WHERE {{ {_FOCUS} {pattern} }} }}"
                              for root, pattern in self.targets.items()}
        self.flag_groups: dict = {}
        self.value_groups: dict = {}
        for i, check in enumerate(checks):
            if check.flag is not None:
                self.flag_groups.setdefault(check.root, []).append(i)
            elif check.branch is not None:
                self.value_groups.setdefault(check.root, []).append(i)
        self.shapes = shapes
        self.walk_backward, self.walk_forward = walk
        self.depth = depth

    @classmethod
    def compile(cls, shapes_graph: Graph, ontology_graph: Graph, *,
                skolem_prefix: str | None = str(GENID)) -> CompiledShapes:
        """Compile every shape with a target; ``skolem_prefix`` marks IRIs that stand for blank nodes."""
        compiler = _Compiler(shapes_graph, ontology_graph, skolem_prefix)
        checks = compiler.compile_all()
        compiled = cls(checks, shapes_graph, (compiler.walk_backward, compiler.walk_forward), compiler.depth,
                       compiler.target_patterns)
        compiled.target_specs = compiler.target_specs
        compiled.hierarchy = compiler  # sub-/super-classes and properties, domains and ranges
        return compiled

    # -- validation ---------------------------------------------------------------------------

    def validate(self, engine: SparqlEngine, data_graphs: Sequence[str] | None = None,
                 focus: Iterable[ox.NamedNode | ox.BlankNode] | None = None) -> CompiledReport:
        """Run every check on the union of ``data_graphs`` (default: every named graph but the
        shapes, inferred and metadata graphs; the ontology graph is read too, as pyshacl does).

        ``focus`` restricts the report to those focus nodes (an incremental write passes
        :meth:`affected_focus_nodes`); a node that no shape targets simply gives no result.
        """
        graphs = self._graphs(engine, data_graphs)
        dataset = "".join(f" FROM <{g}>" for g in graphs)
        if focus is not None:
            focus = sorted(set(focus), key=str)
            if any(isinstance(node, ox.BlankNode) for node in focus):
                raise ValueError("a blank node cannot be a restricted focus node; skolemise the data or validate all")
            if not focus:
                return CompiledReport([], self.shapes)
        results: list[Result] = []
        if focus is not None:
            targeted = self._targeted(engine, dataset, focus)
        else:
            targeted = self._all_targets(engine, dataset)
        # Pass 1: per node shape, one query finds its focus nodes once and flags each check that
        # has a result there. Pass 2 asks only those checks, only for the flagged nodes.
        flagged: dict[int, list] = {}
        for root, indexes in self.flag_groups.items():
            nodes = None if targeted is None else targeted.get(root, [])
            if nodes is not None and not nodes:
                continue
            names = " ".join(f"?_f{i}" for i in indexes)
            binds = " ".join(f"BIND(COALESCE({self.checks[i].flag}, false) AS ?_f{i})" for i in indexes)
            any_flag = " || ".join(f"?_f{i}" for i in indexes)
            template = self.targets_query[root]
            for chunk in _chunks(nodes, 1000) if nodes is not None else [None]:
                query = (f"SELECT ?this {names}{dataset} WHERE {{ {template.replace(_FOCUS, _values(chunk))} "
                         f"{binds} FILTER({any_flag}) }}")
                for row in engine.select(query):
                    for i in indexes:
                        flag = row.get(f"_f{i}")
                        if flag is not None and flag.value == "true":
                            flagged.setdefault(i, []).append(row["this"])
        # Value checks: per node shape, one query joins its focus nodes with a union of every
        # check's violating (focus, value) pairs; each branch is anchored on ?this for a write.
        # Over the whole data, the branches run alone first (violations are few, the focus nodes
        # of a large shape many), and only the nodes they find are then sorted into the shapes.
        joined = []
        for root, indexes in self.value_groups.items():
            nodes = None if targeted is None else targeted.get(root, [])
            if nodes is not None and not nodes:
                continue
            joined.append((root, nodes))
        free = [root for root, nodes in joined if nodes is None
                and all(self.checks[i].free for i in self.value_groups[root])]
        found, unnamed = self._violations_first(engine, dataset, free)
        results.extend(found)
        for root, nodes in joined:
            if root in free and root not in unnamed:
                continue
            for chunk in _chunks(nodes, 1000) if nodes is not None else [None]:
                values = _values(chunk)
                union = " UNION ".join(f"{{ {values} {self.checks[i].branch} BIND({i} AS ?_check) }}"
                                       for i in self.value_groups[root])
                query = (f"SELECT DISTINCT ?_check ?this ?value ?_o{dataset} WHERE {{ "
                         f"{self.targets_query[root].replace(_FOCUS, values)} {{ {union} }} }}")
                by_check: dict[int, list] = {}
                for row in engine.select(query):
                    by_check.setdefault(int(row["_check"].value), []).append(row)
                for i, rows in sorted(by_check.items()):
                    results.extend(self._results(self.checks[i], rows))
        for i, check in enumerate(self.checks):
            if check.branch is not None:
                continue
            if check.flag is not None:
                nodes = flagged.get(i)
                if not nodes:
                    continue
                if any(isinstance(node, ox.BlankNode) for node in nodes):
                    nodes = None if focus is None else [n for n in nodes if not isinstance(n, ox.BlankNode)]
            else:
                nodes = focus if targeted is None else targeted.get(check.root, [])
                if nodes is not None and not nodes:
                    continue
            for chunk in _chunks(nodes, 1000) if nodes is not None else [None]:
                query = check.query.replace(_DATASET, dataset).replace(_FOCUS, _values(chunk))
                results.extend(self._results(check, engine.select(query)))
        results = self._with_graphs(engine, graphs, results)
        results = self._with_inferred_types(engine, graphs, results)
        results.sort(key=lambda r: (str(r.focus), str(r.component), str(r.path), str(r.value), str(r.source_shape)))
        return CompiledReport(results, self.shapes)

    def _violations_first(self, engine: SparqlEngine, dataset: str, roots: list) -> tuple[list[Result], set]:
        """The value checks of these node shapes over the whole data, without their focus nodes:
        one union of the distinct branches (shapes share some, such as "a label has a language"),
        then the nodes found are sorted into shapes. Also answers the shapes whose candidate
        nodes a query cannot name (blank nodes, literals): the caller joins those instead."""
        branches: dict[str, list[int]] = {}
        for root in roots:
            for i in self.value_groups[root]:
                branches.setdefault(self.checks[i].branch, []).append(i)
        if not branches:
            return [], set()
        texts = list(branches)
        union = " UNION ".join(f"{{ {text} BIND({k} AS ?_branch) }}" for k, text in enumerate(texts))
        by_root: dict = {root: {} for root in roots}
        for row in engine.select(f"SELECT DISTINCT ?_branch ?this ?value ?_o{dataset} WHERE {{ {union} }}"):
            for i in branches[texts[int(row["_branch"].value)]]:
                by_root[self.checks[i].root].setdefault(i, []).append(row)
        unnamed = {root for root, by_check in by_root.items()
                   if any(not isinstance(row["this"], ox.NamedNode) for rows in by_check.values() for row in rows)}
        candidates = sorted({row["this"] for root, by_check in by_root.items() if root not in unnamed
                             for rows in by_check.values() for row in rows}, key=str)
        shapes_of = self._targeted(engine, dataset, candidates) if candidates else {}
        results: list[Result] = []
        for root, by_check in by_root.items():
            if root in unnamed:
                continue
            keep = set(shapes_of.get(root, ()))
            for i, rows in sorted(by_check.items()):
                mine = [row for row in rows if row["this"] in keep]
                if mine:
                    results.extend(self._results(self.checks[i], mine))
        return results, unnamed

    def _all_targets(self, engine: SparqlEngine, dataset: str) -> dict:
        """Each node shape's focus nodes when few (queries are then anchored on them), else None:
        a shape with many focus nodes is checked by joins over the whole data instead."""
        found: dict = {}
        for root, template in self.targets_query.items():
            # LIMIT: past the threshold the nodes are not needed, and counting them all costs a scan.
            nodes = [row["this"] for row in engine.select(f"SELECT ?this{dataset} WHERE {template.replace(_FOCUS, '')} "
                                                          f"LIMIT {_ANCHOR_LIMIT + 1}")]
            if len(nodes) > _ANCHOR_LIMIT or any(isinstance(node, ox.BlankNode) for node in nodes):
                found[root] = None
            else:
                found[root] = nodes
        return found

    def _targeted(self, engine: SparqlEngine, dataset: str, focus: list) -> dict:
        """For each node shape, which of ``focus`` it targets: one query fetches the nodes' types
        and the predicates they are subject or (IRI) object of; the ontology's sets do the rest."""
        found: dict = {}
        typing_objects = set().union(*(spec["object_of"] for spec in self.target_specs.values()))
        incoming = bool(typing_objects)  # only then can an incoming link give a node its class
        for chunk in _chunks(focus, 1000):
            values = "VALUES ?this { " + " ".join(map(sparql_term, chunk)) + " }"
            # VALUES inside each branch: an engine need not push outer bindings into a UNION.
            query = (f"SELECT DISTINCT ?this ?k ?x{dataset} WHERE {{ "
                     f"{{ {values} ?this <{RDF.type}> ?x BIND(0 AS ?k) }} UNION {{ {values} ?this ?x ?o BIND(1 AS ?k) }}"
                     + (f" UNION {{ {values} ?s ?x ?this BIND(2 AS ?k) }}" if incoming else "") + " }")
            facts: dict = {}
            for row in engine.select(query):
                facts.setdefault(row["this"], (set(), set(), set()))[int(row["k"].value)].add(row["x"].value)
            for node in chunk:
                types, subject_of, object_of = facts.get(node, (set(), set(), set()))
                for root, spec in self.target_specs.items():
                    if (types & spec["types"] or subject_of & spec["subject_of"] or object_of & spec["object_of"]
                            or node.value in spec["nodes"]):
                        found.setdefault(root, []).append(node)
        return found

    def affected_focus_nodes(self, engine: SparqlEngine, added: Iterable = (), removed: Iterable = (),
                             data_graphs: Sequence[str] | None = None) -> set | None:
        """The focus nodes whose results a change (triples or quads added/removed) can alter.

        Call it after the change is applied to ``engine``. ``None`` means the change touches the
        schema (a sub-class, sub-property, domain or range, or the ontology graph): validate all.
        """
        seeds: set = set()
        # The class in "x rdf:type C" is no focus node the change can affect, unless a shape
        # targets or walks objects of rdf:type (else every instance of C would be re-sorted).
        typing = {str(RDF.type)} & (self.walk_backward | self.walk_forward
                                    | set().union(*(spec["object_of"] for spec in self.target_specs.values())))
        for item in itertools.chain(added, removed):
            graph = getattr(item, "graph_name", None)
            if isinstance(graph, ox.NamedNode) and graph.value == str(ONTOLOGY_GRAPH):
                return None
            if item.predicate.value in _SCHEMA_PREDICATES:
                return None
            terms = (item.subject,) if item.predicate.value == str(RDF.type) and not typing else (item.subject, item.object)
            for term in terms:
                if isinstance(term, ox.BlankNode):
                    return None  # cannot be named in a query: validate everything
                if not isinstance(term, ox.Literal):
                    seeds.add(term)
        if not seeds:
            return seeds
        graphs = self._graphs(engine, data_graphs)
        dataset = "".join(f" FROM <{g}>" for g in graphs)
        # One plain triple pattern per predicate: engines look those up by index from ?n.
        branches = [f"{{ #N# ?x <{p}> ?n }}" for p in sorted(self.walk_backward)]
        branches += [f"{{ #N# ?n <{p}> ?x }}" for p in sorted(self.walk_forward)]
        if not branches:
            return seeds
        step = " UNION ".join(branches)
        reached, frontier = set(seeds), set(seeds)
        for _ in range(self.depth):
            found: set = set()
            for chunk in _chunks(sorted(frontier, key=str), 500):
                values = " ".join(map(sparql_term, chunk))
                # VALUES inside each branch: an engine need not push outer bindings into a UNION.
                rows = engine.select(f"SELECT DISTINCT ?x{dataset} WHERE {{ "
                                     f"{step.replace('#N#', 'VALUES ?n { ' + values + ' }')} FILTER(!isLiteral(?x)) }}")
                found.update(row["x"] for row in rows)
            frontier = found - reached
            reached |= found
            if not frontier:
                break
        return reached

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _graphs(engine: SparqlEngine, data_graphs: Sequence[str] | None) -> list[str]:
        if data_graphs is None:
            rows = engine.select("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }")
            data_graphs = [row["g"].value for row in rows if isinstance(row["g"], ox.NamedNode)]
            data_graphs = [g for g in data_graphs if g not in NOT_DATA]
        graphs = sorted(set(str(g) for g in data_graphs))
        if str(ONTOLOGY_GRAPH) not in graphs and engine.ask(f"ASK {{ GRAPH <{ONTOLOGY_GRAPH}> {{ ?s ?p ?o }} }}"):
            graphs.append(str(ONTOLOGY_GRAPH))
        return graphs

    def _results(self, check: _Check, rows: list) -> Iterable[Result]:
        seen = set()
        for row in rows:
            focus = row["this"]
            if check.value == "bound":
                value = row.get("value")
            elif check.value == "focus":
                value = row.get("value", focus)
            else:
                value = None
            messages = check.messages
            if str(check.component) == str(SH.SPARQLConstraintComponent):
                bound = {name: row[name] for name in check.extra_vars if name in row}
                bound["this"] = focus
                if "value" in row:
                    bound["value"] = row["value"]
                key = tuple(sorted((k, str(v)) for k, v in bound.items()))
                if key in seen:  # pyshacl reports a repeated solution once
                    continue
                seen.add(key)
                messages = tuple(_substitute(m, bound) for m in (*check.sparql_messages, *check.messages))
            yield Result(focus=focus, path=check.path, value=value, component=str(check.component),
                         severity=check.severity, messages=messages, source_shape=check.shape)

    def _with_inferred_types(self, engine: SparqlEngine, graphs: list[str], results: list[Result]) -> list[Result]:
        """As the reference report: say which statement typed a focus node that no statement calls
        an instance of the shape's target class (the first candidate, by predicate IRI order)."""
        from yokuryu.graph.validation import _short_names

        hierarchy = getattr(self, "hierarchy", None)
        if hierarchy is None or not results:
            return results
        names = _short_names()
        data = "".join(f" FROM <{g}>" for g in graphs if g != str(ONTOLOGY_GRAPH))
        cache: dict = {}
        out = []
        for r in results:
            owners = [r.source_shape, *self.shapes.subjects(SH.property, r.source_shape)]
            targets = {c for owner in owners for c in self.shapes.objects(owner, SH.targetClass)}
            if not targets or not isinstance(r.focus, ox.NamedNode):
                out.append(r)
                continue
            key = (r.focus, frozenset(targets))
            if key not in cache:
                cache[key] = self._typed_by(engine, data, r.focus, targets, hierarchy, names)
            out.append(Result(r.focus, r.path, r.value, r.component, r.severity, r.messages, r.source_shape,
                              r.graphs, cache[key]))
        return out

    @staticmethod
    def _typed_by(engine, data, focus, targets, hierarchy, names) -> str | None:
        def within_target(cls) -> bool:
            return bool(targets & hierarchy.supers_c.get(cls, {cls}))

        rows = engine.select(f"SELECT DISTINCT ?k ?p ?x{data} WHERE {{ "
                             f"{{ VALUES ?this {{ {sparql_term(focus)} }} ?this <{RDF.type}> ?x BIND(0 AS ?k) }} UNION "
                             f"{{ VALUES ?this {{ {sparql_term(focus)} }} ?this ?p ?o BIND(1 AS ?k) }} UNION "
                             f"{{ VALUES ?this {{ {sparql_term(focus)} }} ?x ?p ?this BIND(2 AS ?k) }} }}")
        if any(int(row["k"].value) == 0 and within_target(URIRef(row["x"].value)) for row in rows):
            return None  # the data states the type (or a sub-class of it)
        node = to_rdflib(focus)
        ordered = sorted(rows, key=lambda row: (int(row["k"].value), row.get("p") and row["p"].value,
                                                row.get("x") and str(row["x"])))
        for row in ordered:
            kind = int(row["k"].value)
            if kind == 0:
                continue
            p = URIRef(row["p"].value)
            declared = hierarchy.domain_of if kind == 1 else hierarchy.range_of
            for prop in sorted(hierarchy.supers_p_of(p), key=str):
                for cls in sorted(declared.get(prop, ()), key=str):
                    if within_target(cls):
                        subject = None if kind == 1 else to_rdflib(row["x"])
                        return _typed_by_text(node, cls, p, subject, names)
        return None

    @staticmethod
    def _with_graphs(engine: SparqlEngine, graphs: list[str], results: list[Result]) -> list[Result]:
        """Name the data graphs that describe each focus node, so a report says where to fix it."""
        # A blank node cannot be named in a query: its graphs stay unknown (stored data is skolemised).
        nodes = sorted({r.focus for r in results if isinstance(r.focus, ox.NamedNode)}, key=str)
        where: dict = {}
        data = set(g for g in graphs if g != str(ONTOLOGY_GRAPH)) or set(graphs)
        for chunk in _chunks(nodes, 1000):
            values = " ".join(map(sparql_term, chunk))
            rows = engine.select(f"SELECT DISTINCT ?this ?g WHERE {{ VALUES ?this {{ {values} }} GRAPH ?g {{ ?this ?p ?o }} }}")
            for row in rows:
                if row["g"].value in data:
                    where.setdefault(row["this"], []).append(row["g"].value)
        return [Result(r.focus, r.path, r.value, r.component, r.severity, r.messages, r.source_shape,
                       tuple(sorted(where.get(r.focus, ()))), r.inferred_type) for r in results]


def _values(chunk) -> str:
    return "" if chunk is None else "VALUES ?this { " + " ".join(map(sparql_term, chunk)) + " }"


def _substitute(message: str, bound: dict) -> str:
    # As pyshacl: {$var} and {?var} become the plain string of the bound term.
    for name, term in bound.items():
        text = term.value if hasattr(term, "value") else str(term)
        message = re.sub("{[?$]" + re.escape(name) + "}", lambda _m, t=text: t, message)
    return message


def _chunks(items, size):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
    if not items:
        return


def _show_path(shapes: Graph | None, path) -> str | None:
    if path is None:
        return None
    if isinstance(path, BNode):
        inverse = shapes.value(path, SH.inversePath) if shapes is not None else None
        if inverse is not None:
            return f"^{inverse.n3()}"
        return "[complex path]"
    return path.n3()


def _string(text: str) -> str:
    """A SPARQL string literal."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r"))
    return f'"{escaped}"'


def _term(node: Node) -> str:
    """An rdflib term as SPARQL text."""
    if isinstance(node, URIRef):
        return f"<{node}>"
    if isinstance(node, Literal):
        if node.language:
            return f"{_string(str(node))}@{node.language}"
        if node.datatype is not None:
            return f"{_string(str(node))}^^<{node.datatype}>"
        return _string(str(node))
    raise UnsupportedShapes(f"a blank node {node.n3()} cannot be a constant in a compiled query")


class _Compiler:
    """Turns shapes into :class:`_Check` queries, with the ontology's RDFS hierarchy folded in."""

    def __init__(self, shapes: Graph, ontology: Graph, skolem_prefix: str | None):
        self.sg = shapes
        self.skolem_prefix = skolem_prefix
        self.counter = itertools.count()
        self.walk_backward: set[str] = set()   # f p v: from v, find ?f with ?f p v
        self.walk_forward: set[str] = set()    # v p f (inverse paths): from v, find ?f with v p ?f
        self.depth = 0
        self.target_patterns: dict = {}
        self.target_specs: dict = {}
        self.inspected = 0  # the farthest level whose nodes' own triples the current check reads
        supers_p = transitive(ontology, RDFS.subPropertyOf, reflexive=True)
        supers_c = transitive(ontology, RDFS.subClassOf, reflexive=True)
        self.sub_properties: dict[Node, set] = {}
        for p, supers in supers_p.items():
            for sup in supers:
                if sup != p:
                    self.sub_properties.setdefault(sup, set()).add(p)
        self.sub_classes: dict[Node, set] = {}
        for c, supers in supers_c.items():
            for sup in supers:
                if sup != c:
                    self.sub_classes.setdefault(sup, set()).add(c)
        self.supers_c = supers_c
        self.supers_p = supers_p
        self.domain_of: dict[Node, set] = {}
        self.range_of: dict[Node, set] = {}
        for p, d in ontology.subject_objects(RDFS.domain):
            self.domain_of.setdefault(p, set()).add(d)
        for p, r in ontology.subject_objects(RDFS.range):
            self.range_of.setdefault(p, set()).add(r)

    # -- the ontology's hierarchy -------------------------------------------------------------

    def supers_p_of(self, p: Node) -> set:
        return self.supers_p.get(p, {p})

    def properties_under(self, p: Node) -> list[Node]:
        return sorted({p} | self.sub_properties.get(p, set()), key=str)

    def classes_under(self, c: Node) -> list[Node]:
        return sorted({c} | self.sub_classes.get(c, set()), key=str)

    def typing_properties(self, cls: Node, declared: dict) -> list[Node]:
        """Properties whose use types a node as ``cls`` by their (or a super-property's) domain or range."""
        implying = set()
        for prop, classes in declared.items():
            if any(cls == c or cls in self.supers_c.get(c, ()) for c in classes):
                implying.update(self.properties_under(prop))
        return sorted(implying, key=str)

    def strictly_below(self, cls: Node, other: Node) -> bool:
        """``cls`` is a sub-class of ``other`` and not equivalent to it."""
        return other != cls and other in self.supers_c.get(cls, ()) and cls not in self.supers_c.get(other, ())

    def members(self, cls: Node, var: str) -> str:
        """A group pattern binding (or testing) ``var`` to the nodes that are ``cls`` under RDFS."""
        if cls == RDFS.Resource or not isinstance(cls, URIRef):
            raise UnsupportedShapes(f"sh:class {cls.n3()} is not compiled")
        t, o = self.var(), self.var()
        types = " ".join(_term(c) for c in self.classes_under(cls))
        branches = [f"{{ VALUES {t} {{ {types} }} {var} <{RDF.type}> {t} }}"]
        by_domain = self.typing_properties(cls, self.domain_of)
        by_range = self.typing_properties(cls, self.range_of)
        # Plain triple patterns, not a path alternative: engines index those best.
        for p in by_domain:
            branches.append(f"{{ {var} {_term(p)} {o} }}")
        for p in by_range:
            branches.append(f"{{ {self.var()} {_term(p)} {var} FILTER(!isLiteral({var})) }}")
        return " UNION ".join(branches)

    @staticmethod
    def alternatives(props: list[Node]) -> str:
        if len(props) == 1:
            return _term(props[0])
        return "(" + "|".join(_term(p) for p in props) + ")"

    def path(self, node: Node, steps: list | None = None, inverse: bool = False) -> str:
        """A SPARQL property path for a SHACL path, each predicate widened to its sub-properties.

        ``steps`` collects each predicate with the direction in which a change must be walked
        back to find the focus nodes it can affect (see ``affected_focus_nodes``).
        """
        steps = [] if steps is None else steps
        if isinstance(node, URIRef):
            if node == RDF.type:
                raise UnsupportedShapes("sh:path rdf:type is not compiled (types are entailed)")
            steps.extend((str(p), inverse) for p in self.properties_under(node))
            return self.alternatives(self.properties_under(node))
        if (node, RDF.first, None) in self.sg:
            sequence = list(Collection(self.sg, node))
            if len(sequence) > 1:
                # The value nodes lie several steps away: a change in between reaches them.
                self.register(steps)
            return "(" + "/".join(self.path(step, steps, inverse) for step in sequence) + ")"
        for key, suffix in ((SH.zeroOrMorePath, "*"), (SH.oneOrMorePath, "+"), (SH.zeroOrOnePath, "?")):
            inner = self.sg.value(node, key)
            if inner is not None:
                if suffix != "?":
                    raise UnsupportedShapes(f"{node.n3()}: repeated paths are not compiled (no bound on what a change reaches)")
                return f"({self.path(inner, steps, inverse)}){suffix}"
        inverse_of = self.sg.value(node, SH.inversePath)
        if inverse_of is not None:
            return f"^({self.path(inverse_of, steps, not inverse)})"
        alternative = self.sg.value(node, SH.alternativePath)
        if alternative is not None:
            return "(" + "|".join(self.path(step, steps, inverse) for step in Collection(self.sg, alternative)) + ")"
        raise UnsupportedShapes(f"the path {node.n3()} is not a SHACL path the compiler knows")

    def zero_length(self, node: Node) -> bool:
        """Whether a SHACL path can match zero steps (then it relates every node to itself)."""
        if isinstance(node, URIRef):
            return False
        if (node, RDF.first, None) in self.sg:
            return all(self.zero_length(step) for step in Collection(self.sg, node))
        if self.sg.value(node, SH.zeroOrOnePath) is not None or self.sg.value(node, SH.zeroOrMorePath) is not None:
            return True
        for key in (SH.oneOrMorePath, SH.inversePath):
            inner = self.sg.value(node, key)
            if inner is not None:
                return self.zero_length(inner)
        alternative = self.sg.value(node, SH.alternativePath)
        if alternative is not None:
            return any(self.zero_length(step) for step in Collection(self.sg, alternative))
        return True  # unknown: assume the worst

    def ranged(self, path_node: Node, cls: Node) -> bool:
        """Whether every value of this one-predicate path is a ``cls`` by the rdfs:range of the
        predicate (or of a super-property), as RDFS entails for any value that is not a literal."""
        return (isinstance(path_node, URIRef) and isinstance(cls, URIRef) and cls != RDFS.Resource
                and path_node in self.typing_properties(cls, self.range_of))

    def path_length(self, node: Node) -> int:
        """How many steps from a focus node its farthest value node can be."""
        if isinstance(node, URIRef):
            return 1
        if (node, RDF.first, None) in self.sg:
            return sum(self.path_length(step) for step in Collection(self.sg, node))
        for key in (SH.zeroOrOnePath, SH.inversePath):
            inner = self.sg.value(node, key)
            if inner is not None:
                return self.path_length(inner)
        alternative = self.sg.value(node, SH.alternativePath)
        if alternative is not None:
            return max(self.path_length(step) for step in Collection(self.sg, alternative))
        return 1

    def register(self, steps) -> None:
        """Walk these path steps when looking for the focus nodes a change affects."""
        for predicate, inverse in steps:
            (self.walk_forward if inverse else self.walk_backward).add(predicate)

    def need(self, level: int) -> None:
        """A check reads the triples of nodes ``level`` steps from its focus node."""
        self.depth = max(self.depth, level)
        self.inspected = max(self.inspected, level)

    def var(self) -> str:
        return f"?_v{next(self.counter)}"

    # -- shapes -------------------------------------------------------------------------------

    def compile_all(self) -> list[_Check]:
        checks = []
        targeted = set()
        for predicate in (SH.targetClass, SH.targetSubjectsOf, SH.targetObjectsOf, SH.targetNode):
            targeted.update(self.sg.subjects(predicate, None))
        for shape in self.sg.subjects(RDF.type, SH.NodeShape):
            if (shape, RDF.type, RDFS.Class) in self.sg or (shape, RDF.type, OWL.Class) in self.sg:
                raise UnsupportedShapes(f"{shape.n3()} is an implicit class target; not compiled")
        for shape in sorted(targeted, key=str):
            if self.deactivated(shape):
                continue
            if (shape, SH.path, None) in self.sg:
                raise UnsupportedShapes(f"{shape.n3()}: a property shape with its own targets is not compiled")
            for check in self.node_shape(shape):
                check.root = shape
                checks.append(check)
        return checks

    def deactivated(self, shape) -> bool:
        return self.sg.value(shape, SH.deactivated) == Literal(True)

    def targets(self, shape: Node) -> str:
        branches = []
        # The same targets as sets, so a write's few focus nodes are sorted into shapes in Python.
        spec = {"types": set(), "subject_of": set(), "object_of": set(), "nodes": set()}
        classes = sorted(self.sg.objects(shape, SH.targetClass), key=str)
        for cls in classes:
            # A sub-class of another target class adds no node, only duplicate rows to sort out.
            if not any(self.strictly_below(cls, other) for other in classes):
                branches.append(self.members(cls, "?this"))
            spec["types"].update(str(c) for c in self.classes_under(cls))
            spec["subject_of"].update(str(p) for p in self.typing_properties(cls, self.domain_of))
            spec["object_of"].update(str(p) for p in self.typing_properties(cls, self.range_of))
        for p in sorted(self.sg.objects(shape, SH.targetSubjectsOf), key=str):
            branches.append(f"{{ ?this {self.alternatives(self.properties_under(p))} {self.var()} }}")
            spec["subject_of"].update(str(q) for q in self.properties_under(p))
        for p in sorted(self.sg.objects(shape, SH.targetObjectsOf), key=str):
            branches.append(f"{{ {self.var()} {self.alternatives(self.properties_under(p))} ?this }}")
            spec["object_of"].update(str(q) for q in self.properties_under(p))
        nodes = sorted(self.sg.objects(shape, SH.targetNode), key=str)
        spec["nodes"].update(str(n) for n in nodes if isinstance(n, URIRef))
        self.target_specs[shape] = spec
        if nodes:
            branches.append("{ VALUES ?this { " + " ".join(_term(n) for n in nodes) + " } }")
        if not branches:
            raise UnsupportedShapes(f"{shape.n3()} has no target the compiler knows")
        union = " UNION ".join(f"{{ {b} }}" for b in branches)
        self.target_patterns[shape] = union
        return f"{{ SELECT DISTINCT ?this WHERE {{ {_FOCUS} {union} }} }}"

    def info(self, shape: Node) -> tuple[tuple[str, ...], str]:
        messages = tuple(sorted(str(m) for m in self.sg.objects(shape, SH.message)))
        severity = str(self.sg.value(shape, SH.severity) or SH.Violation)
        return messages, severity

    def check_parameters(self, shape: Node, allowed: set) -> None:
        for p in set(self.sg.predicates(shape, None)):
            if p == RDF.type:
                continue
            if p not in allowed and p not in _INERT:
                raise UnsupportedShapes(f"{shape.n3()} uses {p.n3()}, which the compiler does not translate")

    def node_shape(self, shape: Node) -> list[_Check]:
        self.check_parameters(shape, _VALUE_PARAMETERS | {SH.sparql})
        focus = self.targets(shape)
        messages, severity = self.info(shape)
        checks = []
        for parameter in sorted(_VALUE_PARAMETERS, key=str):
            for argument in sorted(self.sg.objects(shape, parameter), key=str):
                ok = self.value_ok(parameter, argument, "?this", shape, 0)
                query = f"SELECT DISTINCT ?this{_DATASET} WHERE {{ {focus} FILTER(!({ok})) }}"
                checks.append(_Check(shape, _COMPONENT[parameter], None, query, "focus", messages, severity,
                                     flag=f"!({ok})"))
        for constraint in sorted(self.sg.objects(shape, SH.sparql), key=str):
            if not self.deactivated(constraint):
                checks.append(self.sparql_check(shape, constraint, focus, messages, severity))
        for prop in sorted(self.sg.objects(shape, SH.property), key=str):
            if not self.deactivated(prop):
                checks.extend(self.property_shape(prop, focus))
        return checks

    def property_shape(self, shape: Node, focus: str) -> list[_Check]:
        self.check_parameters(shape, _VALUE_PARAMETERS | _PAIR_PARAMETERS | {SH.minCount, SH.maxCount})
        path_node = self.sg.value(shape, SH.path)
        if path_node is None:
            raise UnsupportedShapes(f"{shape.n3()} is used as a property shape but has no sh:path")
        steps: list = []
        path = self.path(path_node, steps)
        level = self.path_length(path_node)
        outer, self.inspected = self.inspected, 0
        messages, severity = self.info(shape)

        # A path with no zero-length step binds ?this by itself, to the nodes that have values:
        # its branches can be run over the whole data before the targets are known.
        free = not self.zero_length(path_node)

        def check(component, query, value, flag, branch=None):
            return _Check(shape, component, path_node, query, value, messages, severity, flag=flag, branch=branch,
                          free=free and branch is not None)

        checks = []
        for n in self.sg.objects(shape, SH.minCount):
            n = int(n)
            if n == 1:
                query = f"SELECT ?this{_DATASET} WHERE {{ {focus} FILTER NOT EXISTS {{ ?this {path} ?_any }} }}"
            elif n > 1:
                query = (f"SELECT ?this{_DATASET} WHERE {{ {focus} OPTIONAL {{ ?this {path} ?_v }} }} "
                         f"GROUP BY ?this HAVING (COUNT(DISTINCT ?_v) < {n})")
            else:
                continue
            xs = [self.var() for _ in range(n)]
            flag = f"NOT EXISTS {{ ?this {path} {', '.join(xs)} {_all_different(xs)} }}" if n <= 4 else None
            checks.append(check(SH.MinCountConstraintComponent, query, "none", flag))
        for n in self.sg.objects(shape, SH.maxCount):
            query = (f"SELECT ?this{_DATASET} WHERE {{ {focus} ?this {path} ?_v }} "
                     f"GROUP BY ?this HAVING (COUNT(DISTINCT ?_v) > {int(n)})")
            xs = [self.var() for _ in range(int(n) + 1)]
            # A branch, not a per-node flag: the nodes with too many values are found in one pass.
            branch = f"?this {path} {', '.join(xs)} {_all_different(xs)}" if int(n) <= 3 else None
            checks.append(check(SH.MaxCountConstraintComponent, query, "none", None, branch))
        for parameter in sorted(_VALUE_PARAMETERS, key=str):
            for argument in sorted(self.sg.objects(shape, parameter), key=str):
                if parameter == SH.hasValue:
                    query = f"SELECT ?this{_DATASET} WHERE {{ {focus} FILTER NOT EXISTS {{ ?this {path} {_term(argument)} }} }}"
                    checks.append(check(SH.HasValueConstraintComponent, query, "none",
                                        f"NOT EXISTS {{ ?this {path} {_term(argument)} }}"))
                    continue
                if parameter == SH["class"] and self.ranged(path_node, argument):
                    ok = "!isLiteral(?value)"  # the range types every node value: only a literal fails
                else:
                    ok = self.value_ok(parameter, argument, "?value", shape, level)
                query = f"SELECT DISTINCT ?this ?value{_DATASET} WHERE {{ {focus} ?this {path} ?value FILTER(!({ok})) }}"
                checks.append(check(_COMPONENT[parameter], query, "bound", None,
                                    f"?this {path} ?value FILTER(!({ok}))"))
        for parameter in sorted(_PAIR_PARAMETERS, key=str):
            for other in self.sg.objects(shape, parameter):
                other_path = self.path(other)  # the focus node's own values: nothing to walk
                if parameter in (SH.lessThan, SH.lessThanOrEquals):
                    op = "<" if parameter == SH.lessThan else "<="
                    # One result per (value, other value) pair that is not in order, incomparable included.
                    query = (f"SELECT ?this ?value{_DATASET} WHERE {{ {{ SELECT DISTINCT ?this ?value ?_o WHERE {{ "
                             f"{focus} ?this {path} ?value . ?this {other_path} ?_o "
                             f"FILTER(!COALESCE(?value {op} ?_o, false)) }} }} }}")
                    checks.append(check(_COMPONENT[parameter], query, "bound", None,
                                        f"?this {path} ?value . ?this {other_path} ?_o "
                                        f"FILTER(!COALESCE(?value {op} ?_o, false))"))
                elif parameter == SH.disjoint:
                    query = (f"SELECT DISTINCT ?this ?value{_DATASET} WHERE {{ {focus} ?this {path} ?value . "
                             f"?this {other_path} ?value }}")
                    checks.append(check(_COMPONENT[parameter], query, "bound", None,
                                        f"?this {path} ?value . ?this {other_path} ?value"))
                else:
                    query = (f"SELECT DISTINCT ?this ?value{_DATASET} WHERE {{ {focus} "
                             f"{{ ?this {path} ?value FILTER NOT EXISTS {{ ?this {other_path} ?value }} }} UNION "
                             f"{{ ?this {other_path} ?value FILTER NOT EXISTS {{ ?this {path} ?value }} }} }}")
                    checks.append(check(_COMPONENT[parameter], query, "bound", None))
        if self.inspected >= 1:
            self.register(steps)  # the value nodes' own triples are read: walk back from them
        self.inspected = max(outer, self.inspected)
        return checks

    # -- value conformance as SPARQL expressions ----------------------------------------------

    def value_ok(self, parameter, argument, v: str, shape, level: int) -> str:
        """A boolean expression: ``v`` (``level`` steps from the focus node) satisfies this parameter."""
        if parameter == SH.datatype:
            if argument == RDF.langString:
                return f"(isLiteral({v}) && lang({v}) != \"\")"
            test = f"(isLiteral({v}) && datatype({v}) = {_term(argument)} && lang({v}) = \"\""
            lexical = _LEXICAL.get(argument)
            if lexical:  # an ill-typed literal such as "1945-xx"^^xsd:date fails, as in pyshacl
                test += f" && REGEX(STR({v}), {_string(lexical)})"
            return test + ")"
        if parameter == SH["class"]:
            self.need(level)
            return f"EXISTS {{ {self.members(argument, v)} }}"
        if parameter == SH.nodeKind:
            return self.node_kind(argument, v)
        if parameter == SH["in"]:
            members = list(Collection(self.sg, argument))
            return "(" + " || ".join(f"sameTerm({v}, {_term(m)})" for m in members) + ")" if members else "false"
        if parameter == SH.hasValue:
            return f"sameTerm({v}, {_term(argument)})"
        if parameter == SH.pattern:
            flags = self.sg.value(shape, SH.flags)
            flag_text = f", {_string(str(flags))}" if flags is not None else ""
            return f"(!{self.blank(v)} && REGEX(STR({v}), {_string(str(argument))}{flag_text}))"
        if parameter in (SH.minLength, SH.maxLength):
            op = ">=" if parameter == SH.minLength else "<="
            return f"(!{self.blank(v)} && STRLEN(STR({v})) {op} {int(argument)})"
        if parameter in (SH.minInclusive, SH.maxInclusive, SH.minExclusive, SH.maxExclusive):
            op = {SH.minInclusive: ">=", SH.maxInclusive: "<=", SH.minExclusive: ">", SH.maxExclusive: "<"}[parameter]
            return f"COALESCE({v} {op} {_term(argument)}, false)"
        if parameter in (SH["or"], SH["and"], SH.xone):
            parts = [self.conforms(member, v, level) for member in Collection(self.sg, argument)]
            if not parts:
                return "false" if parameter == SH["or"] else ("true" if parameter == SH["and"] else "false")
            if parameter == SH["or"]:
                return "(" + " || ".join(parts) + ")"
            if parameter == SH["and"]:
                return "(" + " && ".join(parts) + ")"
            return "((" + " + ".join(f"IF({p}, 1, 0)" for p in parts) + ") = 1)"
        if parameter == SH["not"]:
            return f"!({self.conforms(argument, v, level)})"
        if parameter == SH.node:
            return self.conforms(argument, v, level)
        raise UnsupportedShapes(f"{parameter.n3()} is not compiled")

    def blank(self, v: str) -> str:
        if self.skolem_prefix:
            return f"(isBlank({v}) || (isIRI({v}) && STRSTARTS(STR({v}), {_string(self.skolem_prefix)})))"
        return f"isBlank({v})"

    def node_kind(self, kind, v: str) -> str:
        blank = self.blank(v)
        iri = f"(isIRI({v}) && !{blank})"
        kinds = {SH.IRI: iri, SH.BlankNode: blank, SH.Literal: f"isLiteral({v})",
                 SH.BlankNodeOrIRI: f"!isLiteral({v})", SH.BlankNodeOrLiteral: f"({blank} || isLiteral({v}))",
                 SH.IRIOrLiteral: f"({iri} || isLiteral({v}))"}
        if kind not in kinds:
            raise UnsupportedShapes(f"unknown sh:nodeKind {kind.n3()}")
        return kinds[kind]

    def conforms(self, shape: Node, v: str, level: int) -> str:
        """A boolean expression: ``v`` conforms to ``shape`` (used inside sh:or, sh:node …)."""
        if self.deactivated(shape):
            return "true"
        allowed = _VALUE_PARAMETERS | _PAIR_PARAMETERS | {SH.minCount, SH.maxCount}
        self.check_parameters(shape, allowed)
        path_node = self.sg.value(shape, SH.path)
        parts = []
        if path_node is None:
            if any((shape, p, None) in self.sg for p in _PAIR_PARAMETERS | {SH.minCount, SH.maxCount}):
                raise UnsupportedShapes(f"{shape.n3()}: cardinality or pair constraints without sh:path")
            for parameter in sorted(_VALUE_PARAMETERS, key=str):
                for argument in self.sg.objects(shape, parameter):
                    parts.append(self.value_ok(parameter, argument, v, shape, level))
        else:
            self.need(level)  # v's own triples give its values
            steps: list = []
            path = self.path(path_node, steps)
            inner_level = level + self.path_length(path_node)
            outer, self.inspected = self.inspected, 0
            for n in self.sg.objects(shape, SH.minCount):
                n = int(n)
                if n >= 1:
                    xs = [self.var() for _ in range(n)]
                    parts.append(f"EXISTS {{ {v} {path} {', '.join(xs)} {_all_different(xs)} }}")
            for n in self.sg.objects(shape, SH.maxCount):
                n = int(n)
                xs = [self.var() for _ in range(n + 1)]
                parts.append(f"NOT EXISTS {{ {v} {path} {', '.join(xs)} {_all_different(xs)} }}")
            for parameter in sorted(_VALUE_PARAMETERS, key=str):
                for argument in self.sg.objects(shape, parameter):
                    if parameter == SH.hasValue:
                        parts.append(f"EXISTS {{ {v} {path} {_term(argument)} }}")
                        continue
                    x = self.var()
                    parts.append(f"NOT EXISTS {{ {v} {path} {x} FILTER(!({self.value_ok(parameter, argument, x, shape, inner_level)})) }}")
            for parameter in _PAIR_PARAMETERS:
                if any(self.sg.objects(shape, parameter)):
                    raise UnsupportedShapes(f"{shape.n3()}: {parameter.n3()} inside a logical constraint is not compiled")
            if self.inspected > level:
                self.register(steps)
            self.inspected = max(outer, self.inspected)
        for prop in self.sg.objects(shape, SH.property):
            parts.append(self.conforms(prop, v, level))
        if any(self.sg.objects(shape, SH.sparql)):
            raise UnsupportedShapes(f"{shape.n3()}: sh:sparql inside a logical constraint is not compiled")
        return "(" + " && ".join(parts) + ")" if parts else "true"

    # -- SPARQL-based constraints -------------------------------------------------------------

    def sparql_check(self, shape, constraint, focus: str, messages, severity) -> _Check:
        select = self.sg.value(constraint, SH.select)
        if select is None:
            raise UnsupportedShapes(f"{shape.n3()}: only sh:select SPARQL constraints are compiled")
        prefixes = {}
        for declarations in self.sg.objects(constraint, SH.prefixes):
            for decl in self.sg.objects(declarations, SH.declare):
                prefixes[str(self.sg.value(decl, SH.prefix))] = str(self.sg.value(decl, SH.namespace))
        header = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in sorted(prefixes.items()))
        text = str(select)
        try:
            parsed = prepareQuery(header + text)
        except Exception as error:  # rdflib raises pyparsing errors of several kinds
            raise UnsupportedShapes(f"{shape.n3()}: cannot parse its sh:select: {error}") from error
        self.check_sparql_predicates(shape, parsed.algebra)
        patterns = list(_triple_predicates(parsed.algebra))
        self.need(max(1, len(patterns) - 1))  # a hand-written query may join that far from $this
        projected = [str(v) for v in parsed.algebra.get("PV", [])]
        if "this" not in projected:
            raise UnsupportedShapes(f"{shape.n3()}: a sh:select must project $this to be compiled")
        inner_prefixes = re.findall(r"(?is)^\s*PREFIX\s+[^\s:]*:\s*<[^>]*>", text)
        body = re.sub(r"(?is)^(\s*PREFIX\s+[^\s:]*:\s*<[^>]*>)*", "", text)
        brace = body.index("{")
        body = body[:brace + 1] + f" {_FOCUS} " + body[brace + 1:]
        header += "".join(p.strip() + "\n" for p in inner_prefixes)
        extra = [name for name in projected if name not in ("this",)]
        outer_vars = " ".join(f"?{name}" for name in ["this", *extra])
        query = f"{header}SELECT {outer_vars}{_DATASET} WHERE {{ {focus} {{ {body} }} }}"
        sparql_messages = tuple(sorted(str(m) for m in self.sg.objects(constraint, SH.message)))
        return _Check(shape, SH.SPARQLConstraintComponent, None, query, "focus", messages, severity,
                      sparql_messages=sparql_messages, extra_vars=tuple(n for n in extra if n not in ("value", "path")))

    def check_sparql_predicates(self, shape, algebra) -> None:
        """A hand-written query reads triples as written; refuse it when RDFS would add to them."""
        for predicate, obj in _triple_predicates(algebra):
            if isinstance(predicate, Variable):
                raise UnsupportedShapes(f"{shape.n3()}: a sh:select with a variable predicate is not compiled")
            if predicate == RDF.type:
                if not isinstance(obj, URIRef) or self.sub_classes.get(obj) or \
                        self.typing_properties(obj, self.domain_of) or self.typing_properties(obj, self.range_of):
                    raise UnsupportedShapes(f"{shape.n3()}: its sh:select matches rdf:type {obj.n3()}, "
                                            "which RDFS entails more of")
            elif self.sub_properties.get(predicate):
                raise UnsupportedShapes(f"{shape.n3()}: its sh:select matches {predicate.n3()}, which has sub-properties")
            else:
                self.walk_backward.add(str(predicate))
                self.walk_forward.add(str(predicate))


def _all_different(xs: list[str]) -> str:
    pairs = [f"!sameTerm({a}, {b})" for a, b in itertools.combinations(xs, 2)]
    return f"FILTER({' && '.join(pairs)})" if pairs else ""


def _triple_predicates(node):
    """(predicate, object) of every triple pattern in an rdflib query algebra; paths give their IRIs."""
    from rdflib.paths import Path

    def path_iris(path):
        if isinstance(path, URIRef):
            yield path
        elif isinstance(path, Path):
            for attr in ("args", "arg", "path"):
                inner = getattr(path, attr, None)
                if inner is None:
                    continue
                for item in inner if isinstance(inner, list) else [inner]:
                    yield from path_iris(item)

    if isinstance(node, dict):
        for key, value in node.items():
            if key == "triples":
                for s, p, o in value:
                    if isinstance(p, Path):
                        for iri in path_iris(p):
                            yield iri, None
                    else:
                        yield p, o
            else:
                yield from _triple_predicates(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _triple_predicates(item)
