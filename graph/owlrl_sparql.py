"""OWL 2 RL reasoning compiled to SPARQL: only the rules the ontology triggers, run semi-naively.

``CompiledReasoner.compile(ontology, shapes)`` reads the ontology's axioms once and turns them
into a handful of SPARQL 1.1 updates (the class and property hierarchies are closed in Python
first, so one rule covers a whole hierarchy through a ``VALUES`` table). ``materialize`` runs
them to a fixpoint on any :class:`~yokuryu.graph.sparql_engine.SparqlEngine`, then the shapes'
SHACL-AF rules; ``add`` and ``remove`` keep the result up to date from a change (semi-naive for
additions, delete-and-rederive for deletions). The inferred graph it leaves is the one
``yokuryu.graph.reasoning.infer`` (owlrl + the noise filter) computes, triple for triple; the
differences that remain on purpose are listed in ``docs/reasoning-compiled.md`` and tested.

Every rule is plain SPARQL 1.1 Update with ``USING``/``USING NAMED`` naming its dataset, so
the same rules run on a remote SPARQL server; nothing engine-specific happens inside a rule.

Graphs the reasoner writes (all under ``…/graph/``):

- ``inferred``: what the noise filter keeps (the public result);
- ``reasoner/support``: entailments the noise filter drops but later rules may need
  (statements about vocabulary terms, such as the types of the ontology's named individuals);
- ``reasoner/rule/<md5 of the focus node>``: what the SHACL-AF rules derived for one focus
  node, so that a change re-runs the rules for the focus nodes it can reach and retracts
  exactly their old output;
- ``reasoner/delta-*``, ``reasoner/next``, ``reasoner/overdeleted``: scratch, dropped when a
  call returns.
"""
from __future__ import annotations

import hashlib
import re
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef, Variable
from rdflib.namespace import OWL, RDF, RDFS, SH

from yokuryu.graph.reasoning import (
    TRIVIAL_TYPES,
    VOCABULARY_NAMESPACES,
    InconsistentData,
    RuleError,
    sparql_rules,
)
from yokuryu.graph.sparql_engine import SparqlEngine, sparql_term
from yokuryu.graph.sparql_text import tokens
from yokuryu.ontology import GRAPH, INFERRED_GRAPH, METADATA_GRAPH, ONTOLOGY_GRAPH, SHAPES_GRAPH

INFERRED = str(INFERRED_GRAPH)
ONTOLOGY = str(ONTOLOGY_GRAPH)
REASONER_PREFIX = str(GRAPH) + "reasoner/"
SUPPORT = REASONER_PREFIX + "support"
RULE_OUTPUT_PREFIX = REASONER_PREFIX + "rule/"
_DELTA = (REASONER_PREFIX + "delta-a", REASONER_PREFIX + "delta-b")
_CLOSED_DELTA = (REASONER_PREFIX + "delta-closed-a", REASONER_PREFIX + "delta-closed-b")
_OPEN_DELTA = (REASONER_PREFIX + "delta-open-a", REASONER_PREFIX + "delta-open-b")
_NEXT = REASONER_PREFIX + "next"
_OVERDELETED = REASONER_PREFIX + "overdeleted"
_OVERDELETED_NEXT = REASONER_PREFIX + "overdeleted-next"

# Graphs that are never facts for the reasoner (the schema of validation, the dataset description).
NOT_FACTS = frozenset({str(SHAPES_GRAPH), str(METADATA_GRAPH)})

ROUND_LIMIT = 100
PLAIN_FIRST_ROUND = True

_RDF_TYPE = str(RDF.type)

# Predicates that state schema. A change that asserts or retracts one of them in the data
# changes what the compiled rules must be: the reasoner asks for a full re-derivation.
SCHEMA_PREDICATES = frozenset(str(p) for p in (
    RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range, OWL.inverseOf,
    OWL.equivalentClass, OWL.equivalentProperty, OWL.propertyChainAxiom, OWL.onProperty,
    OWL.hasValue, OWL.someValuesFrom, OWL.allValuesFrom, OWL.disjointWith, OWL.propertyDisjointWith,
    OWL.members, OWL.distinctMembers, OWL.intersectionOf, OWL.unionOf, OWL.complementOf, OWL.oneOf,
    OWL.hasKey, OWL.maxCardinality, OWL.maxQualifiedCardinality, OWL.cardinality,
    OWL.minCardinality, OWL.sameAs, OWL.disjointUnionOf, OWL.onClass, OWL.sourceIndividual))
# rdf:type objects that state schema (a new class, a characteristic of a property).
SCHEMA_TYPES = frozenset(str(c) for c in (
    OWL.Class, RDFS.Class, OWL.Restriction, OWL.TransitiveProperty, OWL.SymmetricProperty,
    OWL.FunctionalProperty, OWL.InverseFunctionalProperty, OWL.AsymmetricProperty,
    OWL.IrreflexiveProperty, OWL.ReflexiveProperty, OWL.AllDisjointClasses, OWL.AllDifferent,
    OWL.AllDisjointProperties, OWL.ObjectProperty, OWL.DatatypeProperty, RDF.Property,
    OWL.AnnotationProperty, OWL.Ontology, RDFS.Datatype))


class UnsupportedAxiom(ValueError):
    """The ontology uses an axiom the compiler has no rule for; the message names it and the fallback."""


class UnsupportedData(ValueError):
    """The data needs reasoning the compiled rules do not do (``owl:sameAs``, schema in the data)."""


class NeedsFullRederivation(Exception):
    """The change touches the schema; compile again and call ``materialize`` (see the docs)."""


@dataclass
class ReasoningStats:
    """What a materialisation did: rounds to the fixpoint, triples derived, time per stage."""

    rounds: int = 0
    inferred: int = 0
    support: int = 0
    rule_output: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Delta:
    """The change to the inferred graph a call made (triples, without graph names)."""

    added: set[ox.Triple] = field(default_factory=set)
    removed: set[ox.Triple] = field(default_factory=set)
    rederived: set[ox.Triple] = field(default_factory=set)  # overdeleted, then derived again

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


@dataclass(frozen=True)
class Rule:
    """One compiled rule: ``head`` holds whenever the ``body`` atoms match (with ``values`` and ``extra``).

    Atoms are SPARQL triple patterns. In semi-naive evaluation each atom in turn reads the
    previous round's new triples (a ``GRAPH <delta>``) and the others read all the facts.
    A rule with ``check`` set derives nothing: any match is a contradiction.
    """

    name: str
    body: tuple[str, ...]
    head: str = ""
    values: str = ""
    extra: str = ""
    check: str = ""
    # Closed rules (the hierarchies, domains and ranges, precomputed to their closure) add
    # nothing when applied to what closed rules derived; they only need the open rules' output.
    closed: bool = False
    symmetric: bool = False  # the body's atoms are interchangeable: one semi-naive variant is enough

    def where(self, delta: str | tuple[str, ...] | None, atom: int | None, bound: bool = False) -> str:
        """The body; the most selective part first, since engines tend to join in written order:
        the delta atom when there is one, then the other atoms, then the VALUES table (with all
        the facts and nothing bound, the VALUES table first: it names the predicates)."""
        graphs = (delta,) if isinstance(delta, str) else (delta or ())
        parts = []
        if atom is not None and graphs:
            # One GRAPH pattern over a VALUES list, not a UNION: a UNION is a separate group that
            # engines evaluate on its own, which makes the join with the other atoms a full scan.
            if len(graphs) == 1:
                parts.append(f"GRAPH <{graphs[0]}> {{ {self.body[atom]} }}")
            else:
                parts.append(f"GRAPH ?__delta {{ {self.body[atom]} }} VALUES ?__delta {{ "
                             + " ".join(f"<{g}>" for g in graphs) + " }")
        parts += [pattern + " ." for i, pattern in enumerate(self.body) if not (i == atom and graphs)]
        if self.values:
            # With a delta, the VALUES table joins after it. Otherwise (all facts, or the head
            # bound by an overdeleted triple) it comes first: it names the predicates, and with
            # the head bound it narrows them to the few that can give that head.
            if atom is not None and graphs:
                parts.append(self.values)
            else:
                parts.insert(0, self.values)
        if self.extra:
            parts.append(self.extra)
        return "\n  ".join(parts)

    def variants(self, delta: str | tuple[str, ...] | None) -> list[str]:
        """The WHERE bodies of the semi-naive variants (one with no delta: all the facts)."""
        if delta is None:
            return [self.where(None, None)]
        return [self.where(delta, i) for i in range(1 if self.symmetric else len(self.body))]

    def distinct(self, where: str) -> str:
        """``where`` projected on the head's variables, duplicates removed before any test."""
        head_vars = sorted(set(re.findall(r"\?\w+", self.head)))
        return f"{{ SELECT DISTINCT {' '.join(head_vars)} WHERE {{\n  {where}\n  }} }}"


