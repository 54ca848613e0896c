"""``/ontology``: the ontology for machines (by content negotiation) and its documentation for
people, generated from the ontology graph of the store on every request so it cannot drift.

The ontology's terms are hash IRIs (``…/ontology#Treaty``): a client asks for ``/ontology``
and gets the one document that defines them all, a ``200``, not a redirect. ``/ontology/Treaty``
is a convenience that redirects (303) to ``/ontology#Treaty`` or to the RDF document.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pyoxigraph as ox
from flask import Blueprint, Response, redirect, render_template

from yokuryu.ontology import ONTOLOGY_GRAPH, SHAPES_GRAPH
from yokuryu.server.pages.labels import Labeller, curie
from yokuryu.server.negotiation import choose_document
from yokuryu.server.pages.documents import DOCUMENT_SYNTAXES, not_found, rdf_response, serialize
from yokuryu.server.pages.resources import is_iri
from yokuryu.server.safe_links import href_for
from yokuryu.server.store_access import get_config, get_store

blueprint = Blueprint("ontology_docs", __name__)

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DCTERMS = "http://purl.org/dc/terms/"

KINDS = (  # (heading, anchor, rdf:type that puts a term in the section)
    ("Classes", "classes", OWL + "Class"),
    ("Object properties", "object-properties", OWL + "ObjectProperty"),
    ("Datatype properties", "datatype-properties", OWL + "DatatypeProperty"),
    ("Named individuals", "individuals", OWL + "NamedIndividual"),
)
CHARACTERISTICS = {OWL + "FunctionalProperty": "functional", OWL + "InverseFunctionalProperty": "inverse functional",
                   OWL + "TransitiveProperty": "transitive", OWL + "SymmetricProperty": "symmetric",
                   OWL + "AsymmetricProperty": "asymmetric", OWL + "IrreflexiveProperty": "irreflexive"}


@blueprint.get("/ontology")
def ontology():
    ext = choose_document(DOCUMENT_SYNTAXES)
    response = ontology_document(ext)
    response.headers["Vary"] = "Accept"
    response.headers["Content-Location"] = f"/ontology.{ext}"
    return response


@blueprint.get("/ontology.<ext>")
def ontology_in_format(ext: str):
    if ext != "html" and ext not in DOCUMENT_SYNTAXES:
        return not_found(get_config().base_iri + "ontology." + ext)
    return ontology_document(ext)


@blueprint.get("/ontology/<term>")
def ontology_term(term: str):
    """A term's own path: 303 to its anchor in the documentation, or to the RDF that defines it."""
    base = get_config().base_iri
    if _is_version(get_store(), f"{base}ontology/{term.removesuffix('.html')}"):
        return redirect("/ontology", code=303)  # the version IRI: this version is the one served
    iri = f"{base}ontology#{term}"
    if not is_iri(iri) or not any(True for _ in get_store().oxigraph.quads_for_pattern(ox.NamedNode(iri), None, None, ox.NamedNode(str(ONTOLOGY_GRAPH)))):
        return not_found(iri)
    ext = choose_document(DOCUMENT_SYNTAXES)
    response = redirect(f"/ontology#{term}" if ext == "html" else f"/ontology.{ext}", code=303)
    response.headers["Vary"] = "Accept"
    return response


@blueprint.get("/shapes")
@blueprint.get("/shapes.<ext>")
def shapes(ext: str | None = None):
    """The SHACL shapes and the violation rules: documented for people (each rule with its SPARQL,
    at the anchor its IRI names), Turtle and the other syntaxes for machines."""
    if ext is None:
        ext = choose_document(DOCUMENT_SYNTAXES)
    elif ext != "html" and ext not in DOCUMENT_SYNTAXES:
        return not_found(get_config().base_iri + "shapes." + ext)
    store = get_store()
    quads = list(store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(str(SHAPES_GRAPH))))
    if ext != "html":
        response = rdf_response(serialize(sorted({ox.Triple(q.subject, q.predicate, q.object) for q in quads},
                                                 key=str), DOCUMENT_SYNTAXES[ext]), DOCUMENT_SYNTAXES[ext])
    else:
        response = Response(render_template("shapes.html", title="Shapes and rules", rules=_shape_docs(quads)),
                            mimetype="text/html")
    response.headers["Vary"] = "Accept"
    return response


