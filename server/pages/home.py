"""``/``: the home page, which starts with the story; ``/query``: the SPARQL editor.

The editor, its syntax highlighting and the results table are plain JavaScript served from
``server/static`` (no CDN, no build step). Queries go to ``/sparql`` like any other client's;
``/query?query=…`` reproduces a query, so a link to it can be shared.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pyoxigraph as ox
from flask import Blueprint, redirect, render_template, request, url_for

from yokuryu.graph.sources import bundled_sources
from yokuryu.ontology import GRAPH, PREFIXES, YK
from yokuryu.server.figures import figures, works_out
from yokuryu.server.pages.browse import count_classes
from yokuryu.server.pages.labels import Labeller, local_page
from yokuryu.server.safe_links import href_for
from yokuryu.server.store_access import get_config

blueprint = Blueprint("home", __name__)

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
    """The story first — the internment, the treaties, the camps, the estimates, the works, the
    people, the source text — each a click from its things; the editor is one click away."""
    if "query" in request.args:  # links shared before the editor moved to /query keep working
        return redirect(url_for("home.query_page", **request.args), code=301)
    base = get_config().base_iri
    content = figures("home", (base,), store_content, base)
    shown = content.value if content.value is not None else {
        "internment": None, "topics": [], "estimates": [], "classes": [], "graphs": [], "sources": []}
    return render_template(
        "home.html", title="Japanese prisoners of war in the Soviet Union", source=source_prose(base),
        figures_note=content.note, **shown)


@works_out
def store_content(store, base: str) -> dict:
    """What the home page shows of the store: topics, estimates, counts per class and per graph.

    Each walks a class or the whole store: worked out in a query process once per state of the
    store (:mod:`yokuryu.server.figures`)."""
    label = Labeller(store, base)
    internment = base + INTERNMENT
    return {
        "internment": {"href": local_page(internment, base), "label": label(internment)}
        if _exists(store, internment) else None,
        "topics": [topic(store, label, base, *spec) for spec in TOPICS],
        "estimates": estimate_rows(store, label, base),
        "classes": count_classes(store, label), "graphs": named_graphs(store, label, base),
        "sources": source_documents(label, base),
    }


@blueprint.get("/query")
def query_page():
    """The SPARQL editor; ``/query?query=…`` reproduces a query, so a link to it can be shared."""
    query = request.args.get("query")
    return render_template(
        "query.html", title="Query", base=get_config().base_iri, prefixes=PREFIXES,
        query=query if query is not None else DEFAULT_QUERY, run_now=query is not None,
        examples=example_queries(),
    )


# What the home page tells, in order: (heading, class, what the class page is for).
INTERNMENT = "resource/internment-of-japanese-pows"
TOPICS = (
    ("The treaties and declarations", "InternationalInstrument",
     "The instruments the Soviet Union and Japan were bound by, with the violations the rules derive."),
    ("The camps", "LabourCamp", "Where the prisoners were held, and who ran the camps."),
    ("Works about it", "Work", "Novels, films and memoirs about the internment."),
    ("People", "Person", "The people the source and the verified facts name."),
)
TOPIC_ITEMS = 12


def topic(store, label: Labeller, base: str, heading: str, name: str, blurb: str) -> dict:
    cls = str(YK) + name
    members = sorted({row["x"].value for row in store.query(f"SELECT DISTINCT ?x WHERE {{ ?x a <{cls}> FILTER(isIRI(?x)) }}")})
    items = sorted(({"href": href_for(m, base), "label": label(m), "iri": m} for m in members),
                   key=lambda i: i["label"].lower())
    return {"heading": heading, "blurb": blurb, "class": name, "href": f"/class/{name}", "count": len(items),
            "items": items[:TOPIC_ITEMS], "more": max(0, len(items) - TOPIC_ITEMS)}


def estimate_rows(store, label: Labeller, base: str) -> list[dict]:
    """Every estimate with its number (or range), so the figures are one glance from the story."""
    query = """SELECT ?e (SAMPLE(?v) AS ?value) (SAMPLE(?lo) AS ?min) (SAMPLE(?hi) AS ?max) WHERE {
      ?e a yk:Estimate FILTER(isIRI(?e))
      OPTIONAL { ?e yk:estimatedValue ?v } OPTIONAL { ?e yk:minimumValue ?lo } OPTIONAL { ?e yk:maximumValue ?hi }
    } GROUP BY ?e"""
    rows = []
    for row in store.query(query):
        number = _figure(row["value"]) or " – ".join(x for x in (_figure(row["min"]), _figure(row["max"])) if x)
        rows.append({"href": local_page(row["e"].value, base), "label": label(row["e"].value), "number": number,
                     "iri": row["e"].value})
    return sorted(rows, key=lambda r: r["label"].lower())


def source_prose(base: str) -> list[dict]:
    """The source documents as readable prose: their sentences in order, each linked to its page."""
    documents = []
    for doc in bundled_sources():
        page = local_page(str(doc.iri), base)
        documents.append({"href": page, "sentences": [
            {"number": n, "text": text, "href": f"{page}#s{n}"} for n, text in enumerate(doc.sentences(), start=1)]})
    return documents


def _figure(term) -> str:
    if term is None:
        return ""
    return f"{int(term.value):,}" if term.value.lstrip("-").isdigit() else term.value


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