# --- compilation ---------------------------------------------------------------------------------


@dataclass
class Schema:
    """The ontology's axioms, closed: what each class and property entails."""

    superclasses: dict[str, set[str]]          # class -> every strict superclass (named only)
    property_closure: dict[str, set[tuple[str, bool]]]  # p -> {(q, inverted)}; never (p, False)
    domains: dict[str, set[str]]
    ranges: dict[str, set[str]]
    transitive: set[str]
    functional: set[str]
    inverse_functional: set[str]
    has_value: list[tuple[str, str, object]]   # (restriction id, property, value term)
    chains: list[tuple[str, list[str]]]
    disjoint: set[tuple[str, str]]
    subproperty_supers: dict[str, set[str]]  # rdfs:subPropertyOf only (the rules' RDFS step)


def _term_text(node) -> str:
    if isinstance(node, URIRef):
        return f"<{node}>"
    if isinstance(node, Literal):
        return node.n3()
    raise UnsupportedAxiom(f"a blank node {node} where the compiler needs an IRI or a literal")


def _list_items(graph: Graph, head) -> list:
    return list(graph.items(head))


def _read_schema(ontology: Graph) -> Schema:
    """Close the hierarchies and collect the characteristics; refuse what has no rule here."""
    for construct in (OWL.someValuesFrom, OWL.allValuesFrom, OWL.intersectionOf, OWL.unionOf,
                      OWL.complementOf, OWL.oneOf, OWL.hasKey, OWL.maxCardinality, OWL.maxQualifiedCardinality,
                      OWL.cardinality, OWL.minCardinality, OWL.propertyDisjointWith, OWL.disjointUnionOf,
                      OWL.sameAs):
        for s, _ in ontology.subject_objects(construct):
            raise UnsupportedAxiom(
                f"the ontology uses {construct.n3()} (on {s.n3()}), which the compiled reasoner has no rule "
                "for; use the reference engine (owlrl), or add the rule to yokuryu/graph/owlrl_sparql.py")
    for kind in (OWL.AsymmetricProperty, OWL.IrreflexiveProperty, OWL.ReflexiveProperty, OWL.AllDifferent,
                 OWL.AllDisjointProperties):
        for s in ontology.subjects(RDF.type, kind):
            raise UnsupportedAxiom(
                f"{s.n3()} is a {kind.n3()}, which the compiled reasoner has no rule for; "
                "use the reference engine (owlrl)")

    # Restrictions: only owl:hasValue, folded into the rules (their members are never stored,
    # as the noise filter would drop them anyway).
    restriction_ids: dict = {}
    has_value = []
    for restriction in set(ontology.subjects(OWL.hasValue, None)):
        prop = ontology.value(restriction, OWL.onProperty)
        value = ontology.value(restriction, OWL.hasValue)
        if prop is None or isinstance(prop, BNode) or isinstance(value, BNode):
            raise UnsupportedAxiom(f"an owl:hasValue restriction needs a named property and a named value ({restriction})")
        rid = f"_:restriction{len(restriction_ids)}"
        restriction_ids[restriction] = rid
        has_value.append((rid, str(prop), value))

    def class_id(node) -> str | None:
        if isinstance(node, BNode):
            if node in restriction_ids:
                return restriction_ids[node]
            raise UnsupportedAxiom(f"an anonymous class expression that is not an owl:hasValue restriction ({node})")
        return str(node)

    edges: dict[str, set[str]] = {}
    for c, d in ontology.subject_objects(RDFS.subClassOf):
        a, b = class_id(c), class_id(d)
        edges.setdefault(a, set()).add(b)
    for c, d in ontology.subject_objects(OWL.equivalentClass):
        a, b = class_id(c), class_id(d)
        edges.setdefault(a, set()).add(b)
        edges.setdefault(b, set()).add(a)
    superclasses = {c: _reach(edges, c) - {c} for c in edges}

    # Properties: (q, inverted) pairs reachable through sub-property, equivalence, inverse, symmetry.
    steps: dict[str, set[tuple[str, bool]]] = {}

    def step(p, q, inverted):
        steps.setdefault(str(p), set()).add((str(q), inverted))

    sub_edges: dict[str, set[str]] = {}
    for p, q in ontology.subject_objects(RDFS.subPropertyOf):
        if isinstance(p, BNode) or isinstance(q, BNode):
            raise UnsupportedAxiom(f"rdfs:subPropertyOf between anonymous properties ({p}, {q})")
        step(p, q, False)
        sub_edges.setdefault(str(p), set()).add(str(q))
    for p, q in ontology.subject_objects(OWL.equivalentProperty):
        step(p, q, False)
        step(q, p, False)
    for p, q in ontology.subject_objects(OWL.inverseOf):
        if isinstance(p, BNode) or isinstance(q, BNode):
            raise UnsupportedAxiom(f"owl:inverseOf with an anonymous property ({p}, {q})")
        step(p, q, True)
        step(q, p, True)
    for p in ontology.subjects(RDF.type, OWL.SymmetricProperty):
        step(p, p, True)
    property_closure = {}
    for p in steps:
        seen: set[tuple[str, bool]] = set()
        todo = [(p, False)]
        while todo:
            current, flipped = todo.pop()
            for q, inverted in steps.get(current, ()):
                pair = (q, flipped != inverted)
                if pair not in seen:
                    seen.add(pair)
                    todo.append(pair)
        seen.discard((p, False))
        property_closure[p] = seen

    domains: dict[str, set[str]] = {}
    ranges: dict[str, set[str]] = {}
    for p, c in ontology.subject_objects(RDFS.domain):
        domains.setdefault(str(p), set()).add(class_id(c))
    for p, c in ontology.subject_objects(RDFS.range):
        ranges.setdefault(str(p), set()).add(class_id(c))

    chains = []
    for p, head in ontology.subject_objects(OWL.propertyChainAxiom):
        items = _list_items(ontology, head)
        if not items or any(isinstance(i, BNode) for i in items):
            raise UnsupportedAxiom(f"owl:propertyChainAxiom of {p.n3()} needs a list of named properties")
        chains.append((str(p), [str(i) for i in items]))

    disjoint = set()
    for c, d in ontology.subject_objects(OWL.disjointWith):
        disjoint.add((class_id(c), class_id(d)))
    for node in ontology.subjects(RDF.type, OWL.AllDisjointClasses):
        members = [class_id(m) for head in ontology.objects(node, OWL.members) for m in _list_items(ontology, head)]
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                disjoint.add((a, b))

    return Schema(
        superclasses=superclasses, property_closure=property_closure, domains=domains, ranges=ranges,
        transitive={str(p) for p in ontology.subjects(RDF.type, OWL.TransitiveProperty)},
        functional={str(p) for p in ontology.subjects(RDF.type, OWL.FunctionalProperty)},
        inverse_functional={str(p) for p in ontology.subjects(RDF.type, OWL.InverseFunctionalProperty)},
        has_value=has_value, chains=chains, disjoint=disjoint,
        subproperty_supers={p: _reach(sub_edges, p) - {p} for p in sub_edges})


