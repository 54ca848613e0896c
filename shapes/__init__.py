"""SHACL shapes that the data must satisfy (and, with SHACL-AF, the rules that derive findings)."""
from __future__ import annotations

from importlib import resources

from rdflib import Graph

SHAPES_IRI = "https://w3id.org/yokuryu/shapes"


def shapes_files():
    """The Turtle files of the shapes graph, in a stable order."""
    folder = resources.files(__name__)
    return sorted((f for f in folder.iterdir() if f.name.endswith(".ttl")), key=lambda f: f.name)


def load_shapes() -> Graph:
    """Parse every bundled shapes file into one rdflib graph."""
    graph = Graph()
    for file in shapes_files():
        graph.parse(data=file.read_text(encoding="utf-8"), format="turtle", publicID=SHAPES_IRI)
    return graph
