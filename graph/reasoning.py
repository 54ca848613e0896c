"""Reasoning: the OWL-RL closure (owlrl), then the SHACL-AF rules of the shapes graph.

``infer(ontology, data, shapes)`` returns only what is new and meaningful: the OWL-RL
inferences about the things the data describes (``is_noise`` says exactly what is dropped and
why), plus what the ``sh:SPARQLRule`` rules derive from the closure, such as treaty violations
with their explanations. Nothing asserted is ever returned, so the inferred graph never
restates the asserted ones.

The rules are plain SPARQL 1.1 CONSTRUCT queries; ``apply_rules`` runs them with pyoxigraph,
which evaluates them in milliseconds where pyshacl's rule engine (rdflib's SPARQL) needs
minutes on the closure (measured in the README, section "Reasoning").
"""
from __future__ import annotations

from dataclasses import dataclass

import owlrl
import pyoxigraph as ox
from owlrl.Namespaces import ERRNS
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SH, XSD

from yokuryu.graph.progress import Progress
from yokuryu.graph.terms import to_oxigraph, to_rdflib
from yokuryu.graph.validation import rdfs_entailments

# Vocabularies whose terms are schema, not data: triples about their terms are restated
# vocabulary, not findings about the history.
VOCABULARY_NAMESPACES = (
    str(RDF), str(RDFS), str(OWL), str(XSD),
    "http://www.w3.org/ns/shacl#",
    "http://www.w3.org/ns/prov#",
    "http://xmlns.com/foaf/0.1/",
    "https://schema.org/",
    "http://www.w3.org/2004/02/skos/core#",
    "http://purl.org/dc/terms/",
    "http://www.w3.org/2006/time#",
    "http://www.w3.org/2003/01/geo/wgs84_pos#",
    "https://w3id.org/yokuryu/ontology#",
)

# Types every resource has under OWL-RL; saying so tells a historian nothing.
TRIVIAL_TYPES = (OWL.Thing, RDFS.Resource, OWL.NamedIndividual)

# The documented kinds of noise, in the order ``noise_reason`` tests them.
NOISE_REASONS = {
    "literal-subject": "a statement about a literal (datatype typing of literals)",
    "ontology-blank-node": "a statement about, or a type naming, a blank node of the ontology (an OWL "
                           "restriction, class expression or list), which is schema and has no IRI to link to",
    "vocabulary-term": "a statement about a term of a vocabulary (RDF, RDFS, OWL, XSD, SHACL, PROV, FOAF, "
                       "schema.org, SKOS, Dublin Core, OWL-Time, WGS84 or Yokuryū's own ontology)",
    "reflexive-same-as": "x owl:sameAs x",
    "trivial-type": "x rdf:type owl:Thing, rdfs:Resource or owl:NamedIndividual",
}

RULE_ITERATION_LIMIT = 10


class InconsistentData(ValueError):
    """The closure is inconsistent (owlrl found a contradiction); the message names the resources."""


class RuleError(ValueError):
    """A rule of the shapes graph cannot be run; the message names the rule and the fix."""


def infer(ontology: Graph, data: Graph, shapes: Graph | None = None, *, progress=None) -> Graph:
    """The meaningful triples that OWL-RL and the shapes' rules derive, and nothing asserted.

    ``shapes`` is the shapes graph, where the declarative rules (``sh:rule``) live beside the
    constraints; without it only the OWL-RL closure is computed.
    """
    progress = progress or Progress()
    with progress.stage("reason") as stage:
        closure = owl_rl_closure(ontology, data)
        ontology_blank_nodes = {s for s in ontology.subjects() if isinstance(s, BNode)}
        inferred = Graph()
        for triple in closure:
            if triple in data or triple in ontology:
                continue
            if noise_reason(triple, ontology_blank_nodes) is None:
                inferred.add(triple)
        stage.done(len(inferred))
    if shapes is not None:
        with progress.stage("rules") as stage:
            derived = apply_rules(shapes, closure)
            # What the rules derive gets its RDFS consequences too (a yk:TreatyViolation is a
            # prov:Entity, yk:evidence is prov:wasDerivedFrom), as the rest of the data got from OWL-RL.
            for triple in rdfs_entailments(derived, ontology):
                if triple not in data and triple not in ontology and triple not in closure \
                        and noise_reason(triple, ontology_blank_nodes) is None:
                    inferred.add(triple)
            stage.done(len(derived))
    return inferred