SH = "http://www.w3.org/ns/shacl#"


def _shape_docs(quads) -> list[dict]:
    """Every named shape and rule of the shapes graph, with label, comment and SPARQL text."""
    by_subject: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for q in quads:
        if isinstance(q.subject, ox.NamedNode):
            by_subject[q.subject.value][q.predicate.value].append(q.object)
    # A constraint written as a blank node has only a Skolem IRI: name it after its shape.
    owner = {o.value: s for s, props in by_subject.items() for o in props.get(SH + "sparql", [])}
    docs = []
    for iri, props in by_subject.items():
        kinds = [t.value.removeprefix(SH) for t in props.get(RDF + "type", []) if t.value.startswith(SH)]
        if not kinds:
            continue
        first = lambda p: next((o.value for o in props.get(p, []) if isinstance(o, ox.Literal)), None)  # noqa: E731
        anchor = iri.rpartition("#")[2]
        label = first(RDFS + "label")
        if "#" not in iri and iri in owner:
            anchor = owner[iri].rpartition("#")[2] + "-sparql"
            label = label or f"the SPARQL constraint of {owner[iri].rpartition('#')[2]}"
        docs.append({"iri": iri, "anchor": anchor, "kinds": kinds, "label": label or anchor,
                     "comment": first(RDFS + "comment") or first(SH + "message"),
                     "sparql": first(SH + "construct") or first(SH + "select")})
    return sorted(docs, key=lambda d: (not d["sparql"], d["label"].lower()))


def _is_version(store, iri: str) -> bool:
    return is_iri(iri) and any(True for _ in store.oxigraph.quads_for_pattern(
        None, ox.NamedNode(OWL + "versionIRI"), ox.NamedNode(iri), None))


def ontology_document(ext: str) -> Response:
    store = get_store()
    quads = list(store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(str(ONTOLOGY_GRAPH))))
    if ext != "html":
        syntax = DOCUMENT_SYNTAXES[ext]
        body = serialize(sorted({ox.Triple(q.subject, q.predicate, q.object) for q in quads}, key=str), syntax)
        return rdf_response(body, syntax)
    docs = OntologyDocs(quads, Labeller(store, get_config().base_iri), get_config().base_iri)
    return Response(render_template("ontology.html", docs=docs, title="Ontology"), mimetype="text/html")


@dataclass
class Term:
    iri: str
    anchor: str
    label: str
    labels: list[tuple[str, str]]
    definition: list[str]
    facts: list[tuple[str, list[dict]]] = field(default_factory=list)
    characteristics: list[str] = field(default_factory=list)


