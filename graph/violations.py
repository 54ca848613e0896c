"""The treaty violations of a built graph, with the chain of premises and evidence behind each.

The rules in ``shapes/violation-rules.ttl`` derive the violations at build time; this module
reads them back with ``graph/queries/explain-violation.rq`` (the same query a historian can run
at the SPARQL endpoint) and prints them as text, JSON or Turtle (``yokuryu violations``).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from importlib import resources

import pyoxigraph as ox

from yokuryu.graph.store import KnowledgeStore
from yokuryu.ontology import INFERRED_GRAPH

FORMATS = ("text", "json", "turtle")

_CLASS_NAMES = {
    "https://w3id.org/yokuryu/ontology#ForbiddenActViolation": "forbidden act",
    "https://w3id.org/yokuryu/ontology#FrustratedRequirementViolation": "frustrated requirement",
}

CITATION_NEEDED_NOTE = "A premise rests on a statement the source flags [citation needed]."

# The premises in the order a historian checks them.
PREMISE_ORDER = ("instrument", "provision", "binding action", "act", "claim of the source")


def explain_query() -> str:
    """The SPARQL query that retrieves every violation with its whole chain of premises and evidence."""
    return (resources.files("yokuryu.graph") / "queries" / "explain-violation.rq").read_text(encoding="utf-8")


@dataclass
class Evidence:
    """One citation or source sentence that supports a premise."""

    iri: str
    label: str
    confidence: str | None = None
    sentence_number: int | None = None

    @property
    def is_sentence(self) -> bool:
        return self.sentence_number is not None


@dataclass
class Premise:
    """One premise of a violation (the act, the provision…) and its evidence."""

    role: str
    iri: str
    label: str
    citation_needed: bool = False
    reference_marker: str | None = None
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Violation:
    """A derived treaty violation and everything needed to check it."""

    iri: str
    label: str
    kind: str
    rule: str
    instrument: str
    instrument_label: str
    in_force_from: str
    in_force_until: str | None
    provision: str
    provision_label: str
    provision_text: str | None
    provision_text_is_verbatim: bool
    breached_kind: str
    agent: str
    agent_label: str
    act: str
    act_label: str
    act_kind: str | None
    act_start: str
    act_end: str | None
    binding_action: str
    binding_label: str
    bound_from: str
    overlap_start: str
    overlap_end: str
    premises: list[Premise] = field(default_factory=list)

    @property
    def cites_flagged_source(self) -> bool:
        """True if a premise rests on a statement the source flags "[citation needed]"."""
        return any(p.citation_needed for p in self.premises)

    @property
    def caveats(self) -> list[str]:
        """What a reader must know before relying on the violation: the limits of what the rules
        show, worded once here for the CLI, the JSON and the pages alike."""
        notes = []
        for premise in self.premises:
            if premise.role != "claim of the source":
                continue
            period = (f"on {self.overlap_start}" if self.overlap_start == self.overlap_end
                      else f"from {self.overlap_start} to {self.overlap_end}")
            scope = f"the rules support a violation only {period}, the dates of the act ({self.act_label})"
            if "from the beginning" in premise.label.lower():
                notes.append(f"The source's claim ({premise.label}) goes further than the rules: it says "
                             f"\"from the beginning\", but {scope}, not from the instrument's beginning "
                             f"({self.in_force_from}).")
            else:
                notes.append(f"The source's claim ({premise.label}) agrees that there was a violation; {scope}.")
        if self.provision_text and "military forces" in self.provision_text.lower():
            # The provision's own words limit whom it protects; estimates may count others.
            notes.append(f"{self.provision_label} concerns the Japanese military forces; civilians, whom some "
                         "estimates of the internees and the dead also count, are outside it.")
        if self.cites_flagged_source:
            notes.append(CITATION_NEEDED_NOTE)
        return notes

    def as_dict(self) -> dict:
        data = asdict(self)
        data["citationNeeded"] = self.cites_flagged_source
        data["caveats"] = self.caveats
        return data


def find_violations(store: KnowledgeStore, only: set[str] | None = None) -> list[Violation]:
    """Every treaty violation in the store (or those of ``only``), premises in checking order,
    evidence sorted."""
    violations: dict[str, Violation] = {}
    query = explain_query()
    if only is not None:
        # Binding the violations first lets the engine skip the others (a page needs one or two).
        if not only:
            return []
        where = re.search(r"\bWHERE\s*\{", query, re.IGNORECASE)
        values = "VALUES ?violation { " + " ".join(f"<{iri}>" for iri in sorted(only)) + " }\n"
        query = query[:where.end()] + "\n" + values + query[where.end():]
    for row in store.query(query):
        iri = row["violation"].value
        violation = violations.get(iri)
        if violation is None:
            violation = violations[iri] = Violation(
                iri=iri, label=_text(row["violationLabel"]),
                kind=_CLASS_NAMES.get(row["violationClass"].value, row["violationClass"].value),
                rule=row["rule"].value,
                instrument=row["instrument"].value, instrument_label=_label(row, "instrument"),
                in_force_from=_text(row["inForceFrom"]), in_force_until=_opt(row["inForceUntil"]),
                provision=row["provision"].value, provision_label=_label(row, "provision"),
                provision_text=_opt(row["provisionText"]),
                provision_text_is_verbatim=_opt(row["provisionTextIsVerbatim"]) == "true",
                breached_kind=_label(row, "breachedKind"),
                agent=row["agent"].value, agent_label=_label(row, "agent"),
                act=row["act"].value, act_label=_label(row, "act"), act_kind=_opt(row["actKindLabel"]),
                act_start=_text(row["actStart"]), act_end=_opt(row["actEnd"]),
                binding_action=row["bindingAction"].value, binding_label=_label(row, "binding"),
                bound_from=_text(row["boundFrom"]),
                overlap_start=_text(row["overlapStart"]), overlap_end=_text(row["overlapEnd"]),
            )
        premise = next((p for p in violation.premises
                        if p.role == row["premiseRole"].value and p.iri == row["premise"].value), None)
        if premise is None:
            premise = Premise(role=row["premiseRole"].value, iri=row["premise"].value,
                              label=_label(row, "premise"),
                              citation_needed=_opt(row["citationNeeded"]) == "true",
                              reference_marker=_opt(row["referenceMarker"]))
            violation.premises.append(premise)
        evidence_iri = row["evidence"].value
        if all(e.iri != evidence_iri for e in premise.evidence):
            number = row["sentenceNumber"]
            premise.evidence.append(Evidence(
                iri=evidence_iri,
                label=_text(row["sentenceText"]) if number is not None else _text(row["evidenceLabel"]),
                confidence=_opt(row["confidence"]),
                sentence_number=int(number.value) if number is not None else None))
    for violation in violations.values():
        violation.premises.sort(key=lambda p: (PREMISE_ORDER.index(p.role), p.iri))
        for premise in violation.premises:
            premise.evidence.sort(key=lambda e: (not e.is_sentence, e.sentence_number or 0, _e_number(e.label), e.iri))
    return sorted(violations.values(), key=lambda v: (v.instrument_label, v.provision_label, v.act_start, v.iri))


def render(store: KnowledgeStore, fmt: str) -> str:
    """The violations of ``store`` as text, JSON or Turtle."""
    if fmt == "turtle":
        return _turtle(store)
    violations = find_violations(store)
    if fmt == "json":
        return json.dumps({"violations": [v.as_dict() for v in violations]}, indent=2, ensure_ascii=False)
    if fmt == "text":
        return render_text(violations)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_text(violations: list[Violation]) -> str:
    """A readable account of each violation: what, who, when, why, and on what evidence."""
    if not violations:
        return "No treaty violations were derived."
    blocks = [f"{len(violations)} treaty violation(s) derived by the rules in shapes/violation-rules.ttl."]
    for number, v in enumerate(violations, 1):
        until = f" until {v.in_force_until}" if v.in_force_until else " (no expiry recorded)"
        act_period = v.act_start + (f" to {v.act_end}" if v.act_end and v.act_end != v.act_start else "")
        lines = [
            f"{number}. {v.label}",
            f"   <{v.iri}>",
            f"   instrument  {v.instrument_label}, in force from {v.in_force_from}{until}",
            f"   provision   {v.provision_label}" + _provision_text(v),
            f"   breach      {v.kind}: {v.breached_kind}",
            f"   agent       {v.agent_label}, bound from {v.bound_from} ({v.binding_label})",
            f"   act         {v.act_label}" + (f" ({v.act_kind})" if v.act_kind else "") + f", {act_period}",
            f"   overlap     {v.overlap_start} to {v.overlap_end}",
            f"   rule        <{v.rule}>",
            "   evidence",
        ]
        for premise in v.premises:
            flags = []
            if premise.citation_needed:
                flags.append("the source flags this [citation needed]")
            if premise.reference_marker:
                flags.append(f"source footnote [{premise.reference_marker}]")
            lines.append(f"     {premise.role}: {premise.label}" + (f"  ({'; '.join(flags)})" if flags else ""))
            for e in premise.evidence:
                if e.is_sentence:
                    lines.append(f"       - sentence {e.sentence_number} of the source: \"{e.label}\"")
                else:
                    lines.append(f"       - {e.label}" + (f" [{e.confidence}]" if e.confidence else ""))
        for caveat in v.caveats:
            lines.append(f"   note        {caveat}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _turtle(store: KnowledgeStore) -> str:
    """The violation resources as stored in the inferred graph, as Turtle."""
    triples = store.query(
        f"CONSTRUCT {{ ?v ?p ?o }} WHERE {{ GRAPH <{INFERRED_GRAPH}> {{ ?v a yk:TreatyViolation ; ?p ?o }} }}",
        union_default_graph=False)
    prefixes = {"yk": "https://w3id.org/yokuryu/ontology#", "res": "https://w3id.org/yokuryu/resource/",
                "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "xsd": "http://www.w3.org/2001/XMLSchema#",
                "yks": "https://w3id.org/yokuryu/shapes#",
                "src": "https://w3id.org/yokuryu/source/japanese-pows-in-the-soviet-union#"}
    return ox.serialize(sorted(triples, key=str), format=ox.RdfFormat.TURTLE, prefixes=prefixes).decode()


def _text(term) -> str:
    return term.value if term is not None else ""


def _opt(term) -> str | None:
    return term.value if term is not None else None


def _label(row, name: str) -> str:
    label = row[f"{name}Label"]
    if label is not None:
        return label.value
    node = row[name] if name != "binding" else row["bindingAction"]
    return node.value if node is not None else ""


def _e_number(label: str) -> int:
    """The number of an "E<n>: …" citation label, so E2 sorts before E11."""
    head = label.split(":", 1)[0]
    return int(head[1:]) if head[:1] == "E" and head[1:].isdigit() else 0


def _provision_text(v: Violation) -> str:
    """The provision's words in quotes, or a summary that says it is one."""
    if not v.provision_text:
        return ""
    if v.provision_text_is_verbatim:
        return f': "{v.provision_text}"'
    return f" (summary, not the instrument's words): {v.provision_text}"