def _reach(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


_TRIVIAL = {str(t) for t in TRIVIAL_TYPES}

# The vocabulary namespaces as one anchored regular expression (XPath syntax, as a SPARQL string):
# only the metacharacters are escaped, since XPath regexes refuse escapes such as "\#".
_VOCABULARY_REGEX = "^(" + "|".join(re.sub(r"([.\\?*+{}()\[\]|^$])", r"\\\\\1", ns)
                                     for ns in VOCABULARY_NAMESPACES) + ")"


def _stored(classes: Iterable[str]) -> set[str]:
    """The classes whose membership is stored: named, and not a trivial type (owl:Thing…)."""
    return {c for c in classes if not c.startswith("_:") and c not in _TRIVIAL}


def _values(variables: str, rows: Iterable[tuple[str, ...]]) -> str:
    body = " ".join("(" + " ".join(row) + ")" for row in sorted(set(rows)))
    return f"VALUES ({variables}) {{ {body} }}"


def _compile_rules(schema: Schema) -> tuple[list[Rule], list[Rule]]:
    """The derivation rules and the consistency checks the schema triggers."""
    rules: list[Rule] = []
    checks: list[Rule] = []

    def up(classes: Iterable[str]) -> set[str]:
        """Classes with all their superclasses."""
        found = set()
        for c in classes:
            found.add(c)
            found |= schema.superclasses.get(c, set())
        return found

    # Which hasValue restrictions (and so which (p, v) facts) each class entails, and which
    # classes a (p, v) fact entails (the restriction's superclasses).
    restriction_of = {rid: (p, v) for rid, p, v in schema.has_value}

    # 1. property expansion: sub-properties, equivalents, inverses, symmetry (prp-spo1, prp-eqp*,
    #    prp-inv*, prp-symp) — the closure is precomputed, so one round covers a whole hierarchy.
    same = [(f"<{p}>", f"<{q}>") for p, pairs in schema.property_closure.items() for q, inv in pairs if not inv]
    flipped = [(f"<{p}>", f"<{q}>") for p, pairs in schema.property_closure.items() for q, inv in pairs if inv]
    if same:
        rules.append(Rule("prp-spo1/eqp", ("?s ?p ?o",), "?s ?q ?o", _values("?p ?q", same), closed=True))
    if flipped:
        # An inverse with a literal object would have a literal subject: not RDF, dropped as noise.
        rules.append(Rule("prp-inv/symp", ("?s ?p ?o",), "?o ?q ?s", _values("?p ?q", flipped),
                          "FILTER (!isLiteral(?o))", closed=True))

    # 2. types from domains and ranges of the property and of everything it entails (prp-dom,
    #    prp-rng, then cax-sco folded in). Computed on the original triple so that a range met
    #    through an inverse of a literal-valued property still types the subject, as owlrl does.
    subject_types: set[tuple[str, str]] = set()
    object_types: set[tuple[str, str]] = set()
    properties = set(schema.domains) | set(schema.ranges) | set(schema.property_closure)
    for p in properties:
        for q, inverted in {(p, False)} | schema.property_closure.get(p, set()):
            on_subject = schema.ranges.get(q, set()) if inverted else schema.domains.get(q, set())
            on_object = schema.domains.get(q, set()) if inverted else schema.ranges.get(q, set())
            subject_types |= {(p, c) for c in up(on_subject)}
            object_types |= {(p, c) for c in up(on_object)}
    # hasValue restrictions reached through a domain or range give (p, v) facts, not stored types.
    hv_subject = {(p, r) for p, r in subject_types if r in restriction_of}
    hv_object = {(p, r) for p, r in object_types if r in restriction_of}
    subject_rows = [(f"<{p}>", f"<{c}>") for p, c in subject_types if c in _stored([c])]
    object_rows = [(f"<{p}>", f"<{c}>") for p, c in object_types if c in _stored([c])]
    if subject_rows:
        rules.append(Rule("prp-dom", ("?s ?p ?o",), f"?s <{_RDF_TYPE}> ?c", _values("?p ?c", subject_rows),
                          closed=True))
    if object_rows:
        rules.append(Rule("prp-rng", ("?s ?p ?o",), f"?o <{_RDF_TYPE}> ?c", _values("?p ?c", object_rows),
                          "FILTER (!isLiteral(?o))", closed=True))

    # 3. superclasses (cax-sco, cax-eqc*).
    class_rows = [(f"<{c}>", f"<{d}>") for c, supers in schema.superclasses.items()
                  if not c.startswith("_:") for d in _stored(supers)]
    if class_rows:
        rules.append(Rule("cax-sco", (f"?x <{_RDF_TYPE}> ?c",), f"?x <{_RDF_TYPE}> ?d", _values("?c ?d", class_rows),
                          closed=True))

    # 4. hasValue (cls-hv1, cls-hv2) with the restriction's class membership folded away.
    hv1_rows = []
    for c, supers in schema.superclasses.items():
        if c.startswith("_:"):
            continue
        for r in supers:
            if r in restriction_of:
                p, v = restriction_of[r]
                hv1_rows.append((f"<{c}>", f"<{p}>", _term_text(v)))
    if hv1_rows:
        rules.append(Rule("cls-hv1", (f"?x <{_RDF_TYPE}> ?c",), "?x ?p ?v", _values("?c ?p ?v", hv1_rows)))
    for via, rows_of in (("prp-dom", hv_subject), ("prp-rng", hv_object)):
        rows = [(f"<{p}>", f"<{restriction_of[r][0]}>", _term_text(restriction_of[r][1])) for p, r in rows_of]
        if rows:
            node = "?s" if via == "prp-dom" else "?o"
            rules.append(Rule(f"cls-hv1/{via}", ("?s ?p ?o",), f"{node} ?q ?v", _values("?p ?q ?v", rows),
                              "FILTER (!isLiteral(?o))" if node == "?o" else ""))
    hv2_rows = [(f"<{p}>", _term_text(v), f"<{d}>") for r, p, v in schema.has_value
                for d in _stored(schema.superclasses.get(r, set()))]
    if hv2_rows:
        rules.append(Rule("cls-hv2", ("?x ?p ?v",), f"?x <{_RDF_TYPE}> ?d", _values("?p ?v ?d", hv2_rows)))

    # 5. transitivity (prp-trp) and property chains (prp-spo2): joins, evaluated semi-naively.
    if schema.transitive:
        rules.append(Rule("prp-trp", ("?x ?p ?y", "?y ?p ?z"), "?x ?p ?z",
                          _values("?p", [(f"<{p}>",) for p in schema.transitive])))
    for p, chain in schema.chains:
        atoms = tuple(f"?u{i} <{q}> ?u{i + 1}" for i, q in enumerate(chain))
        rules.append(Rule(f"prp-spo2 {p}", atoms, f"?u0 <{p}> ?u{len(chain)}"))

    # Consistency checks, one query per kind (the two atoms are interchangeable, so one
    # semi-naive variant suffices).
    if schema.functional:
        checks.append(Rule("prp-fp", ("?x ?p ?y1", "?x ?p ?y2"), values=_values("?p", [(f"<{p}>",) for p in schema.functional]),
                           extra="FILTER (!sameTerm(?y1, ?y2))", symmetric=True,
                           check="?p is functional (owl:FunctionalProperty) but a resource has two values"))
    if schema.inverse_functional:
        checks.append(Rule("prp-ifp", ("?x1 ?p ?y", "?x2 ?p ?y"),
                           values=_values("?p", [(f"<{p}>",) for p in schema.inverse_functional]),
                           extra="FILTER (!sameTerm(?x1, ?x2))", symmetric=True,
                           check="?p is inverse-functional (owl:InverseFunctionalProperty) but two resources share a value"))
    if schema.disjoint:
        if any(c.startswith("_:") for pair in schema.disjoint for c in pair):
            raise UnsupportedAxiom("disjointness with an anonymous class expression")
        pairs = {(f"<{a}>", f"<{b}>") for a, b in schema.disjoint} | {(f"<{b}>", f"<{a}>") for a, b in schema.disjoint}
        checks.append(Rule("cax-dw", (f"?x <{_RDF_TYPE}> ?a", f"?x <{_RDF_TYPE}> ?b"), values=_values("?a ?b", pairs),
                           symmetric=True, check="?a and ?b are disjoint classes but a resource is a member of both"))
    nothing = [str(OWL.Nothing)] + [c for c, supers in schema.superclasses.items() if str(OWL.Nothing) in supers]
    checks.append(Rule("cls-nothing2", (f"?x <{_RDF_TYPE}> ?c",), values=_values("?c", [(f"<{c}>",) for c in nothing]),
                       check="a resource would be a member of owl:Nothing (contradictory types)"))
    if _RDF_TYPE in properties:
        # rdf:type with a super-property, domain or range: types feed the property rules, so
        # no rule's output is closed under the others.
        rules = [Rule(r.name, r.body, r.head, r.values, r.extra, r.check, closed=False, symmetric=r.symmetric)
                 for r in rules]
    return rules, checks


# --- SHACL-AF rules, made set-at-a-time --------------------------------------------------------


@dataclass(frozen=True)
class CompiledShapeRule:
    """A ``sh:SPARQLRule`` rewritten as one INSERT over all (or some) focus nodes at once.

    SHACL-AF runs the CONSTRUCT once per focus node with ``$this`` pre-bound; here ``$this``
    is joined with the shape's targets instead (a ``VALUES`` list of focus nodes after a
    change), and each focus node's output lands in its own graph so that it can be retracted.
    """

    iri: str
    prologue: str
    template: str
    where: str
    targets: str                        # a group pattern binding ?this to the focus nodes
    edges: tuple[Edge, ...]             # the body's triple patterns, for finding reachable focus nodes
    target_classes: frozenset[str]
    target_properties: frozenset[str]   # sh:targetSubjectsOf / sh:targetObjectsOf

    def insert(self, focus: list | None) -> str:
        limit = ("VALUES ?this { " + " ".join(sparql_term(f) for f in focus) + " }") if focus is not None \
            else self.targets
        return (f"{self.prologue}\nINSERT {{ GRAPH ?__output {{ {self.template} }} }}\nWHERE {{\n"
                f"  {limit}\n  {self.where}\n"
                f"  BIND (IRI(CONCAT(\"{RULE_OUTPUT_PREFIX}\", MD5(STR(?this)))) AS ?__output)\n}}")


def _compile_shape_rules(shapes: Graph) -> list[CompiledShapeRule]:
    compiled = []
    for rule in sparql_rules(shapes):
        toks = tokens(rule.construct)
        top = [t for t in toks if t.depth == 0]
        words = [t.keyword for t in top]
        if "CONSTRUCT" not in words or "WHERE" not in words:
            raise RuleError(f"{rule.iri.n3()}: the sh:construct query needs CONSTRUCT {{ … }} WHERE {{ … }}")
        template = _braced(rule.construct, toks, top[words.index("CONSTRUCT") + 1])
        where = _braced(rule.construct, toks, top[words.index("WHERE") + 1])
        after = top[words.index("WHERE") + 1:]
        closes = [t for t in after if t.kind == "close"]
        if closes and any(t.kind != "close" and t.start > closes[0].start for t in after):
            raise RuleError(f"{rule.iri.n3()}: solution modifiers after WHERE are not supported in a rule")
        prologue = "\n".join(f"PREFIX {p}: <{ns}>" for p, ns in sorted(rule.prefixes.items()))
        prologue_in_text = rule.construct[:top[words.index("CONSTRUCT")].start]
        prologue = prologue + "\n" + prologue_in_text
        target_classes, groups = set(), []
        shape = rule.shape
        classes = list(shapes.objects(shape, SH.targetClass))
        if (shape, RDF.type, RDFS.Class) in shapes or (shape, RDF.type, OWL.Class) in shapes:
            classes.append(shape)
        for cls in classes:
            target_classes.add(str(cls))
            groups.append(f"{{ ?this <{_RDF_TYPE}> <{cls}> }}")
        for node in shapes.objects(shape, SH.targetNode):
            groups.append(f"{{ VALUES ?this {{ {_term_text(node)} }} }}")
        for prop in shapes.objects(shape, SH.targetSubjectsOf):
            groups.append(f"{{ ?this <{prop}> ?__any }}")
        for prop in shapes.objects(shape, SH.targetObjectsOf):
            groups.append(f"{{ ?__any <{prop}> ?this }}")
        if not groups:
            continue
        targets = "{ SELECT DISTINCT ?this WHERE { " + " UNION ".join(groups) + " } }"
        compiled.append(CompiledShapeRule(
            iri=str(rule.iri), prologue=prologue, template=template[1:-1], where=where[1:-1],
            targets=targets, edges=tuple(_edges_of(rule.construct, rule.prefixes)),
            target_classes=frozenset(target_classes),
            target_properties=frozenset(str(p) for p in (*shapes.objects(shape, SH.targetSubjectsOf),
                                                          *shapes.objects(shape, SH.targetObjectsOf)))))
    return compiled


def _braced(text: str, toks, opening) -> str:
    index = toks.index(opening)
    if opening.kind != "open":
        raise RuleError("expected '{' in a rule's query")
    for token in toks[index + 1:]:
        if token.kind == "close" and token.depth == opening.depth:
            return text[opening.start:token.start + 1]
    raise RuleError("unbalanced braces in a rule's query")


@dataclass(frozen=True)
class Edge:
    """One triple pattern of a rule body, as an edge between its subject and object.

    ``scope`` says where it sits: a pattern is certain to hold for a solution only if its scope
    is a prefix of the scope of the pattern being looked at (OPTIONAL, UNION branches and
    EXISTS open nested scopes). ``closure`` marks ``p*``/``p+``; ``opaque`` a path the analysis
    does not follow (a change to one of its predicates re-runs the rule for every focus node).
    """

    subject: object
    predicates: frozenset[str]
    obj: object
    text: str
    scope: tuple[int, ...]
    closure: bool = False
    opaque: bool = False


def _edges_of(query: str, prefixes: dict[str, str]) -> list[Edge]:
    """The triple patterns of a rule's query, with their scopes, paths split into single steps."""
    from rdflib.plugins.sparql import prepareQuery
    from rdflib.plugins.sparql.parserutils import CompValue

    parsed = prepareQuery(_patterns_only(query), initNs=prefixes)
    counter = [0]
    edges: list[Edge] = []

    def child(scope):
        counter[0] += 1
        return scope + (counter[0],)

    def visit(node, scope):
        if isinstance(node, CompValue):
            name = node.name
            if name in ("BGP", "TriplesBlock"):
                for triple in node.triples:
                    items = list(triple)
                    for i in range(0, len(items) - 2, 3):
                        edges.extend(_path_edges(items[i], items[i + 1], items[i + 2], scope, counter))
                return
            if name == "LeftJoin":
                visit(node.p1, scope)
                inner = child(scope)
                visit(node.p2, inner)
                visit(node.get("expr"), inner)
                return
            if name == "Union":
                visit(node.p1, child(scope))
                visit(node.p2, child(scope))
                return
            if name in ("Builtin_EXISTS", "Builtin_NOTEXISTS", "OptionalGraphPattern", "MinusGraphPattern", "Minus"):
                for value in node.values():
                    visit(value, child(scope))
                return
            if name == "GroupOrUnionGraphPattern" and len(node.graph) > 1:
                for branch in node.graph:
                    visit(branch, child(scope))
                return
            for key in list(node.keys()):
                visit(dict.__getitem__(node, key), scope)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value, scope)

    visit(parsed.algebra, ())
    return edges


