"""SHACL validation with pyshacl, and a report a historian can read and act on."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyshacl import validate as shacl_validate
from rdflib import Graph, Literal
from rdflib.namespace import RDF, RDFS, SH
from rdflib.term import Node


@dataclass(frozen=True)
class Violation:
    """One SHACL result: what is wrong, where, and in which file."""

    focus: str
    path: str | None
    value: str | None
    message: str
    severity: str
    shape: str | None
    files: tuple[str, ...] = ()
    # When the focus node has the shape's class only by inference: which statement gave it.
    inferred_type: str | None = None

    def as_text(self) -> str:
        lines = [f"{self.severity}: {self.message}", f"  focus node: {self.focus}"]
        if self.path:
            lines.append(f"  path:       {self.path}")
        if self.value:
            lines.append(f"  value:      {self.value}")
        if self.files:
            lines.append(f"  file:       {', '.join(self.files)}")
        if self.shape:
            lines.append(f"  shape:      {self.shape}")
        if self.inferred_type:
            lines.append(f"  typed by:   {self.inferred_type}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "focusNode": self.focus, "path": self.path, "value": self.value, "message": self.message,
            "severity": self.severity, "sourceShape": self.shape, "files": list(self.files),
            "inferredType": self.inferred_type,
        }


@dataclass
class ValidationReport:
    conforms: bool
    violations: list[Violation] = field(default_factory=list)
    graph: Graph = field(default_factory=Graph)

    def as_text(self) -> str:
        if self.conforms:
            return "The data conforms to the shapes."
        head = f"The data does not conform to the shapes: {len(self.violations)} problem(s)."
        return "\n\n".join([head, *(v.as_text() for v in self.violations)])


def validate(data: Graph, *, shapes: Graph, ontology: Graph,
             locate: Callable[[Node], list[str]] | None = None) -> ValidationReport:
    """Validate ``data`` against ``shapes``, with the ontology's class hierarchy in view.

    RDFS inference lets ``sh:class yk:Agent`` accept a ``yk:State``; the inferred triples stay
    inside pyshacl and never reach the data. ``locate`` maps a focus node to the input files
    that describe it, so the report can say where to fix the problem.
    """
    # pyshacl's own ont_graph mixing takes ~100 s on this ontology, and owlrl's RDFS closure
    # turns a boolean true into "1"^^xsd:positiveInteger (Python's True == 1), so the RDFS
    # entailments shapes need are computed here, on a private copy.
    conforms, results_graph, _ = shacl_validate(
        rdfs_entailments(data, ontology), shacl_graph=_constraints_only(shapes), inference="none",
        advanced=True, allow_warnings=True, abort_on_first=False)
    violations = []
    for result in results_graph.subjects(SH.resultSeverity, None):
        focus = results_graph.value(result, SH.focusNode)
        path = results_graph.value(result, SH.resultPath)
        value = results_graph.value(result, SH.value)
        message = results_graph.value(result, SH.resultMessage)
        severity = results_graph.value(result, SH.resultSeverity)
        shape = results_graph.value(result, SH.sourceShape)
        violations.append(Violation(
            focus=_show(focus), path=_show_path(results_graph, path), value=_show(value),
            message=str(message) if message is not None else "(no message)",
            severity=str(severity).rsplit("#", 1)[-1],
            shape=_show(shape) if shape is not None and not _is_blank(shape) else None,
            files=tuple(locate(focus)) if locate and focus is not None else (),
            inferred_type=_inferred_type(focus, shape, data, shapes, ontology),
        ))
    violations.sort(key=lambda v: (v.files, v.focus, v.path or "", v.message))
    return ValidationReport(conforms=bool(conforms), violations=violations, graph=results_graph)


def rdfs_entailments(data: Graph, ontology: Graph) -> Graph:
    """Data + ontology + what RDFS entails from them for validation: super-properties, then the
    types given by rdfs:domain and rdfs:range, then superclasses (rules rdfs2, 3, 7, 9, 11)."""
    closure = Graph()
    closure += ontology
    closure += data
    supers_of_property = transitive(ontology, RDFS.subPropertyOf)
    supers_of_class = transitive(ontology, RDFS.subClassOf)
    domains = {p: set(ontology.objects(p, RDFS.domain)) for p in ontology.subjects(RDFS.domain, None)}
    ranges = {p: set(ontology.objects(p, RDFS.range)) for p in ontology.subjects(RDFS.range, None)}
    for s, p, o in list(data):
        for prop in {p} | supers_of_property.get(p, set()):
            closure.add((s, prop, o))
            for cls in domains.get(prop, ()):
                closure.add((s, RDF.type, cls))
            if not isinstance(o, Literal):
                for cls in ranges.get(prop, ()):
                    closure.add((o, RDF.type, cls))
    for s, cls in list(closure.subject_objects(RDF.type)):
        for superclass in supers_of_class.get(cls, ()):
            closure.add((s, RDF.type, superclass))
    return closure


def transitive(graph: Graph, predicate, *, reflexive: bool = False) -> dict:
    """For each subject of ``predicate``, every node it reaches by one or more steps (and itself
    too when ``reflexive``: "its super-classes or itself", as the compiled shapes ask)."""
    reach: dict = {}
    for start in set(graph.subjects(predicate, None)):
        seen, todo = ({start} if reflexive else set()), [start]
        while todo:
            for nxt in graph.objects(todo.pop(), predicate):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[start] = seen
    return reach


def _constraints_only(shapes: Graph) -> Graph:
    """The shapes without their SHACL-AF rules (sh:rule): validation checks the data, and the
    rules run after the OWL-RL closure in yokuryu.graph.reasoning, on pyoxigraph."""
    if (None, SH.rule, None) not in shapes:
        return shapes
    constraints = Graph()
    for triple in shapes:
        if triple[1] != SH.rule:
            constraints.add(triple)
    return constraints


def _is_blank(node) -> bool:
    return node.__class__.__name__ == "BNode"


def _show(node) -> str | None:
    if node is None:
        return None
    if _is_blank(node):
        return "[blank node]"
    return node.n3()


def _show_path(graph: Graph, path) -> str | None:
    if path is None:
        return None
    if _is_blank(path):
        inverse = graph.value(path, SH.inversePath)
        if inverse is not None:
            return f"^{inverse.n3()}"
        return "[complex path]"
    return path.n3()


def _inferred_type(focus, shape, data: Graph, shapes: Graph, ontology: Graph) -> str | None:
    """Why ``focus`` has the class the shape targets, when the data never states it.

    "An organisation needs a name" about a node nobody called an organisation is a puzzle until
    the report says the type came from, e.g., the range of yk:operatedBy.
    """
    if focus is None or shape is None:
        return None
    owners = [shape, *shapes.subjects(SH.property, shape)]
    targets = {c for owner in owners for c in shapes.objects(owner, SH.targetClass)}
    if not targets:
        return None
    subclasses = transitive(ontology, RDFS.subClassOf)
    asserted = set(data.objects(focus, RDF.type))
    if any(targets & ({c} | subclasses.get(c, set())) for c in asserted):
        return None  # the data states the type (or a subclass of it)
    names = _short_names()

    def within_target(cls) -> bool:
        return bool(targets & ({cls} | subclasses.get(cls, set())))

    supers_of_property = transitive(ontology, RDFS.subPropertyOf)
    # Outgoing statements first (their domains), then incoming ones (their ranges).
    uses = [(p, None, RDFS.domain) for p, _ in data.predicate_objects(focus)]
    uses += [(p, s_, RDFS.range) for s_, p in data.subject_predicates(focus)]
    for p, subject, declared in uses:
        for prop in {p} | supers_of_property.get(p, set()):
            for cls in ontology.objects(prop, declared):
                if within_target(cls):
                    return _typed_by_text(focus, cls, p, subject, names)
    return None


def _typed_by_text(focus, cls, p, subject, names) -> str:
    """The report's "typed by" line; ``subject`` is set when ``focus`` is the object of ``p``."""
    because = (f"subject of {p.n3(names)}, whose rdfs:domain" if subject is None else
               f"object of {p.n3(names)} (on {subject.n3(names)}), whose rdfs:range")
    return f"inferred, not stated: {focus.n3(names)} is a {cls.n3(names)} because it is the {because} is {cls.n3(names)}"


def _short_names():
    """yk:, res:, rdfs: … for readable reports."""
    from rdflib.namespace import NamespaceManager

    from yokuryu.ontology import PREFIXES

    names = NamespaceManager(Graph(), bind_namespaces="none")
    for prefix, iri in PREFIXES.items():
        names.bind(prefix, iri)
    return names
