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
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
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
_NEXT = REASONER_PREFIX + "next"
_OVERDELETED = REASONER_PREFIX + "overdeleted"
_OVERDELETED_NEXT = REASONER_PREFIX + "overdeleted-next"

# Graphs that are never facts for the reasoner (the schema of validation, the dataset description).
NOT_FACTS = frozenset({str(SHAPES_GRAPH), str(METADATA_GRAPH)})

ROUND_LIMIT = 100

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

    def where(self, delta: str | None, atom: int | None) -> str:
        parts = [self.values] if self.values else []
        for i, pattern in enumerate(self.body):
            parts.append(f"GRAPH <{delta}> {{ {pattern} }}" if i == atom and delta else pattern + " .")
        if self.extra:
            parts.append(self.extra)
        return "\n  ".join(parts)

    def variants(self, delta: str | None) -> list[str]:
        """The WHERE bodies of the semi-naive variants (one with no delta: all the facts)."""
        if delta is None:
            return [self.where(None, None)]
        return [self.where(delta, i) for i in range(len(self.body))]


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


def _iri(node) -> str:
    return str(node)


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
        rules.append(Rule("prp-spo1/eqp", ("?s ?p ?o",), "?s ?q ?o", _values("?p ?q", same)))
    if flipped:
        # An inverse with a literal object would have a literal subject: not RDF, dropped as noise.
        rules.append(Rule("prp-inv/symp", ("?s ?p ?o",), "?o ?q ?s", _values("?p ?q", flipped),
                          "FILTER (!isLiteral(?o))"))

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
        rules.append(Rule("prp-dom", ("?s ?p ?o",), f"?s <{_RDF_TYPE}> ?c", _values("?p ?c", subject_rows)))
    if object_rows:
        rules.append(Rule("prp-rng", ("?s ?p ?o",), f"?o <{_RDF_TYPE}> ?c", _values("?p ?c", object_rows),
                          "FILTER (!isLiteral(?o))"))

    # 3. superclasses (cax-sco, cax-eqc*).
    class_rows = [(f"<{c}>", f"<{d}>") for c, supers in schema.superclasses.items()
                  if not c.startswith("_:") for d in _stored(supers)]
    if class_rows:
        rules.append(Rule("cax-sco", (f"?x <{_RDF_TYPE}> ?c",), f"?x <{_RDF_TYPE}> ?d", _values("?c ?d", class_rows)))

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
    for p in sorted(schema.transitive):
        rules.append(Rule(f"prp-trp {p}", (f"?x <{p}> ?y", f"?y <{p}> ?z"), f"?x <{p}> ?z"))
    for p, chain in schema.chains:
        atoms = tuple(f"?u{i} <{q}> ?u{i + 1}" for i, q in enumerate(chain))
        rules.append(Rule(f"prp-spo2 {p}", atoms, f"?u0 <{p}> ?u{len(chain)}"))

    # Consistency checks.
    for p in sorted(schema.functional):
        checks.append(Rule(f"prp-fp {p}", (f"?x <{p}> ?y1", f"?x <{p}> ?y2"),
                           extra="FILTER (!sameTerm(?y1, ?y2))",
                           check=f"<{p}> is functional (owl:FunctionalProperty) but a resource has two values"))
    for p in sorted(schema.inverse_functional):
        checks.append(Rule(f"prp-ifp {p}", (f"?x1 <{p}> ?y", f"?x2 <{p}> ?y"),
                           extra="FILTER (!sameTerm(?x1, ?x2))",
                           check=f"<{p}> is inverse-functional (owl:InverseFunctionalProperty) but two resources share a value"))
    for a, b in sorted(schema.disjoint):
        if a.startswith("_:") or b.startswith("_:"):
            raise UnsupportedAxiom("disjointness with an anonymous class expression")
        checks.append(Rule(f"cax-dw {a} {b}", (f"?x <{_RDF_TYPE}> <{a}>", f"?x <{_RDF_TYPE}> <{b}>"),
                           check=f"<{a}> and <{b}> are disjoint classes but a resource is a member of both"))
    nothing = [c for c, supers in schema.superclasses.items() if str(OWL.Nothing) in supers]
    checks.append(Rule("cls-nothing2", (f"?x <{_RDF_TYPE}> <{OWL.Nothing}>",),
                       check="a resource would be a member of owl:Nothing (contradictory types)"))
    if nothing:
        checks.append(Rule("cls-nothing2/sub", (f"?x <{_RDF_TYPE}> ?c",), values=_values("?c", [(f"<{c}>",) for c in nothing]),
                           check="a resource is a member of a class equivalent to owl:Nothing"))
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
    reads: frozenset[str]               # predicates (and rdf:type objects) the body mentions
    target_classes: frozenset[str]

    def insert(self, focus: list | None) -> str:
        limit = ("VALUES ?this { " + " ".join(sparql_term(f) for f in focus) + " }") if focus is not None \
            else self.targets
        return (f"{self.prologue}\nINSERT {{ GRAPH ?__output {{ {self.template} }} }}\nWHERE {{\n"
                f"  {limit}\n  {{ {self.where} }}\n"
                f"  BIND (IRI(CONCAT(\"{RULE_OUTPUT_PREFIX}\", MD5(STR(?this)))) AS ?__output)\n}}")