def _patterns_only(query: str) -> str:
    """``query`` without its BIND clauses and the FILTERs that hold no EXISTS: they contain no
    triple pattern, and rdflib's parser needs seconds for long expressions."""
    toks = tokens(query)
    cut: list[tuple[int, int]] = []
    i = 0
    while i < len(toks):
        token = toks[i]
        if token.keyword in ("BIND", "FILTER") and i + 1 < len(toks) and toks[i + 1].text == "(":
            level, j = 0, i + 1
            while j < len(toks):
                if toks[j].text == "(":
                    level += 1
                elif toks[j].text == ")":
                    level -= 1
                    if level == 0:
                        break
                j += 1
            if j < len(toks) and not any(t.keyword == "EXISTS" for t in toks[i:j]):
                cut.append((token.start, toks[j].start + 1))
            i = j + 1
            continue
        i += 1
    for start, end in reversed(cut):
        query = query[:start] + query[end:]
    return query


def _path_edges(subject, path, obj, scope, counter) -> list[Edge]:
    from rdflib.paths import AlternativePath, InvPath, MulPath, SequencePath

    def single(p):
        """Predicates and text of a one-step path (an IRI or an alternative of IRIs), else None."""
        if isinstance(p, URIRef):
            return frozenset({str(p)}), f"<{p}>"
        if isinstance(p, AlternativePath) and all(isinstance(a, URIRef) for a in p.args):
            return frozenset(str(a) for a in p.args), "(" + "|".join(f"<{a}>" for a in p.args) + ")"
        return None

    step = single(path)
    if step is not None:
        return [Edge(subject, step[0], obj, step[1], scope)]
    if isinstance(path, InvPath):
        return _path_edges(obj, path.arg, subject, scope, counter)
    if isinstance(path, SequencePath):
        edges, current = [], subject
        for i, part in enumerate(path.args):
            if i == len(path.args) - 1:
                nxt = obj
            else:
                counter[0] += 1
                nxt = Variable(f"__step{counter[0]}")
            edges.extend(_path_edges(current, part, nxt, scope, counter))
            current = nxt
        return edges
    if isinstance(path, MulPath):
        inner = single(path.path)
        if inner is not None:
            if path.mod == "?":
                return [Edge(subject, inner[0], obj, inner[1] + "?", scope)]
            return [Edge(subject, inner[0], obj, inner[1] + path.mod, scope, closure=True)]
    iris = frozenset(str(t) for t in _iris_in(path))
    return [Edge(subject, iris, obj, "", scope, opaque=True)]


def _iris_in(path) -> list:
    if isinstance(path, URIRef):
        return [path]
    found = []
    for value in vars(path).values():
        if isinstance(value, (list, tuple)):
            for v in value:
                found.extend(_iris_in(v))
        elif isinstance(value, URIRef) or hasattr(value, "__dict__"):
            found.extend(_iris_in(value))
    return found


def _n(term) -> str:
    """A pattern term (rdflib Variable, IRI or literal) as SPARQL text."""
    if isinstance(term, Variable):
        return f"?{term}"
    return _term_text(term)


# --- the reasoner -------------------------------------------------------------------------------