def owl_rl_closure(ontology: Graph, data: Graph) -> Graph:
    """The OWL 2 RL closure of ontology + data (everything, noise included); raises on contradictions."""
    closure = Graph()
    closure += ontology
    closure += data
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False,
                           datatype_axioms=False).expand(closure)
    _raise_on_inconsistency(closure)
    return closure


def noise_reason(triple, ontology_blank_nodes=frozenset()) -> str | None:
    """Why an inferred triple is noise (a key of ``NOISE_REASONS``), or None if it is an inference.

    Noise is exactly: statements about literals; statements about blank nodes of the ontology,
    or whose object is one (membership in an anonymous class expression); statements about terms
    of the vocabularies in ``VOCABULARY_NAMESPACES`` (restated schema, including the named
    individuals of Yokuryū's own ontology such as yk:Ratification); reflexive owl:sameAs; and
    the types owl:Thing, rdfs:Resource and owl:NamedIndividual. Everything else about the
    resources of the data is kept, including types inherited from superclasses, inverse and
    super-properties.
    """
    s, p, o = triple
    if isinstance(s, Literal):
        return "literal-subject"
    if (isinstance(s, BNode) and s in ontology_blank_nodes) or (isinstance(o, BNode) and o in ontology_blank_nodes):
        return "ontology-blank-node"
    if isinstance(s, URIRef) and str(s).startswith(VOCABULARY_NAMESPACES):
        return "vocabulary-term"
    if p == OWL.sameAs and s == o:
        return "reflexive-same-as"
    if p == RDF.type and o in TRIVIAL_TYPES:
        return "trivial-type"
    return None


def is_noise(triple, ontology_blank_nodes=frozenset()) -> bool:
    """True for inferred triples that carry no information about the history (see ``noise_reason``)."""
    return noise_reason(triple, ontology_blank_nodes) is not None


# --- SHACL-AF rules ------------------------------------------------------------


@dataclass(frozen=True)
class SparqlRule:
    """One ``sh:SPARQLRule`` attached to a shape, ready to run."""

    iri: URIRef | BNode
    shape: URIRef | BNode
    construct: str
    prefixes: dict[str, str]
    order: tuple


def sparql_rules(shapes: Graph) -> list[SparqlRule]:
    """The active SPARQL rules of a shapes graph, in ``sh:order`` (shape first, then rule)."""
    rules = []
    for shape, rule in shapes.subject_objects(SH.rule):
        if _deactivated(shapes, shape) or _deactivated(shapes, rule):
            continue
        if (rule, RDF.type, SH.SPARQLRule) not in shapes:
            raise RuleError(f"{_name(rule)}: only sh:SPARQLRule rules are supported; give the rule sh:construct")
        constructs = list(shapes.objects(rule, SH.construct))
        if len(constructs) != 1:
            raise RuleError(f"{_name(rule)}: a SPARQL rule needs exactly one sh:construct query")
        if (rule, SH.condition, None) in shapes:
            raise RuleError(f"{_name(rule)}: sh:condition is not supported; put the condition in the query")
        rules.append(SparqlRule(
            iri=rule, shape=shape, construct=str(constructs[0]),
            prefixes=_declared_prefixes(shapes, rule),
            order=(_order(shapes, shape), _order(shapes, rule), str(shape), str(rule))))
    return sorted(rules, key=lambda r: r.order)