class OntologyDocs:
    """The ontology graph arranged for reading: a header, then each kind of term in label order."""

    def __init__(self, quads, label: Labeller, base: str):
        self.base = base
        self.label = label
        self.namespace = base + "ontology#"
        self.about: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for quad in quads:
            self.about[quad.subject.value][quad.predicate.value].append(quad.object)
        self.inverse: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for subject, properties in self.about.items():
            for predicate, objects in properties.items():
                for obj in objects:
                    if isinstance(obj, ox.NamedNode):
                        self.inverse[obj.value][predicate].append(subject)
        header = self.about.get(base + "ontology", {})
        self.title = _first_text(header.get(DCTERMS + "title")) or "Ontology"
        self.description = _first_text(header.get(DCTERMS + "description"))
        self.header = [(self.label(p), [self.term_link(o) for o in objects])
                       for p, objects in sorted(header.items()) if p not in (DCTERMS + "title", DCTERMS + "description", RDF + "type")]
        self.sections = [(heading, anchor, self._terms_of(kind)) for heading, anchor, kind in KINDS]

    def _terms_of(self, kind: str) -> list[Term]:
        iris = sorted(s for s, props in self.about.items()
                      if s.startswith(self.namespace) and any(getattr(t, "value", None) == kind for t in props.get(RDF + "type", [])))
        terms = [self._term(iri, kind) for iri in iris]
        return sorted(terms, key=lambda t: t.label.lower())

    def _term(self, iri: str, kind: str) -> Term:
        props = self.about[iri]
        labels = [(o.value, o.language or "") for o in props.get(RDFS + "label", []) if isinstance(o, ox.Literal)]
        definition = [o.value for p in (SKOS + "definition", RDFS + "comment") for o in props.get(p, [])
                      if isinstance(o, ox.Literal)]
        term = Term(iri, iri[len(self.namespace):], self.label(iri), labels, definition)
        links = self.term_links
        if kind == OWL + "Class":
            term.facts = [("Subclass of", links(props.get(RDFS + "subClassOf", []))),
                          ("Equivalent to", links(props.get(OWL + "equivalentClass", []))),
                          ("Superclass of", links(self.inverse[iri].get(RDFS + "subClassOf", []))),
                          ("Domain of", links(self.inverse[iri].get(RDFS + "domain", []))),
                          ("Range of", links(self.inverse[iri].get(RDFS + "range", []))),
                          ("Members", links(self.inverse[iri].get(RDF + "type", [])))]
        elif kind == OWL + "NamedIndividual":
            term.facts = [("Type", links([t for t in props.get(RDF + "type", []) if t.value != kind]))]
        else:
            term.facts = [("Domain", links(props.get(RDFS + "domain", []))),
                          ("Range", links(props.get(RDFS + "range", []))),
                          ("Subproperty of", links(props.get(RDFS + "subPropertyOf", []))),
                          ("Superproperty of", links(self.inverse[iri].get(RDFS + "subPropertyOf", []))),
                          ("Inverse of", links(props.get(OWL + "inverseOf", [])))]
            term.characteristics = [name for t, name in CHARACTERISTICS.items()
                                    if any(o.value == t for o in props.get(RDF + "type", []))]
        term.facts = [(name, values) for name, values in term.facts if values]
        return term

    def term_links(self, values) -> list[dict]:
        return [self.term_link(v) for v in values]

    def term_link(self, value) -> dict:
        if isinstance(value, str):
            value = ox.NamedNode(value)
        if isinstance(value, ox.Literal):
            return {"text": value.value, "lang": value.language or ""}
        iri = value.value
        restriction = self._restriction(iri)
        if restriction:
            return {"text": restriction}
        # An outside term: its CURIE where the prefix is predeclared, else the vocabulary's label.
        return {"text": self.label(iri) if iri.startswith(self.base) else (curie(iri) or self.label(iri)),
                "href": href_for(iri, self.base), "iri": iri}

    def _restriction(self, iri: str) -> str | None:
        """``party some State`` for an owl:Restriction the build named with a Skolem IRI."""
        props = self.about.get(iri)
        if not props or not any(o.value == OWL + "Restriction" for o in props.get(RDF + "type", [])):
            return None
        on = props.get(OWL + "onProperty", [])
        name = self.label(on[0].value) if on else "?"
        for key, word in (("someValuesFrom", "some"), ("allValuesFrom", "only"), ("hasValue", "value"),
                          ("cardinality", "exactly"), ("minCardinality", "at least"), ("maxCardinality", "at most"),
                          ("qualifiedCardinality", "exactly"), ("minQualifiedCardinality", "at least"),
                          ("maxQualifiedCardinality", "at most")):
            for value in props.get(OWL + key, []):
                shown = value.value if isinstance(value, ox.Literal) else self.label(value.value)
                return f"{name} {word} {shown}"
        return f"restriction on {name}"


def _first_text(values) -> str | None:
    for value in values or []:
        if isinstance(value, ox.Literal):
            return value.value
    return None