class CompiledReasoner:
    """The OWL 2 RL rules an ontology triggers and the shapes' SHACL-AF rules, as SPARQL."""

    def __init__(self, schema: Schema, rules: list[Rule], checks: list[Rule],
                 shape_rules: list[CompiledShapeRule]):
        self.schema = schema
        self.rules = rules
        self.checks = checks
        self.shape_rules = shape_rules

    @classmethod
    def compile(cls, ontology: Graph, rules_graph: Graph | None = None) -> CompiledReasoner:
        """Compile the ontology's axioms (and the SHACL-AF rules of ``rules_graph``, the shapes)."""
        schema = _read_schema(ontology)
        rules, checks = _compile_rules(schema)
        shape_rules = _compile_shape_rules(rules_graph) if rules_graph is not None else []
        return cls(schema, rules, checks, shape_rules)

    # --- public API -------------------------------------------------------------------------

    def materialize(self, engine: SparqlEngine) -> ReasoningStats:
        """Derive everything from the engine's facts, replacing earlier results of this reasoner."""
        stats = ReasoningStats()
        started = time.monotonic()
        facts = self._fact_graphs(engine, include_derived=False, fresh=True)
        self._refuse_unsupported_data(engine, facts)
        for graph in self._reasoner_graphs(engine) + [INFERRED]:
            engine.update(f"DROP SILENT GRAPH <{graph}>")
        facts = facts + [INFERRED, SUPPORT]
        stats.seconds["prepare"] = time.monotonic() - started
        started = time.monotonic()
        self._forward(engine, facts, None, stats)
        stats.seconds["owl-rl"] = time.monotonic() - started
        started = time.monotonic()
        stats.rule_output = len(self._shape_rules(engine, facts, None)[0])
        stats.seconds["rules"] = time.monotonic() - started
        stats.inferred = self._count(engine, INFERRED)
        stats.support = self._count(engine, SUPPORT)
        return stats

    def add(self, engine: SparqlEngine, quads: Iterable[ox.Quad]) -> Delta:
        """Add asserted quads and extend the closure from them (semi-naive).

        If the new closure is inconsistent (``InconsistentData``) or needs ``owl:sameAs``
        (``UnsupportedData``), the quads are retracted again before the error is raised, so the
        engine holds what it held before (the caller's transaction need not copy the store).
        """
        quads = [q for q in quads]
        self._refuse_schema_change(quads)
        new = self._absent(engine, quads)
        try:
            return self._add(engine, quads)
        except (InconsistentData, UnsupportedData):
            # Undo: everything derived so far follows from the new quads, so retracting them
            # (delete and rederive) restores the closure as it was.
            for graph in (*_DELTA, *_CLOSED_DELTA, *_OPEN_DELTA, _NEXT):
                engine.update(f"DROP SILENT GRAPH <{graph}>")
            self.remove(engine, new)
            raise

    def _add(self, engine: SparqlEngine, quads: list[ox.Quad]) -> Delta:
        # Triples that were inferred and are now asserted leave the inferred graph.
        engine.insert_quads(quads)
        facts = self._fact_graphs(engine, new={q.graph_name.value for q in quads})
        seed = _DELTA[0]
        engine.update(f"DROP SILENT GRAPH <{seed}>")
        engine.insert_quads(ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(seed)) for q in quads)
        moved = self._triples(engine, f"GRAPH <{seed}> {{ ?s ?p ?o }} GRAPH <{INFERRED}> {{ ?s ?p ?o }}")
        engine.update(self._dataset_update(
            f"DELETE {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} GRAPH <{SUPPORT}> {{ ?s ?p ?o }} }}",
            f"GRAPH <{seed}> {{ ?s ?p ?o }}", [], [seed]))
        stats = ReasoningStats()
        for check in self.checks:
            self._run_check(engine, check, facts, seed)
        added = self._forward(engine, facts, seed, stats, collect=True)
        delta = Delta(added=added, removed=moved)
        self._update_shape_rules(engine, facts, quads, delta)
        return delta

    def remove(self, engine: SparqlEngine, quads: Iterable[ox.Quad]) -> Delta:
        """Remove asserted quads and retract what only they supported (delete and rederive)."""
        quads = [q for q in quads]
        self._refuse_schema_change(quads)
        for graph in (_OVERDELETED, _OVERDELETED_NEXT, *_DELTA, _NEXT):
            engine.update(f"DROP SILENT GRAPH <{graph}>")
        # Triples no longer asserted anywhere once the quads are gone.
        engine.insert_quads(ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(_NEXT)) for q in quads)
        removed_text = "DELETE DATA { " + " ".join(
            f"GRAPH <{q.graph_name.value}> {{ {sparql_term(q.subject)} {sparql_term(q.predicate)} {sparql_term(q.object)} }}"
            for q in quads) + " }" if quads else ""
        data_graphs = [g for g in self._fact_graphs(engine, include_derived=False)]
        facts = data_graphs + [INFERRED, SUPPORT]
        # Overdelete (on the old facts): everything derivable from a vanishing triple, that is
        # one no other data graph asserts (one query per thousand quads: a request each on a server).
        asserted_in: dict[ox.Triple, set[str]] = {}
        triples = sorted({ox.Triple(q.subject, q.predicate, q.object) for q in quads}, key=str)
        blank = {t for t in triples if isinstance(t.subject, ox.BlankNode) or isinstance(t.object, ox.BlankNode)}
        named = [t for t in triples if t not in blank]  # VALUES cannot hold a blank node
        for start in range(0, len(named), 1000):
            rows = engine.select(
                "SELECT ?s ?p ?o ?g WHERE { VALUES (?s ?p ?o) { " + _rows(named[start:start + 1000]) + " } "
                # FILTER, not a VALUES ?g: oxigraph joins the two VALUES tables badly (200× the time).
                "GRAPH ?g { ?s ?p ?o } FILTER (?g IN (" + ", ".join(f"<{g}>" for g in data_graphs) + ")) }")
            for r in rows:
                asserted_in.setdefault(ox.Triple(r["s"], r["p"], r["o"]), set()).add(r["g"].value)
        for t in blank:
            pattern = f"{sparql_term(t.subject)} {sparql_term(t.predicate)} {sparql_term(t.object)}"
            asserted_in[t] = {g for g in data_graphs if engine.ask(f"ASK {{ GRAPH <{g}> {{ {pattern} }} }}")}
        lost = {ox.Triple(q.subject, q.predicate, q.object) for q in quads
                if not asserted_in.get(ox.Triple(q.subject, q.predicate, q.object), set()) - {q.graph_name.value}}
        engine.update(f"DROP SILENT GRAPH <{_NEXT}>")
        engine.insert_quads(ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(_OVERDELETED)) for t in lost)
        engine.insert_quads(ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(_DELTA[0])) for t in lost)
        current = _DELTA[0]
        for _ in range(ROUND_LIMIT):
            for rule in self.rules:
                for where in rule.variants(current):
                    engine.update(self._dataset_update(
                        f"INSERT {{ GRAPH <{_OVERDELETED}> {{ {rule.head} }} GRAPH <{_NEXT}> {{ {rule.head} }} }}",
                        f"{where}\n  FILTER EXISTS {{ {{ GRAPH <{INFERRED}> {{ {rule.head} }} }} UNION "
                        f"{{ GRAPH <{SUPPORT}> {{ {rule.head} }} }} }}\n"
                        f"  FILTER NOT EXISTS {{ GRAPH <{_OVERDELETED}> {{ {rule.head} }} }}",
                        facts, [current, _OVERDELETED, INFERRED, SUPPORT]))
            engine.update(f"DROP SILENT GRAPH <{current}>")
            if not self._any(engine, _NEXT):
                break
            current = _DELTA[1] if current == _DELTA[0] else _DELTA[0]
            engine.update(f"MOVE SILENT <{_NEXT}> TO <{current}>")
        # Delete: the asserted quads, and the overdeleted triples from the derived graphs.
        if removed_text:
            engine.update(removed_text)
        overdeleted = self._triples(engine, f"GRAPH <{_OVERDELETED}> {{ ?s ?p ?o }} GRAPH <{INFERRED}> {{ ?s ?p ?o }}")
        for graph in (INFERRED, SUPPORT):
            engine.update(self._dataset_update(
                f"DELETE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}", f"GRAPH <{_OVERDELETED}> {{ ?s ?p ?o }}",
                [], [_OVERDELETED]))
        # Rederive: each overdeleted triple that still has a one-step derivation, then forward.
        data_graphs = self._fact_graphs(engine, include_derived=False)
        facts = data_graphs + [INFERRED, SUPPORT]
        for graph in (*_DELTA, _NEXT):
            engine.update(f"DROP SILENT GRAPH <{graph}>")
        for rule in self.rules:
            engine.update(self._dataset_update(
                self._insert_head(rule.head, _NEXT),
                f"GRAPH <{_OVERDELETED}> {{ {rule.head} }}\n  FILTER EXISTS {{ {rule.where(None, None, bound=True)} }}\n"
                f"  FILTER NOT EXISTS {{ {rule.head} }}\n  {self._destination(rule.head)}",
                facts, [_OVERDELETED]))
        rederived_seed = _DELTA[0]
        engine.update(f"MOVE SILENT <{_NEXT}> TO <{rederived_seed}>")
        stats = ReasoningStats()
        rederived = self._forward(engine, facts, rederived_seed, stats, collect=True, seed_counts=True)
        gone = overdeleted - rederived
        delta = Delta(added=rederived - overdeleted, removed=gone, rederived=overdeleted & rederived)
        engine.update(f"DROP SILENT GRAPH <{_OVERDELETED}>")
        self._update_shape_rules(engine, facts, quads, delta)
        return delta

    # --- stages ------------------------------------------------------------------------------

    def _forward(self, engine: SparqlEngine, facts: list[str], seed: str | None, stats: ReasoningStats,
                 collect: bool = False, seed_counts: bool = False) -> set[ox.Triple]:
        """Run the rules to a fixpoint from ``seed`` (a delta graph; None: all facts).

        Each round's new triples go to the derived graphs and, for the next round, to one of two
        delta graphs: what closed rules derived (read only by the open rules: transitivity,
        chains, hasValue) and what open rules derived (read by all). A full run's first round
        writes no delta at all for the closed rules: everything derived so far is their delta.
        """
        collected: set[ox.Triple] = set()
        asserted = [g for g in facts if g not in (INFERRED, SUPPORT)]
        if seed_counts and seed is not None and collect:
            collected |= self._triples(engine, f"GRAPH <{seed}> {{ ?s ?p ?o }} FILTER EXISTS {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} }}")
        closed_in: tuple[str, ...] | None = (seed,) if seed else None
        open_in: tuple[str, ...] | None = (seed,) if seed else None
        parity = 0
        for round_number in range(1, ROUND_LIMIT + 1):
            stats.rounds += 1
            parity = 1 - parity
            closed_out, open_out = _CLOSED_DELTA[parity], _OPEN_DELTA[parity]
            for graph in (closed_out, open_out):
                engine.update(f"DROP SILENT GRAPH <{graph}>")
            first_full = seed is None and round_number == 1
            # In a full first round the closed rules go first and read the asserted facts only
            # (what closed rules derive adds nothing to them); the open rules then read all of it.
            for rule in (sorted(self.rules, key=lambda r: not r.closed) if first_full else self.rules):
                if first_full:
                    reads = None
                elif rule.closed:
                    reads = open_in
                else:
                    reads = tuple(dict.fromkeys((*(closed_in or ()), *(open_in or ()))))
                if reads is not None and not reads:
                    continue
                if first_full and rule.closed and PLAIN_FIRST_ROUND:
                    # No delta to write, so no need to know what is new: insert everything and
                    # drop what is asserted afterwards (twice as fast as testing each triple).
                    engine.update(self._dataset_update(
                        f"INSERT {{ GRAPH <{INFERRED}> {{ {rule.head} }} }}", rule.distinct(rule.where(None, None)),
                        asserted, []))
                    continue
                also = [closed_out if rule.closed else open_out]
                for where in rule.variants(reads):
                    engine.update(self._dataset_update(
                        self._insert_head(rule.head, also),
                        f"{rule.distinct(where)}\n  FILTER NOT EXISTS {{ {rule.head} }}\n  {self._destination(rule.head)}",
                        facts, list(reads or ())))
            for graph in (*(closed_in or ()), *(open_in or ())):
                if graph in _CLOSED_DELTA or graph in _OPEN_DELTA or graph == seed:
                    engine.update(f"DROP SILENT GRAPH <{graph}>")
            if first_full and PLAIN_FIRST_ROUND:
                self._settle_first_round(engine, facts)
                # Every open rule has read all of the closed rules' output in this round: the next
                # round only needs what the open rules derived.
                closed_in, produced = (), 0
                for check in self.checks:
                    self._run_check(engine, check, facts, None)
            else:
                closed_in = (closed_out,)
                produced = self._any(engine, closed_out)
                for check in self.checks:
                    self._run_check(engine, check, facts, closed_out)
            open_in = (open_out,)
            open_count = self._any(engine, open_out)
            if open_count:
                for check in self.checks:
                    self._run_check(engine, check, facts, open_out)
            if collect:
                for graph in (*closed_in, *open_in):
                    if graph not in (INFERRED, SUPPORT):
                        collected |= self._triples(
                            engine, f"GRAPH <{graph}> {{ ?s ?p ?o }} FILTER EXISTS {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} }}")
            if not produced and not open_count:
                for graph in (closed_out, open_out):
                    engine.update(f"DROP SILENT GRAPH <{graph}>")
                return collected
            if not produced:
                closed_in = ()
        raise RuleError(f"the OWL-RL rules did not reach a fixpoint in {ROUND_LIMIT} rounds")

    def _settle_first_round(self, engine: SparqlEngine, facts: list[str]) -> None:
        """After a full first round: what is asserted leaves the inferred graph, and statements
        about vocabulary terms move to the support graph."""
        data = [g for g in facts if g not in (INFERRED, SUPPORT)]
        engine.update(f"DELETE {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} }} USING NAMED <{INFERRED}>"
                      + "".join(f" USING NAMED <{g}>" for g in data)
                      + f" WHERE {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} GRAPH ?g {{ ?s ?p ?o }} VALUES ?g {{ "
                      + " ".join(f"<{g}>" for g in data) + " } }")
        # One anchored REGEX, not a STRSTARTS per namespace: a third of the time over a million triples.
        engine.update(f"DELETE {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} }} INSERT {{ GRAPH <{SUPPORT}> {{ ?s ?p ?o }} }} "
                      f"USING NAMED <{INFERRED}> WHERE {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} "
                      f"FILTER (isIRI(?s) && REGEX(STR(?s), \"{_VOCABULARY_REGEX}\")) }}")

    def _run_check(self, engine: SparqlEngine, check: Rule, facts: list[str], delta: str | None) -> None:
        for where in check.variants(delta):
            query = self._dataset_query("SELECT * ", where + "\n} LIMIT 1", facts, [delta] if delta else [])
            rows = engine.select(query)
            if rows:
                row = rows[0]
                message = re.sub(r"\?(\w+)", lambda m: sparql_term(row[m.group(1)]) if m.group(1) in row else m.group(0),
                                 check.check)
                shown = ", ".join(f"?{k} = {sparql_term(v)}" for k, v in sorted(row.items()) if f"?{k}" not in check.check)
                literal_clash = any(isinstance(v, ox.Literal) for v in row.values())
                if check.name in ("prp-fp", "prp-ifp") and not literal_clash:
                    raise UnsupportedData(
                        f"{message} ({shown}); OWL 2 RL would make them owl:sameAs, which the compiled "
                        "reasoner does not do: use the reference engine (owlrl)")
                raise InconsistentData(f"the data is inconsistent with the ontology under OWL 2 RL:\n  "
                                       f"{message}: {shown}")

    def _shape_rules(self, engine: SparqlEngine, facts: list[str], focus: list | None
                     ) -> tuple[set[ox.Triple], set[ox.Triple]]:
        """Run the SHACL-AF rules for ``focus`` (None: every focus node), replacing their old output.

        Returns the triples this added to and removed from the inferred graph.
        """
        if not self.shape_rules or (focus is not None and not focus):
            return set(), set()
        if focus is None:
            old_graphs = [g for g in self._all_graphs(engine) if g.startswith(RULE_OUTPUT_PREFIX)]
        else:
            old_graphs = sorted({RULE_OUTPUT_PREFIX + hashlib.md5(_str(f).encode()).hexdigest() for f in focus})
        # Retract the old output of these focus nodes (what no other focus node also derived).
        old = set()
        for g in old_graphs:
            old |= self._triples(engine, f"GRAPH <{g}> {{ ?s ?p ?o }}")
            engine.update(f"DROP SILENT GRAPH <{g}>")
        had = self._present(engine, old, INFERRED)
        retract = old - self._in_rule_output(engine, old)
        if retract:
            engine.update(f"DELETE DATA {{ GRAPH <{INFERRED}> {{ {_triples_text(retract)} }} }}")
        # Derive: one INSERT per rule over all the focus nodes, each node's output in its own graph.
        for rule in self.shape_rules:
            engine.update(self._dataset_update_text(rule.insert(focus), facts, []))
        new_graphs = old_graphs if focus is not None else \
            [g for g in self._all_graphs(engine) if g.startswith(RULE_OUTPUT_PREFIX)]
        # The RDFS consequences of what the rules derived, then keep only what is not otherwise a
        # fact (another focus node's output does not count: each graph keeps all of its own).
        data = [g for g in facts if g != INFERRED]
        kept: set[ox.Triple] = set()
        for g in new_graphs:
            derived = self._triples(engine, f"GRAPH <{g}> {{ ?s ?p ?o }}")
            closed = {t for t in derived | self._rdfs_entailments(derived) if _keep(t)}
            owl_derived = self._present(engine, closed, INFERRED) - self._in_rule_output(engine, closed, besides=g)
            keep = closed - self._existing(engine, closed, data) - owl_derived
            engine.update(f"DROP SILENT GRAPH <{g}>")
            if keep:
                kept |= keep
                engine.update(f"INSERT DATA {{ GRAPH <{g}> {{ {_triples_text(keep)} }} }}")
        fresh = kept - had - self._present(engine, kept - old, INFERRED)
        if kept:
            engine.update(f"INSERT DATA {{ GRAPH <{INFERRED}> {{ {_triples_text(kept)} }} }}")
        return fresh, (had & retract) - kept

    def _absent(self, engine, quads: list[ox.Quad]) -> list[ox.Quad]:
        """The quads the engine does not hold yet."""
        if not quads:
            return []
        rows = engine.select("SELECT ?s ?p ?o ?g WHERE { VALUES (?s ?p ?o ?g) { " + " ".join(
            f"({sparql_term(q.subject)} {sparql_term(q.predicate)} {sparql_term(q.object)} {sparql_term(q.graph_name)})"
            for q in quads) + " } GRAPH ?g { ?s ?p ?o } }")
        present = {ox.Quad(r["s"], r["p"], r["o"], r["g"]) for r in rows}
        return [q for q in quads if q not in present]

    def _present(self, engine, triples: set[ox.Triple], graph: str) -> set[ox.Triple]:
        if not triples:
            return set()
        return self._triples(engine, "VALUES (?s ?p ?o) { " + _rows(triples) + f" }} GRAPH <{graph}> {{ ?s ?p ?o }}")

    def _in_rule_output(self, engine, triples: set[ox.Triple], besides: str | None = None) -> set[ox.Triple]:
        """Which of ``triples`` some focus node's rule output (other than graph ``besides``) holds."""
        if not triples:
            return set()
        return self._triples(
            engine, "VALUES (?s ?p ?o) { " + _rows(triples) + " } GRAPH ?g { ?s ?p ?o } "
            f'FILTER (STRSTARTS(STR(?g), "{RULE_OUTPUT_PREFIX}") && ?g != <{besides or RULE_OUTPUT_PREFIX}>)')

    def _update_shape_rules(self, engine, facts, quads, delta: Delta) -> None:
        """Re-run the SHACL-AF rules for the focus nodes a change can reach (all of them if unsure)."""
        if not self.shape_rules:
            return
        changed = [ox.Triple(q.subject, q.predicate, q.object) for q in quads]
        changed += list(delta.added) + list(delta.removed)
        focus = self._reachable_focus(engine, changed, facts)
        if focus is None:
            added, removed = self._shape_rules(engine, facts, None)
        else:
            added, removed = self._shape_rules(engine, facts, sorted(focus, key=_str))
        # Fold the rules' changes into the OWL-RL ones: the net change of the inferred graph.
        owl_added, owl_removed = delta.added, delta.removed
        delta.added = (owl_added - removed) | (added - owl_removed)
        delta.removed = (owl_removed - added) | (removed - owl_added)

    def _reachable_focus(self, engine, changed: list[ox.Triple], facts) -> set | None:
        """Focus nodes whose rule output a change can alter; None when every one must be re-run.

        For each changed triple and each body pattern it can match, the focus nodes are those
        joined to the pattern's subject and object through patterns that hold whenever it does
        (a shortest chain of them): a superset of the focus nodes the change can reach, found
        by one selective query per pattern instead of re-running the rule everywhere.
        """
        found: set = set()
        for rule in self.shape_rules:
            matches: dict[int, list[ox.Triple]] = {}
            for t in changed:
                p = t.predicate.value
                if p == _RDF_TYPE and isinstance(t.object, ox.NamedNode) and t.object.value in rule.target_classes:
                    found.add(t.subject)
                if p in rule.target_properties:
                    found.add(t.subject)
                    if not isinstance(t.object, ox.Literal):
                        found.add(t.object)
                for i, edge in enumerate(rule.edges):
                    if p not in edge.predicates:
                        continue
                    if edge.opaque:
                        return None
                    if not edge.closure and (not _fits(edge.subject, t.subject) or not _fits(edge.obj, t.object)):
                        continue
                    matches.setdefault(i, []).append(t)
            for i, triples in matches.items():
                if len(triples) > 5000:
                    return None
                query = _reach_query(rule, i, triples)
                if query is None:
                    return None
                rows = engine.select(self._dataset_query("SELECT DISTINCT ?this ", query + "\n}", facts, []))
                found |= {row["this"] for row in rows if "this" in row}
        return found

    # --- helpers ------------------------------------------------------------------------------

    def _rdfs_entailments(self, derived: set[ox.Triple]) -> set[ox.Triple]:
        """RDFS consequences of rule output (super-properties, domains, ranges, superclasses),
        as ``yokuryu.graph.validation.rdfs_entailments`` computes them in the reference path."""
        out = set()
        types = set()
        for t in derived:
            p = t.predicate.value
            for q in {p} | self._subproperty_supers(p):
                out.add(ox.Triple(t.subject, ox.NamedNode(q), t.object))
                for c in self.schema.domains.get(q, ()):
                    types.add((t.subject, c))
                if not isinstance(t.object, ox.Literal):
                    for c in self.schema.ranges.get(q, ()):
                        types.add((t.object, c))
            if p == _RDF_TYPE and isinstance(t.object, ox.NamedNode):
                types.add((t.subject, t.object.value))
        for node, c in types:
            for d in {c} | self.schema.superclasses.get(c, set()):
                if not d.startswith("_:"):
                    out.add(ox.Triple(node, ox.NamedNode(_RDF_TYPE), ox.NamedNode(d)))
        return out

    def _subproperty_supers(self, p: str) -> set[str]:
        return self.schema.subproperty_supers.get(p, set())

    def _existing(self, engine, triples: set[ox.Triple], facts: list[str]) -> set[ox.Triple]:
        if not triples:
            return set()
        return self._triples(engine, "VALUES (?s ?p ?o) { " + _rows(triples) + " } ?s ?p ?o", facts)

    def _fact_graphs(self, engine: SparqlEngine, include_derived: bool = True, *, fresh: bool = False,
                     new: Iterable[str] = ()) -> list[str]:
        """The graphs that hold facts. Listing an engine's graphs can mean a scan of the whole
        store, so the list is kept per engine after a materialisation and extended by additions
        (a graph emptied by removals stays listed, which is harmless)."""
        cache = self.__dict__.setdefault("_graph_cache", weakref.WeakKeyDictionary())
        key = engine
        if fresh or key not in cache:
            cache[key] = {g for g in self._all_graphs(engine)
                          if g not in NOT_FACTS and g != INFERRED and not g.startswith(REASONER_PREFIX)}
        cache[key] |= {g for g in new if g not in NOT_FACTS and g != INFERRED and not g.startswith(REASONER_PREFIX)}
        graphs = sorted(cache[key] | {ONTOLOGY})
        return graphs + ([INFERRED, SUPPORT] if include_derived else [])

    def _all_graphs(self, engine: SparqlEngine) -> list[str]:
        rows = engine.select("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }")
        return sorted(row["g"].value for row in rows if isinstance(row.get("g"), ox.NamedNode))

    def _reasoner_graphs(self, engine) -> list[str]:
        return [g for g in self._all_graphs(engine) if g.startswith(REASONER_PREFIX)]

    def _refuse_unsupported_data(self, engine: SparqlEngine, facts: list[str]) -> None:
        data = [g for g in facts if g != ONTOLOGY]
        if not data:
            return
        schema_predicates = " ".join(f"<{p}>" for p in sorted(SCHEMA_PREDICATES))
        schema_types = " ".join(f"<{c}>" for c in sorted(SCHEMA_TYPES))
        query = self._dataset_query(
            "SELECT ?s ?p ?o ",
            f"{{ VALUES ?p {{ {schema_predicates} }} ?s ?p ?o }} UNION "
            f"{{ VALUES ?o {{ {schema_types} }} ?s <{_RDF_TYPE}> ?o BIND (<{_RDF_TYPE}> AS ?p) }}\n}} LIMIT 1",
            data, [])
        rows = engine.select(query)
        if rows:
            row = rows[0]
            raise UnsupportedData(
                f"the data states schema ({sparql_term(row['s'])} {sparql_term(row['p'])} {sparql_term(row['o'])}); "
                "the compiled reasoner only knows the ontology's axioms: use the reference engine (owlrl), "
                "or move the axiom into the ontology")

    def _refuse_schema_change(self, quads: list[ox.Quad]) -> None:
        for q in quads:
            if q.graph_name.value in (ONTOLOGY, *NOT_FACTS) or q.graph_name.value.startswith(REASONER_PREFIX) \
                    or q.graph_name.value == INFERRED:
                raise NeedsFullRederivation(f"a change to <{q.graph_name.value}> needs a full re-derivation")
            if q.predicate.value in SCHEMA_PREDICATES or (
                    q.predicate.value == _RDF_TYPE and q.object.value in SCHEMA_TYPES):
                raise NeedsFullRederivation(
                    f"{sparql_term(q.subject)} {sparql_term(q.predicate)} {sparql_term(q.object)} changes the "
                    "schema; compile the reasoner again and materialize")

    def _insert_head(self, head: str, also: list[str] | str) -> str:
        also = [also] if isinstance(also, str) else also
        extra = "".join(f" GRAPH <{g}> {{ {head} }}" for g in also)
        return f"INSERT {{ GRAPH ?__destination {{ {head} }}{extra} }}"

    def _destination(self, head: str) -> str:
        subject = head.split()[0]
        # (STR of a blank node is an error, which leaves the destination unbound, as it always did.)
        test = f'REGEX(STR({subject}), "{_VOCABULARY_REGEX}")'
        return f"BIND (IF({test}, <{SUPPORT}>, <{INFERRED}>) AS ?__destination)"

    def _dataset_update(self, template: str, where: str, default: list[str], named: list[str]) -> str:
        using = "".join(f" USING <{g}>" for g in default) + "".join(f" USING NAMED <{g}>" for g in named)
        return f"{template}{using}\nWHERE {{\n  {where}\n}}"

    def _dataset_update_text(self, text: str, default: list[str], named: list[str]) -> str:
        using = "".join(f" USING <{g}>" for g in default) + "".join(f" USING NAMED <{g}>" for g in named)
        index = text.rindex("\nWHERE {")
        return text[:index] + using + text[index:]

    def _dataset_query(self, head: str, where_and_tail: str, default: list[str], named: list[str]) -> str:
        dataset = "".join(f" FROM <{g}>" for g in default) + "".join(f" FROM NAMED <{g}>" for g in named)
        return f"{head}{dataset}\nWHERE {{\n  {where_and_tail}"

    def _triples(self, engine: SparqlEngine, where: str, default: list[str] | None = None) -> set[ox.Triple]:
        dataset = "".join(f" FROM <{g}>" for g in (default or []))
        if default is None:
            rows = engine.select(f"SELECT ?s ?p ?o WHERE {{ {where} }}")
        else:
            rows = engine.select(f"SELECT ?s ?p ?o{dataset} WHERE {{ {where} }}")
        return {ox.Triple(r["s"], r["p"], r["o"]) for r in rows}

    def _any(self, engine: SparqlEngine, graph: str) -> bool:
        return engine.ask(f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")

    def _count(self, engine: SparqlEngine, graph: str) -> int:
        rows = engine.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
        return int(rows[0]["n"].value) if rows else 0


def _str(term) -> str:
    return term.value if hasattr(term, "value") else str(term)


def _fits(pattern_term, term) -> bool:
    """Whether a changed triple's term can match a pattern's term (a variable, or the same constant)."""
    if isinstance(pattern_term, Variable):
        return True
    try:
        return _term_text(pattern_term) == sparql_term(term)
    except UnsupportedAxiom:
        return False


def _reach_query(rule: CompiledShapeRule, index: int, triples: list[ox.Triple]) -> str | None:
    """The WHERE body selecting the focus nodes joined to pattern ``index`` when it matches ``triples``."""
    edge = rule.edges[index]
    this = Variable("this")
    start: list[str] = []
    if edge.closure:
        start.append("VALUES (?__s ?__o) { " + " ".join(f"({sparql_term(t.subject)} {sparql_term(t.object)})"
                                                       for t in triples) + " }")
        start.append(f"{_n(edge.subject)} {edge.text} ?__s . ?__o {edge.text} {_n(edge.obj)} .")
    else:
        names = [(v, attr) for v, attr in ((edge.subject, "subject"), (edge.obj, "object")) if isinstance(v, Variable)]
        if not names:
            return None  # a pattern with no variable: it matters to every focus node
        if len(names) == 2 and names[0][0] == names[1][0]:
            names = names[:1]
        rows = {tuple(sparql_term(getattr(t, attr)) for _, attr in names) for t in triples}
        start.append("VALUES (" + " ".join(f"?{v}" for v, _ in names) + ") { "
                     + " ".join("(" + " ".join(row) + ")" for row in sorted(rows)) + " }")
    # Shortest chain of certain patterns from the pattern's variables to ?this.
    bound = {v for v in (edge.subject, edge.obj) if isinstance(v, Variable)}
    if edge.closure:
        bound = {v for v in (edge.subject, edge.obj) if isinstance(v, Variable)}
    usable = [e for j, e in enumerate(rule.edges) if j != index and not e.opaque
              and e.scope == edge.scope[:len(e.scope)]]
    previous: dict = {v: None for v in bound}
    frontier = list(bound)
    while frontier and this not in previous:
        nxt = []
        for v in frontier:
            for e in usable:
                for a, b in ((e.subject, e.obj), (e.obj, e.subject)):
                    if a == v and isinstance(b, Variable) and b not in previous:
                        previous[b] = (v, e)
                        nxt.append(b)
        frontier = nxt
    if this not in previous:
        return None
    chain, v = [], this
    while previous[v] is not None:
        v, e = previous[v]
        chain.append(f"{_n(e.subject)} {e.text} {_n(e.obj)} .")
    # The target pattern inline (a sub-SELECT would be evaluated on its own: every focus node).
    return "\n  ".join(start + chain + [rule.targets[len("{ SELECT DISTINCT ?this WHERE { "):-len(" } }")]])


def _keep(t: ox.Triple) -> bool:
    """The noise filter, for the few triples the SHACL-AF stage derives."""
    if isinstance(t.subject, ox.Literal):
        return False
    if isinstance(t.subject, ox.NamedNode) and t.subject.value.startswith(VOCABULARY_NAMESPACES):
        return False
    if t.predicate.value == _RDF_TYPE and isinstance(t.object, ox.NamedNode) and t.object.value in _TRIVIAL:
        return False
    return True


def _rows(triples: Iterable[ox.Triple]) -> str:
    return " ".join(f"({sparql_term(t.subject)} {sparql_term(t.predicate)} {sparql_term(t.object)})" for t in triples)


def _triples_text(triples: Iterable[ox.Triple]) -> str:
    return " ".join(f"{sparql_term(t.subject)} {sparql_term(t.predicate)} {sparql_term(t.object)} ." for t in triples)


# --- a drop-in for yokuryu.graph.reasoning.infer ------------------------------------------------


def infer_compiled(ontology: Graph, data: Graph, shapes: Graph | None = None) -> Graph:
    """What ``yokuryu.graph.reasoning.infer`` returns, computed by the compiled rules on pyoxigraph.

    Literals come back as pyoxigraph stores them (``"3"^^xsd:positiveInteger`` reads back as
    ``xsd:integer``), which is what a build stores either way. Falls back to the reference path
    (owlrl) when the ontology or the data needs a rule the compiler does not have.
    """
    from yokuryu.graph.reasoning import infer
    from yokuryu.graph.sparql_engine import LocalEngine
    from yokuryu.graph.terms import rdflib_triples_to_quads, to_rdflib

    try:
        reasoner = CompiledReasoner.compile(ontology, shapes)
        store = ox.Store()
        store.bulk_extend(rdflib_triples_to_quads(ontology, ONTOLOGY_GRAPH))
        store.bulk_extend(q for q in rdflib_triples_to_quads(data, GRAPH["reasoning-input"]))
        reasoner.materialize(LocalEngine(store))
    except (UnsupportedAxiom, UnsupportedData) as error:
        import logging
        logging.getLogger(__name__).warning("compiled reasoning not possible (%s); using owlrl", error)
        return infer(ontology, data, shapes)
    inferred = Graph()
    for quad in store.quads_for_pattern(None, None, None, ox.NamedNode(INFERRED)):
        inferred.add((to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object)))
    return inferred
