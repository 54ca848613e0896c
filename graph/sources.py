"""Source documents shipped as data: each ``graph/sources/<slug>.txt`` (one sentence per line)
with ``<slug>.ttl`` (its title, address, licence) becomes a document resource and one
``yk:Sentence`` resource per line, ``…/source/<slug>#s<n>``, carrying the verbatim text."""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, XSD

from yokuryu.ontology import SOURCE, YK


@dataclass(frozen=True)
class SourceDocument:
    slug: str
    text: Traversable
    metadata: Traversable

    @property
    def iri(self) -> URIRef:
        return SOURCE[self.slug]

    def sentence_iri(self, number: int) -> URIRef:
        return URIRef(f"{self.iri}#s{number}")

    def sentences(self) -> list[str]:
        """The document's sentences, in order; line n is sentence n."""
        return self.text.read_text(encoding="utf-8").splitlines()

    def to_graph(self) -> Graph:
        """The document's metadata plus one resource per sentence."""
        graph = Graph()
        graph.parse(data=self.metadata.read_text(encoding="utf-8"), format="turtle")
        for number, text in enumerate(self.sentences(), start=1):
            sentence = self.sentence_iri(number)
            graph.add((sentence, RDF.type, YK.Sentence))
            graph.add((sentence, RDFS.label, Literal(f"{self.slug}, sentence {number}", lang="en")))
            graph.add((sentence, YK.sentenceNumber, Literal(number, datatype=XSD.positiveInteger)))
            graph.add((sentence, YK.sentenceText, Literal(text, lang="en")))
            graph.add((sentence, YK.inDocument, self.iri))
        return graph


def data_root() -> Traversable:
    """The folder holding ``sources/`` and ``data/``: the installed ``graph/``, or ``YOKURYU_DATA_DIR``
    (``--data-dir``), which lets an installed Yokuryū use documents added to a copy of ``graph/``."""
    configured = os.environ.get("YOKURYU_DATA_DIR")
    return Path(configured) if configured else resources.files("yokuryu.graph")


def bundled_sources() -> list[SourceDocument]:
    """Every source document in ``sources/`` of the data root (see :func:`data_root`), sorted by slug."""
    folder = data_root() / "sources"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no sources folder (--data-dir must be laid out like graph/: "
                                "sources/*.txt with *.ttl, data/*.trig)")
    docs = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".txt"):
            slug = entry.name[: -len(".txt")]
            metadata = folder / f"{slug}.ttl"
            if not metadata.is_file():
                raise FileNotFoundError(f"graph/sources/{slug}.txt has no metadata file graph/sources/{slug}.ttl")
            docs.append(SourceDocument(slug, entry, metadata))
    return docs
