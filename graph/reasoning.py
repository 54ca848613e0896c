"""OWL-RL reasoning with owlrl, keeping only what a historian would call an inference.

owlrl materialises the whole OWL 2 RL closure, which restates the vocabulary and adds
axiomatic noise. ``infer`` returns only the new triples about the things the data describes;
``is_noise`` says exactly what is dropped and why.
"""
from __future__ import annotations

import owlrl
from owlrl.Namespaces import ERRNS
from rdflib import Graph, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

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


class InconsistentData(ValueError):
    """The closure is inconsistent (owlrl found a contradiction); the message names the resources."""


def infer(ontology: Graph, data: Graph, shapes: Graph | None = None) -> Graph:
    """The meaningful triples that OWL-RL derives from ``ontology`` + ``data``, and nothing asserted.

    ``shapes`` is the shapes graph, where declarative rules live beside the constraints.
    """
    closure = Graph()
    closure += ontology
    closure += data
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False,
                           datatype_axioms=False).expand(closure)
    _raise_on_inconsistency(closure)
    inferred = Graph()
    for triple in closure:
        if triple in data or triple in ontology or is_noise(triple):
            continue
        inferred.add(triple)
    return inferred


def is_noise(triple) -> bool:
    """True for inferred triples that carry no information about the history."""
    s, p, o = triple
    if not isinstance(s, URIRef):
        # Blank nodes of OWL axioms (restrictions, lists) belong to the ontology.
        return True
    if str(s).startswith(VOCABULARY_NAMESPACES):
        return True
    if p == OWL.sameAs and s == o:
        return True
    if p == RDF.type and o in TRIVIAL_TYPES:
        return True
    if p in (OWL.differentFrom,) and s == o:
        return True
    return False


def _raise_on_inconsistency(closure: Graph) -> None:
    """owlrl writes each contradiction it finds as an ``err:ErrorMessage`` node into the closure."""
    errors = [str(message) for message in closure.objects(None, ERRNS.error)]
    for s in closure.subjects(RDF.type, OWL.Nothing):
        errors.append(f"{s} would be a member of owl:Nothing (contradictory types)")
    if errors:
        raise InconsistentData("the data is inconsistent with the ontology under OWL 2 RL:\n  " + "\n  ".join(sorted(errors)))