def apply_rules(shapes: Graph, data: Graph) -> Graph:
    """Run the shapes' SPARQL rules over ``data`` until nothing new is derived; return the new triples.

    As SHACL-AF says, each rule's query runs once per focus node of its shape, with ``$this``
    pre-bound to that node; what one rule derives is visible to the rules that run after it.
    """
    rules = sparql_rules(shapes)
    derived = Graph()
    if not rules:
        return derived
    store = ox.Store()
    # owlrl's generalised RDF (literals as subjects) has no place in an RDF store.
    store.bulk_extend(ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o))
                      for s, p, o in data if not isinstance(s, Literal))
    for _ in range(RULE_ITERATION_LIMIT):
        new = []
        for rule in rules:
            for focus in _focus_nodes(store, shapes, rule.shape):
                try:
                    triples = store.query(rule.construct, prefixes=rule.prefixes,
                                          substitutions={ox.Variable("this"): focus})
                except SyntaxError as error:
                    raise RuleError(f"{_name(rule.iri)}: the sh:construct query is not valid SPARQL: {error}") from error
                for triple in triples:
                    quad = ox.Quad(triple.subject, triple.predicate, triple.object)
                    if quad not in store:
                        store.add(quad)
                        new.append(triple)
        if not new:
            return derived
        for triple in new:
            derived.add((to_rdflib(triple.subject), to_rdflib(triple.predicate), to_rdflib(triple.object)))
    raise RuleError(f"the rules still derive new triples after {RULE_ITERATION_LIMIT} rounds; "
                    "a rule probably mints a new resource from its own output")


def _focus_nodes(store: ox.Store, shapes: Graph, shape) -> list:
    """The focus nodes of a shape's targets (class, node, subjects-of, objects-of) in ``store``."""
    nodes: dict[str, object] = {}

    def add_all(query: str) -> None:
        for solution in store.query(query):
            nodes.setdefault(str(solution["n"]), solution["n"])

    classes = list(shapes.objects(shape, SH.targetClass))
    if (shape, RDF.type, RDFS.Class) in shapes or (shape, RDF.type, OWL.Class) in shapes:
        classes.append(shape)  # an implicit class target
    for cls in classes:
        add_all(f"SELECT DISTINCT ?n WHERE {{ ?n a/<{RDFS.subClassOf}>* <{cls}> }}")
    for node in shapes.objects(shape, SH.targetNode):
        ox_node = to_oxigraph(node)
        nodes.setdefault(str(ox_node), ox_node)
    for prop in shapes.objects(shape, SH.targetSubjectsOf):
        add_all(f"SELECT DISTINCT ?n WHERE {{ ?n <{prop}> ?o }}")
    for prop in shapes.objects(shape, SH.targetObjectsOf):
        add_all(f"SELECT DISTINCT ?n WHERE {{ ?s <{prop}> ?n }}")
    return [nodes[key] for key in sorted(nodes)]


def _declared_prefixes(shapes: Graph, rule) -> dict[str, str]:
    """The prefixes a rule declares through ``sh:prefixes`` → ``sh:declare``."""
    prefixes = {}
    for holder in shapes.objects(rule, SH.prefixes):
        for declaration in shapes.objects(holder, SH.declare):
            prefix = shapes.value(declaration, SH.prefix)
            namespace = shapes.value(declaration, SH.namespace)
            if prefix is None or namespace is None:
                raise RuleError(f"{_name(holder)}: every sh:declare needs sh:prefix and sh:namespace")
            prefixes[str(prefix)] = str(namespace)
    return prefixes


def _deactivated(shapes: Graph, node) -> bool:
    return any(value.toPython() is True for value in shapes.objects(node, SH.deactivated))


def _order(shapes: Graph, node) -> float:
    value = shapes.value(node, SH.order)
    return float(value.toPython()) if value is not None else 0.0


def _name(node) -> str:
    return node.n3() if isinstance(node, URIRef) else "a rule without an IRI"


def _raise_on_inconsistency(closure: Graph) -> None:
    """owlrl writes each contradiction it finds as an ``err:ErrorMessage`` node into the closure."""
    errors = [str(message) for message in closure.objects(None, ERRNS.error)]
    for s in closure.subjects(RDF.type, OWL.Nothing):
        errors.append(f"{s} would be a member of owl:Nothing (contradictory types)")
    if errors:
        raise InconsistentData("the data is inconsistent with the ontology under OWL 2 RL:\n  " + "\n  ".join(sorted(errors)))
