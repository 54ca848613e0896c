"""``/``: the query UI and the overview of what the graph holds.

The editor, its syntax highlighting and the results table are plain JavaScript served from
``server/static`` (no CDN, no build step). Queries go to ``/sparql`` like any other client's;
``/?query=…`` reproduces a query, so a link to it can be shared.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pyoxigraph as ox
from flask import Blueprint, redirect, render_template, request, url_for

from yokuryu.graph.sources import bundled_sources
from yokuryu.ontology import GRAPH, PREFIXES
from yokuryu.server.pages.labels import Labeller, local_page
from yokuryu.server.store_access import get_config, get_store

blueprint = Blueprint("home", __name__)

# Good first pages, shown when the graph holds them.
STARTING_POINTS = (
    "resource/internment-of-japanese-pows",
    "resource/potsdam-declaration",
    "resource/soviet-japanese-neutrality-pact",
    "resource/estimate-japanese-interned-in-ussr-and-mongolia",
    "resource/soviet-union",
)
DEFAULT_QUERY = """SELECT ?thing ?label WHERE {
  ?thing a yk:InternationalInstrument ;
         rdfs:label ?label .
}
ORDER BY ?label"""


@dataclass(frozen=True)
class ExampleQuery:
    name: str
    question: str
    text: str


@blueprint.get("/")
def home():
    if "query" in request.args:  # links shared before the editor moved to /query keep working
        return redirect(url_for("home.query_page", **request.args), code=301)
    return query_page()


@blueprint.get("/query")
def query_page():
    query = request.args.get("query")
    store = get_store()
    base = get_config().base_iri
    label = Labeller(store, base)
    return render_template(
        "home.html", title="Query and overview", base=base, prefixes=PREFIXES,
        query=query if query is not None else DEFAULT_QUERY, run_now=query is not None,
        examples=example_queries(), classes=class_counts(store, label, base),
        graphs=named_graphs(store, label, base), sources=source_documents(label, base),
        starting_points=[{"href": local_page(base + path, base), "label": label(base + path)}
                         for path in STARTING_POINTS if _exists(store, base + path)],
    )


def example_queries() -> list[ExampleQuery]:
    """The competency-question queries shipped in ``graph/queries``, whatever exists now."""
    folder = resources.files("yokuryu.graph") / "queries"
    if not folder.is_dir():
        return []
    examples = []
    for file in sorted(folder.iterdir(), key=lambda f: f.name):
        if not (file.name.startswith("cq") and file.name.endswith(".rq")):
            continue
        text = file.read_text(encoding="utf-8")
        question = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")),
                        file.name)
        examples.append(ExampleQuery(file.name[:-len(".rq")], question, text))
    return examples


def class_counts(store, label: Labeller, base: str) -> list[dict]:
    """How many things of each class of the ontology the graph holds (asserted or inferred)."""
    query = """SELECT ?class (COUNT(DISTINCT ?thing) AS ?n) WHERE {
      ?thing a ?class FILTER(STRSTARTS(STR(?class), STR(yk:)))
    } GROUP BY ?class ORDER BY DESC(?n) ?class"""
    return [{"iri": row["class"].value, "label": label(row["class"].value),
             "href": local_page(row["class"].value, base) or row["class"].value, "count": int(row["n"].value)}
            for row in store.query(query)]


def named_graphs(store, label: Labeller, base: str) -> list[dict]:
    """Each named graph with its live triple count and its dumps."""
    graphs = []
    for name in store.graph_names():
        local = name[len(str(GRAPH)):] if name.startswith(str(GRAPH)) else None
        graphs.append({"iri": name, "label": label(name), "count": store.graph_count(name),
                       "href": local_page(name, base), "dump": local})
    return graphs


def source_documents(label: Labeller, base: str) -> list[dict]:
    return [{"iri": str(doc.iri), "href": local_page(str(doc.iri), base), "title": label(str(doc.iri)),
             "sentences": len(doc.sentences())} for doc in bundled_sources()]


def _exists(store, iri: str) -> bool:
    return next(iter(store.oxigraph.quads_for_pattern(ox.NamedNode(iri), None, None, None)), None) is not None