def _compile_shape_rules(shapes: Graph, superclasses: dict[str, set[str]]) -> list[CompiledShapeRule]:
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
            targets=targets, reads=frozenset(_mentioned_iris(where, rule.prefixes, prologue_in_text)),
            target_classes=frozenset(target_classes)))
    return compiled


def _braced(text: str, toks, opening) -> str:
    index = toks.index(opening)
    if opening.kind != "open":
        raise RuleError("expected '{' in a rule's query")
    for token in toks[index + 1:]:
        if token.kind == "close" and token.depth == opening.depth:
            return text[opening.start:token.start + 1]
    raise RuleError("unbalanced braces in a rule's query")


def _mentioned_iris(text: str, prefixes: dict[str, str], prologue: str) -> set[str]:
    """Every IRI the query text names (prefixed names expanded); ``a`` counts as rdf:type."""
    declared = dict(prefixes)
    toks = tokens(prologue)
    for i, token in enumerate(toks):
        if token.keyword == "PREFIX" and i + 2 < len(toks):
            declared[toks[i + 1].text.rstrip(":")] = toks[i + 2].text[1:-1]
    found = set()
    for token in tokens(text):
        if token.kind == "iri":
            found.add(token.text[1:-1])
        elif token.kind == "pname" and not token.text.startswith("_:"):
            prefix, _, local = token.text.partition(":")
            if prefix in declared:
                found.add(declared[prefix] + local)
        elif token.kind == "word" and token.text == "a":
            found.add(_RDF_TYPE)
    return found


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
        shape_rules = _compile_shape_rules(rules_graph, schema.superclasses) if rules_graph is not None else []
        return cls(schema, rules, checks, shape_rules)

    # --- public API -------------------------------------------------------------------------

    def materialize(self, engine: SparqlEngine) -> ReasoningStats:
        """Derive everything from the engine's facts, replacing earlier results of this reasoner."""
        stats = ReasoningStats()
        started = time.monotonic()
        facts = self._fact_graphs(engine, include_derived=False)
        self._refuse_unsupported_data(engine, facts)
        for graph in self._reasoner_graphs(engine) + [INFERRED]:
            engine.update(f"DROP SILENT GRAPH <{graph}>")
        facts = facts + [INFERRED, SUPPORT]
        stats.seconds["prepare"] = time.monotonic() - started
        started = time.monotonic()
        for check in self.checks:
            self._run_check(engine, check, facts, None)
        new = self._forward(engine, facts, None, stats)
        stats.seconds["owl-rl"] = time.monotonic() - started
        started = time.monotonic()
        self._shape_rules(engine, facts, None)
        stats.seconds["rules"] = time.monotonic() - started
        stats.inferred = self._count(engine, INFERRED)
        stats.support = self._count(engine, SUPPORT)
        del new
        return stats

    def add(self, engine: SparqlEngine, quads: Iterable[ox.Quad]) -> Delta:
        """Add asserted quads and extend the closure from them (semi-naive)."""
        quads = [q for q in quads]
        self._refuse_schema_change(quads)
        before = self._snapshot_targets(engine, quads)
        facts = self._fact_graphs(engine)
        # Triples that were inferred and are now asserted leave the inferred graph.
        engine.insert_quads(quads)
        facts = self._fact_graphs(engine)
        seed = _DELTA[0]
        engine.update(f"DROP SILENT GRAPH <{seed}>")
        engine.insert_quads(ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(seed)) for q in quads)
        moved = self._triples(engine, f"GRAPH <{seed}> {{ ?s ?p ?o }} GRAPH <{INFERRED}> {{ ?s ?p ?o }}")
        engine.update(self._dataset_update(
            f"DELETE {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} GRAPH <{SUPPORT}> {{ ?s ?p ?o }} }}",
            f"GRAPH <{seed}> {{ ?s ?p ?o }}", [], [seed]))
        # Only what is new as a fact at all seeds the rounds.
        before_inferred = self._graph_set(engine, INFERRED) if False else None
        del before_inferred
        stats = ReasoningStats()
        for check in self.checks:
            self._run_check(engine, check, facts, seed)
        added = self._forward(engine, facts, seed, stats, collect=True)
        delta = Delta(added=added, removed=moved)
        self._update_shape_rules(engine, facts, quads, delta, before)
        return delta

    def remove(self, engine: SparqlEngine, quads: Iterable[ox.Quad]) -> Delta:
        """Remove asserted quads and retract what only they supported (delete and rederive)."""
        quads = [q for q in quads]
        self._refuse_schema_change(quads)
        before = self._snapshot_targets(engine, quads)
        for graph in (_OVERDELETED, _OVERDELETED_NEXT, *_DELTA, _NEXT):
            engine.update(f"DROP SILENT GRAPH <{graph}>")
        # Triples no longer asserted anywhere once the quads are gone.
        engine.insert_quads(ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(_NEXT)) for q in quads)
        removed_text = "DELETE DATA { " + " ".join(
            f"GRAPH <{q.graph_name.value}> {{ {sparql_term(q.subject)} {sparql_term(q.predicate)} {sparql_term(q.object)} }}"
            for q in quads) + " }" if quads else ""
        data_graphs = [g for g in self._fact_graphs(engine, include_derived=False)]
        facts = data_graphs + [INFERRED, SUPPORT]
        # Overdelete (on the old facts): everything derivable from a vanishing triple.
        still_asserted = " ".join(f"{{ GRAPH <{g}> {{ ?s ?p ?o }} }}" for g in data_graphs)
        lost = set()
        for q in quads:
            other = [g for g in data_graphs if g != q.graph_name.value]
            t = f"{sparql_term(q.subject)} {sparql_term(q.predicate)} {sparql_term(q.object)}"
            if not other or not engine.ask("ASK { " + " UNION ".join(f"{{ GRAPH <{g}> {{ {t} }} }}" for g in other) + " }"):
                lost.add(ox.Triple(q.subject, q.predicate, q.object))
        del still_asserted
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
                        facts, [current, _OVERDELETED]))
            engine.update(f"DROP SILENT GRAPH <{current}>")
            if not self._count(engine, _NEXT):
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
                f"GRAPH <{_OVERDELETED}> {{ {rule.head} }}\n  {rule.where(None, None)}\n"
                f"  FILTER NOT EXISTS {{ {rule.head} }}\n  {self._destination(rule.head)}",
                facts, [_OVERDELETED]))
        rederived_seed = _DELTA[0]
        engine.update(f"MOVE SILENT <{_NEXT}> TO <{rederived_seed}>")
        stats = ReasoningStats()
        rederived = self._forward(engine, facts, rederived_seed, stats, collect=True, seed_counts=True)
        gone = overdeleted - rederived
        delta = Delta(added=rederived - overdeleted, removed=gone, rederived=overdeleted & rederived)
        engine.update(f"DROP SILENT GRAPH <{_OVERDELETED}>")
        self._update_shape_rules(engine, facts, quads, delta, before)
        return delta

    # --- stages ------------------------------------------------------------------------------

    def _forward(self, engine: SparqlEngine, facts: list[str], seed: str | None, stats: ReasoningStats,
                 collect: bool = False, seed_counts: bool = False) -> set[ox.Triple]:
        """Run the rules to a fixpoint from ``seed`` (a delta graph; None: all facts)."""
        collected: set[ox.Triple] = set()
        if seed_counts and seed is not None and collect:
            collected |= self._triples(engine, f"GRAPH <{seed}> {{ ?s ?p ?o }} FILTER EXISTS {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} }}")
        current = seed
        engine.update(f"DROP SILENT GRAPH <{_NEXT}>")
        for _ in range(ROUND_LIMIT):
            stats.rounds += 1
            named = [current] if current else []
            for rule in self.rules:
                for where in rule.variants(current):
                    engine.update(self._dataset_update(
                        self._insert_head(rule.head, _NEXT),
                        f"{where}\n  FILTER NOT EXISTS {{ {rule.head} }}\n  {self._destination(rule.head)}",
                        facts, named))
            if current:
                engine.update(f"DROP SILENT GRAPH <{current}>")
            if not self._count(engine, _NEXT):
                return collected
            current = _DELTA[1] if current == _DELTA[0] else _DELTA[0]
            engine.update(f"MOVE SILENT <{_NEXT}> TO <{current}>")
            for check in self.checks:
                self._run_check(engine, check, facts, current)
            if collect:
                collected |= self._triples(engine, f"GRAPH <{current}> {{ ?s ?p ?o }} FILTER EXISTS {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} }}")
        raise RuleError(f"the OWL-RL rules did not reach a fixpoint in {ROUND_LIMIT} rounds")

    def _run_check(self, engine: SparqlEngine, check: Rule, facts: list[str], delta: str | None) -> None:
        for where in check.variants(delta):
            query = self._dataset_query("SELECT * ", where + "\n} LIMIT 1", facts, [delta] if delta else [])
            rows = engine.select(query)
            if rows:
                shown = ", ".join(f"?{k} = {sparql_term(v)}" for k, v in sorted(rows[0].items()))
                values = [v for v in rows[0].values() if not isinstance(v, ox.Literal)]
                literal_clash = any(isinstance(v, ox.Literal) for v in rows[0].values())
                if check.name.startswith(("prp-fp", "prp-ifp")) and not literal_clash and values:
                    raise UnsupportedData(
                        f"{check.check} ({shown}); OWL 2 RL would make them owl:sameAs, which the compiled "
                        "reasoner does not do: use the reference engine (owlrl)")
                raise InconsistentData(f"the data is inconsistent with the ontology under OWL 2 RL:\n  "
                                       f"{check.check}: {shown}")

    def _shape_rules(self, engine: SparqlEngine, facts: list[str], focus: list | None) -> None:
        """Run the SHACL-AF rules for ``focus`` (None: every focus node), replacing their old output."""
        if not self.shape_rules:
            return
        if focus is None:
            old_graphs = [g for g in self._all_graphs(engine) if g.startswith(RULE_OUTPUT_PREFIX)]
        else:
            old_graphs = sorted({RULE_OUTPUT_PREFIX + hashlib.md5(_str(f).encode()).hexdigest() for f in focus})
        if focus is not None and not focus:
            return
        # Retract the old output of these focus nodes (what no other focus node also derived).
        old = set()
        for g in old_graphs:
            old |= self._triples(engine, f"GRAPH <{g}> {{ ?s ?p ?o }}")
            engine.update(f"DROP SILENT GRAPH <{g}>")
        others = [g for g in self._all_graphs(engine) if g.startswith(RULE_OUTPUT_PREFIX)]
        still = set()
        if old and others:
            still = self._triples(engine, "VALUES (?s ?p ?o) { " + _rows(old) + " } "
                                  + "{ " + " UNION ".join(f"{{ GRAPH <{g}> {{ ?s ?p ?o }} }}" for g in others) + " }")
        retract = old - still
        if retract:
            engine.update(f"DELETE DATA {{ GRAPH <{INFERRED}> {{ {_triples_text(retract)} }} }}")
        # Derive: one INSERT per rule over all the focus nodes, each node's output in its own graph.
        owl_facts = [g for g in facts]
        for rule in self.shape_rules:
            engine.update(self._dataset_update_text(rule.insert(focus), owl_facts, []))
        new_graphs = [g for g in self._all_graphs(engine) if g.startswith(RULE_OUTPUT_PREFIX)
                      and (focus is None or g in old_graphs)]
        # The RDFS consequences of what the rules derived, then keep only what is not a fact.
        for g in new_graphs:
            derived = self._triples(engine, f"GRAPH <{g}> {{ ?s ?p ?o }}")
            closed = derived | self._rdfs_entailments(derived)
            closed = {t for t in closed if _keep(t)}
            existing = self._existing(engine, closed, facts)
            keep = closed - existing
            engine.update(f"DROP SILENT GRAPH <{g}>")
            if keep:
                engine.update(f"INSERT DATA {{ GRAPH <{g}> {{ {_triples_text(keep)} }} "
                              f"GRAPH <{INFERRED}> {{ {_triples_text(keep)} }} }}")

    def _update_shape_rules(self, engine, facts, quads, delta: Delta, before: set) -> None:
        """Re-run the SHACL-AF rules for the focus nodes a change can reach (all of them if unsure)."""
        if not self.shape_rules:
            return
        changed = [ox.Triple(q.subject, q.predicate, q.object) for q in quads]
        changed += list(delta.added) + list(delta.removed)
        focus = self._reachable_focus(engine, changed, facts)
        if focus is None:
            self._shape_rules(engine, facts + [], None)
        else:
            self._shape_rules(engine, facts, sorted(focus | before, key=_str))

    def _reachable_focus(self, engine, changed: list[ox.Triple], facts) -> set | None:
        """Focus nodes whose rule output may change: the subjects and objects of changed triples
        that the rules read, and the focus nodes one step from them; None if a changed triple is
        one the rules read far from their focus node (then every focus node is re-run)."""
        relevant = [t for t in changed if self._read_by_rules(t)]
        if not relevant:
            return set()
        nodes = set()
        for t in relevant:
            nodes.add(t.subject)
            if not isinstance(t.object, ox.Literal):
                nodes.add(t.object)
        if len(nodes) > 2000:
            return None
        # A focus node is within two steps of every triple its rule reads, for the rules here:
        # the act, its agents, kinds and claims; an instrument or provision reaches every act.
        return self._focus_near(engine, nodes, facts)

    def _read_by_rules(self, t: ox.Triple) -> bool:
        p = t.predicate.value
        for rule in self.shape_rules:
            if p == _RDF_TYPE:
                if t.object.value in rule.reads or any(
                        t.object.value == c or c in self.schema.superclasses.get(t.object.value, ())
                        for c in rule.target_classes):
                    return True
            elif p in rule.reads:
                return True
        return False

    def _focus_near(self, engine, nodes: set, facts) -> set:
        """Focus nodes among ``nodes`` and within two steps of them (either direction)."""
        values = " ".join(sparql_term(n) for n in nodes)
        found = set()
        for rule in self.shape_rules:
            query = self._dataset_query(
                "SELECT DISTINCT ?this ",
                f"VALUES ?n {{ {values} }}\n"
                "  { BIND (?n AS ?this) } UNION { ?this ?p1 ?n } UNION { ?n ?p1 ?this }\n"
                "  UNION { ?this ?p1 ?m . ?m ?p2 ?n } UNION { ?n ?p2 ?m . ?m ?p1 ?this }\n"
                "  UNION { ?this ?p1 ?m . ?n ?p2 ?m } UNION { ?m ?p1 ?this . ?m ?p2 ?n }\n"
                f"  {rule.targets}\n}}", facts, [])
            found |= {row["this"] for row in engine.select(query) if "this" in row}
        return found

    def _snapshot_targets(self, engine, quads) -> set:
        """Focus nodes that a removed type may take out of a target (their output must go)."""
        found = set()
        for q in quads:
            if q.predicate.value == _RDF_TYPE and not isinstance(q.subject, ox.Literal):
                found.add(q.subject)
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

    def _fact_graphs(self, engine: SparqlEngine, include_derived: bool = True) -> list[str]:
        graphs = [g for g in self._all_graphs(engine)
                  if g not in NOT_FACTS and g != INFERRED and not g.startswith(REASONER_PREFIX)]
        if ONTOLOGY not in graphs:
            graphs.append(ONTOLOGY)
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

    def _insert_head(self, head: str, next_graph: str) -> str:
        return f"INSERT {{ GRAPH ?__destination {{ {head} }} GRAPH <{next_graph}> {{ {head} }} }}"

    def _destination(self, head: str) -> str:
        subject = head.split()[0]
        tests = " || ".join(f'STRSTARTS(STR({subject}), "{ns}")' for ns in VOCABULARY_NAMESPACES)
        return f"BIND (IF({tests}, <{SUPPORT}>, <{INFERRED}>) AS ?__destination)"

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

    def _count(self, engine: SparqlEngine, graph: str) -> int:
        rows = engine.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
        return int(rows[0]["n"].value) if rows else 0

    def _graph_set(self, engine, graph):
        return self._triples(engine, f"GRAPH <{graph}> {{ ?s ?p ?o }}")


def _str(term) -> str:
    return term.value if hasattr(term, "value") else str(term)


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
