"""How pages name and link IRIs: a readable label for every IRI, and the local page that shows it.

Labels come from the data itself (rdfs:label, skos:prefLabel, dcterms:title …), English
first; terms of well-known vocabularies without a label fall back to their prefixed name.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

import pyoxigraph as ox

from yokuryu.ontology import PREFIXES

RDFS_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
LABEL_PROPERTIES = (
    RDFS_LABEL,
    ox.NamedNode("http://www.w3.org/2004/02/skos/core#prefLabel"),
    ox.NamedNode("http://purl.org/dc/terms/title"),
    ox.NamedNode("http://xmlns.com/foaf/0.1/name"),
    ox.NamedNode("https://schema.org/name"),
)
PREFERRED_LANGUAGES = ("en", "")
SENTENCE_NUMBER = ox.NamedNode("https://w3id.org/yokuryu/ontology#sentenceNumber")
SENTENCE_TEXT = ox.NamedNode("https://w3id.org/yokuryu/ontology#sentenceText")


def curie(iri: str) -> str | None:
    """``rdfs:label`` for a term of a predeclared vocabulary, or None."""
    best = None
    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and len(iri) > len(namespace):
            local = iri[len(namespace):]
            if "/" not in local and "#" not in local and (best is None or len(namespace) > best[1]):
                best = (f"{prefix}:{local}", len(namespace))
    return best[0] if best else None


def short_name(iri: str) -> str:
    """The last segment of an IRI, for things nobody labelled."""
    tail = iri.rstrip("/#")
    for separator in ("#", "/"):
        if separator in tail:
            tail = tail.rsplit(separator, 1)[1]
            break
    return tail or iri


def labels_of(store, iri: str) -> list[ox.Literal]:
    """Every label of ``iri``, in every language present, from any graph."""
    node = ox.NamedNode(iri)
    seen: dict[tuple[str, str], ox.Literal] = {}
    for predicate in LABEL_PROPERTIES:
        for quad in store.oxigraph.quads_for_pattern(node, predicate, None, None):
            if isinstance(quad.object, ox.Literal):
                seen.setdefault((quad.object.value, quad.object.language or ""), quad.object)
    return list(seen.values())


def best_label(labels: Iterable[ox.Literal]) -> str | None:
    """The label a reader of English sees first: English, then untagged, then any language."""
    labels = list(labels)
    for language in PREFERRED_LANGUAGES:
        for label in labels:
            if (label.language or "") == language:
                return label.value
    return labels[0].value if labels else None


@lru_cache(maxsize=1)
def vocabulary_labels() -> dict[str, str]:
    """The external vocabularies' own labels of the terms the data uses (server/vocabulary-labels.ttl)."""
    text = (resources.files("yokuryu.server") / "vocabulary-labels.ttl").read_bytes()
    return {t.subject.value: t.object.value for t in ox.parse(text, format=ox.RdfFormat.TURTLE)
            if t.predicate == RDFS_LABEL}


def sentence_label(number: int, text: str, words: int = 9) -> str:
    """A sentence named by its number and its opening words: ``S10 “The Soviet Union …”``."""
    opening = text.split()
    shown = " ".join(opening[:words]) + (" …" if len(opening) > words else "")
    return f"S{number} “{shown}”"


class Labeller:
    """Labels for the IRIs of one page, looked up once each."""

    def __init__(self, store, base: str):
        self.store = store
        self.base = base
        self._cache: dict[str, str] = {}

    def __call__(self, iri: str) -> str:
        if iri not in self._cache:
            fallback = short_name(iri) if iri.startswith(self.base) else iri
            self._cache[iri] = (self._sentence(iri) or best_label(labels_of(self.store, iri))
                                or vocabulary_labels().get(iri) or curie(iri) or fallback)
        return self._cache[iri]

    def _sentence(self, iri: str) -> str | None:
        if "#s" not in iri or not iri.startswith(self.base + "source/"):
            return None
        node = ox.NamedNode(iri)
        number = next(iter(self.store.oxigraph.quads_for_pattern(node, SENTENCE_NUMBER, None, None)), None)
        text = next(iter(self.store.oxigraph.quads_for_pattern(node, SENTENCE_TEXT, None, None)), None)
        if number is None or text is None:
            return None
        return sentence_label(int(number.object.value), text.object.value)


def local_page(iri: str, base: str) -> str | None:
    """The path of this server's HTML page about ``iri`` (None for IRIs outside the base).

    Slash IRIs get the ``.html`` document the 303 redirect points to; hash IRIs (ontology
    terms, sentences) the document that describes them, with the fragment as anchor.
    """
    if not iri.startswith(base):
        return None
    rest = iri[len(base):]
    document, hash_, fragment = rest.partition("#")
    anchor = f"#{fragment}" if hash_ else ""
    if document == "ontology":
        return "/ontology" + anchor
    if document.startswith("ontology/"):  # the version IRI (…/ontology/0.1.0) names the same ontology
        return "/ontology"
    if document == "shapes":
        return "/shapes" + anchor
    if not document or document.endswith("/"):
        return None
    return f"/{document}.html{anchor}"
