"""SHACL validation with pyshacl, and a report a historian can read and act on."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import owlrl
from pyshacl import validate as shacl_validate
from rdflib import Graph
from rdflib.namespace import SH
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
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "focusNode": self.focus, "path": self.path, "value": self.value, "message": self.message,
            "severity": self.severity, "sourceShape": self.shape, "files": list(self.files),
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
    # pyshacl's own ont_graph mixing takes ~100 s on this ontology; owlrl's RDFS closure of a
    # private copy gives the same inferences in about a second.
    closure = Graph()
    closure += data
    closure += ontology
    owlrl.DeductiveClosure(owlrl.RDFS_Semantics).expand(closure)
    conforms, results_graph, _ = shacl_validate(
        closure, shacl_graph=_constraints_only(shapes), inference="none",
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
        ))
    violations.sort(key=lambda v: (v.files, v.focus, v.path or "", v.message))
    return ValidationReport(conforms=bool(conforms), violations=violations, graph=results_graph)


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
