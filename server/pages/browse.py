"""Browsing without SPARQL: a page per class listing its members, and a timeline of dated events.

Both are read from the store on each request, so they stay true after writes; both are plain
HTML and CSS (no script, no external resource), so they work offline and print.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

import pyoxigraph as ox
from flask import Blueprint, render_template, request

from yokuryu.ontology import YK
from yokuryu.server.errors import ProtocolError
from yokuryu.server.figures import figures, works_out
from yokuryu.server.pages.documents import not_found
from yokuryu.server.pages.labels import Labeller
from yokuryu.server.pages.view import _View
from yokuryu.server.safe_links import href_for
from yokuryu.server.store_access import get_config, get_store

blueprint = Blueprint("browse", __name__)

PAGE_SIZE = 50
XSD = "http://www.w3.org/2001/XMLSchema#"
# The properties that date a thing, with how the timeline words them.
DATE_PROPERTIES = {
    "date": "", "onDate": "", "startDate": "begins", "endDate": "ends", "signedOn": "signed",
    "adoptedOn": "adopted", "inForceFrom": "in force", "inForceUntil": "in force until",
    "foundingDate": "founded", "birthDate": "born", "deathDate": "died",
}


@blueprint.get("/class")
def classes():
    """Every class of the ontology that has members, with their number."""
    base = get_config().base_iri
    counts = figures("class counts", (base,), class_counts, base)
    return render_template("classes.html", title="Things by class", classes=counts.value or [],
                           figures_note=counts.note)


@blueprint.get("/class/<name>")
def class_page(name: str):
    """The members of one class (asserted or inferred), labelled, paged, with facets."""
    store, base = get_store(), get_config().base_iri
    cls = str(YK) + name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or not _is_class(store, cls):
        return not_found(cls)
    label = Labeller(store, base)
    page = _page_number()
    narrower = request.args.get("type", "").strip()
    graph_kind = request.args.get("graph", "").strip()
    sentence = request.args.get("sentence", "").strip()
    first, last = _year_param("from"), _year_param("to")
    if first and last and first > last:
        raise ProtocolError(f"400 Bad Request: from={first} is after to={last}; give from ≤ to")
    members = _members(store, cls)
    sentences = _sentences_of(store, [m.iri for m in members])
    spans = _spans_of(store, [m.iri for m in members])
    facets = {
        "types": _type_facet(store, cls, members, label, narrower),
        "graphs": _graph_facet(members, graph_kind),
        "sentences": _sentence_facet(sentences, sentence),
        "decades": _decade_facet(spans, first, last),
    }
    if narrower:
        members = [m for m in members if str(YK) + narrower in m.types]
    if graph_kind:
        members = [m for m in members if graph_kind in m.graph_kinds]
    if sentence:
        members = [m for m in members if sentence in sentences.get(m.iri, set())]
    if first or last:
        members = [m for m in members if m.iri in spans and _overlaps(spans[m.iri], first, last)]
    rows = sorted(({"iri": m.iri, "label": label(m.iri), "href": href_for(m.iri, base),
                    "types": [label(t) for t in m.types if t != cls and t.startswith(str(YK))],
                    "dates": spans[m.iri].shown if m.iri in spans else None}
                   for m in members), key=lambda r: r["label"].lower())
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    if page > pages:
        raise ProtocolError(f"404 Not Found: page {page} of {label(cls)} does not exist; there are {pages}", 404)
    shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    return render_template(
        "class.html", title=label(cls).capitalize(), cls={"iri": cls, "name": name, "label": label(cls),
                                                          "definition": _definition(store, cls)},
        rows=shown, total=len(rows), page=page, pages=pages, facets=facets,
        chosen={"type": narrower, "graph": graph_kind, "sentence": sentence, "from": first, "to": last},
        first_index=(page - 1) * PAGE_SIZE + 1)


@blueprint.get("/timeline")
def timeline():
    """Dated events in order; a partial date (a year, a month) is shown as the range it covers.

    ``?from=1945&to=1956`` keeps the entries whose range overlaps those years (the decade
    links do this)."""
    store, base = get_store(), get_config().base_iri
    view = _View(store, base)
    entries = timeline_entries(store, view)
    first, last = _year_param("from"), _year_param("to")
    if first and last and first > last:
        raise ProtocolError(f"400 Bad Request: from={first} is after to={last}; give from ≤ to")
    decades = sorted({e.start[:3] + "0" for e in entries})
    if first:
        entries = [e for e in entries if e.end[:4] >= first]
    if last:
        entries = [e for e in entries if e.start[:4] <= last]
    years: dict[str, list] = {}
    for entry in entries:
        years.setdefault(entry.start[:4], []).append(entry)
    return render_template("timeline.html", title="Timeline", years=years, count=len(entries),
                           decades=decades, chosen={"from": first, "to": last})


def _year_param(name: str) -> str | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]{4}", raw):  # not \d: digits of other scripts would compare as text
        raise ProtocolError(f"400 Bad Request: {name}={raw!r} is not a year; give four digits, e.g. {name}=1945")
    return raw


# --- class pages ------------------------------------------------------------------------------


@works_out
def class_counts(store, base: str) -> list[dict]:
    """Each yk: class with members and their number. The count walks every rdf:type statement:
    worked out in a query process once per state of the store (:mod:`yokuryu.server.figures`)."""
    return count_classes(store, Labeller(store, base))


def count_classes(store, label: Labeller) -> list[dict]:
    query = """SELECT ?class (COUNT(DISTINCT ?thing) AS ?n) WHERE {
      ?thing a ?class FILTER(STRSTARTS(STR(?class), STR(yk:)) && isIRI(?thing))
    } GROUP BY ?class ORDER BY DESC(?n) ?class"""
    return [{"iri": row["class"].value, "label": label(row["class"].value), "name": row["class"].value[len(str(YK)):],
             "href": "/class/" + row["class"].value[len(str(YK)):], "count": int(row["n"].value)}
            for row in store.query(query)]


@dataclass
class Member:
    iri: str
    types: set[str]
    graph_kinds: set[str]


def _members(store, cls: str) -> list[Member]:
    """Members with their yk: types and the kinds of graph that say they are members."""
    query = f"""SELECT ?thing ?type ?g WHERE {{
      ?thing a <{cls}> FILTER(isIRI(?thing))
      GRAPH ?g {{ ?thing a ?type }}
    }}"""
    found: dict[str, Member] = {}
    for row in store.query(query):
        member = found.setdefault(row["thing"].value, Member(row["thing"].value, set(), set()))
        member.types.add(row["type"].value)
        if row["type"].value == cls:
            member.graph_kinds.add(_graph_kind(row["g"].value))
    return list(found.values())


def _graph_kind(graph: str) -> str:
    tail = graph.rsplit("/graph/", 1)[-1]
    return "source" if tail.startswith("source/") else tail


def _type_facet(store, cls: str, members: list[Member], label: Labeller, chosen: str) -> list[dict]:
    """The narrower yk: classes among the members, with counts (only when there are several)."""
    counts: dict[str, int] = {}
    for member in members:
        for t in member.types:
            if t != cls and t.startswith(str(YK)) and _is_narrower(store, t, cls):
                counts[t] = counts.get(t, 0) + 1
    facet = [{"name": t[len(str(YK)):], "label": label(t), "count": n, "chosen": t[len(str(YK)):] == chosen}
             for t, n in counts.items() if n < len(members) or len(counts) > 1]
    return sorted(facet, key=lambda f: (-f["count"], f["label"]))


def _graph_facet(members: list[Member], chosen: str) -> list[dict]:
    counts: dict[str, int] = {}
    for member in members:
        for kind in member.graph_kinds:
            counts[kind] = counts.get(kind, 0) + 1
    if len(counts) < 2:
        return []
    return [{"name": k, "count": n, "chosen": k == chosen} for k, n in sorted(counts.items())]


def _sentences_of(store, things: list[str]) -> dict[str, set[str]]:
    """The source sentences (``s3`` …) that state or mention each thing."""
    if not things:
        return {}
    values = " ".join(f"<{t}>" for t in things)
    query = f"""SELECT ?thing ?sentence WHERE {{ VALUES ?thing {{ {values} }}
      ?thing yk:statedIn|yk:mentionedIn ?sentence }}"""
    found: dict[str, set[str]] = {}
    for row in store.query(query):
        found.setdefault(row["thing"].value, set()).add(row["sentence"].value.rpartition("#")[2])
    return found


def _sentence_facet(sentences: dict[str, set[str]], chosen: str) -> list[dict]:
    counts: dict[str, int] = {}
    for found in sentences.values():
        for s in found:
            counts[s] = counts.get(s, 0) + 1
    if len(counts) < 2:
        return []
    order = sorted(counts, key=lambda s: int(s[1:]) if s[1:].isdigit() else 0)
    return [{"name": s, "label": s.upper(), "count": counts[s], "chosen": s == chosen} for s in order]


@dataclass
class Span:
    start: str  # first day any of the thing's dates covers
    end: str  # last day
    shown: str  # the dates as the data gives them: "1941-04-13 – 1946-04"


def _spans_of(store, things: list[str]) -> dict[str, Span]:
    """From the earliest to the latest date the asserted graphs give each thing (the timeline's
    dates: signature, start, end, birth …); partial dates cover their whole month or year."""
    if not things:
        return {}
    values = " ".join(f"<{t}>" for t in things)
    properties = " ".join(f"<{YK}{p}>" for p in DATE_PROPERTIES)
    query = f"""SELECT DISTINCT ?thing ?date WHERE {{ VALUES ?thing {{ {values} }} VALUES ?property {{ {properties} }}
      GRAPH ?g {{ ?thing ?property ?date }} FILTER(?g != ykg:inferred && ?g != ykg:ontology && ?g != ykg:shapes) }}"""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for row in store.query(query):
        span = date_range(row["date"])
        if span is not None:
            found.setdefault(row["thing"].value, []).append((span[0], span[1], row["date"].value))
    spans = {}
    for thing, dates in found.items():
        earliest = min(dates)
        latest = max(dates, key=lambda d: (d[1], d[0]))
        shown = earliest[2] if earliest == latest else f"{earliest[2]} – {latest[2]}"
        spans[thing] = Span(earliest[0], latest[1], shown)
    return spans


def _overlaps(span: Span, first: str | None, last: str | None) -> bool:
    return (not first or span.end[:4] >= first) and (not last or span.start[:4] <= last)


def _decade_facet(spans: dict[str, Span], first: str | None, last: str | None) -> list[dict]:
    """The decades the members' dates fall in, with how many members each (a span counts in
    every decade it overlaps); only when at least two members are dated."""
    if len(spans) < 2:
        return []
    counts: dict[int, int] = {}
    for span in spans.values():
        for decade in range(int(span.start[:3]) * 10, int(span.end[:3]) * 10 + 1, 10):
            counts[decade] = counts.get(decade, 0) + 1
    return [{"from": str(d), "to": str(d + 9), "label": f"{d}s", "count": n,
             "chosen": first == str(d) and last == str(d + 9)} for d, n in sorted(counts.items())]


def _is_class(store, iri: str) -> bool:
    return store.query(f"ASK {{ {{ <{iri}> a owl:Class }} UNION {{ ?x a <{iri}> }} }}")


def _is_narrower(store, sub: str, sup: str) -> bool:
    return store.query(f"ASK {{ <{sub}> rdfs:subClassOf+ <{sup}> }}")


def _definition(store, iri: str) -> str | None:
    for quad in store.oxigraph.quads_for_pattern(
            ox.NamedNode(iri), ox.NamedNode("http://www.w3.org/2004/02/skos/core#definition"), None, None):
        return quad.object.value
    return None


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ProtocolError(f"400 Bad Request: page={raw!r} is not a page number; pages count from 1")
    return int(raw)


# --- the timeline -----------------------------------------------------------------------------------


@dataclass
class Entry:
    start: str  # ISO date of the first day the date covers
    end: str  # ISO date of the last day
    shown: str  # the date as the data gives it: 1946, 1946-12, 1946-12-26
    what: str  # how the property words it ("signed", "begins" …)
    thing: dict
    sentences: list
    citations: list
    inferred: bool = False

    @property
    def is_range(self) -> bool:
        return self.start != self.end


def timeline_entries(store, view: _View) -> list[Entry]:
    """Every date of the asserted graphs (source and external), as entries in date order."""
    properties = " ".join(f"<{YK}{p}>" for p in DATE_PROPERTIES)
    query = f"""SELECT DISTINCT ?thing ?property ?date WHERE {{
      GRAPH ?g {{ ?thing ?property ?date }}
      VALUES ?property {{ {properties} }}
      FILTER(isIRI(?thing) && ?g != ykg:inferred && ?g != ykg:ontology && ?g != ykg:shapes)
    }}"""
    entries = []
    for row in store.query(query):
        span = date_range(row["date"])
        if span is None:
            continue
        thing = row["thing"].value
        support = view.support(thing, None)
        prop = row["property"].value
        entries.append(Entry(span[0], span[1], row["date"].value, DATE_PROPERTIES[prop[len(str(YK)):]],
                             view.term(row["thing"]), support["sentences"] or _mentions(store, view, thing),
                             support["citations_for"](prop)))
    return sorted(entries, key=lambda e: (e.start, e.end, e.thing["label"]))


def date_range(literal) -> tuple[str, str] | None:
    """The first and last day an xsd:date, gYearMonth or gYear covers (None for anything else)."""
    if not isinstance(literal, ox.Literal):
        return None
    value, datatype = literal.value, literal.datatype.value
    if datatype == XSD + "date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value, value
    if datatype == XSD + "gYearMonth" and re.fullmatch(r"\d{4}-\d{2}", value):
        year, month = int(value[:4]), int(value[5:])
        return f"{value}-01", f"{value}-{calendar.monthrange(year, month)[1]:02d}"
    if datatype == XSD + "gYear" and re.fullmatch(r"\d{4}", value):
        return f"{value}-01-01", f"{value}-12-31"
    return None


def _mentions(store, view: _View, thing: str) -> list[dict]:
    """Sentences that mention a thing, when none states it."""
    found = sorted({q.object.value for q in store.oxigraph.quads_for_pattern(
        ox.NamedNode(thing), ox.NamedNode(str(YK.mentionedIn)), None, None) if isinstance(q.object, ox.NamedNode)},
        key=lambda s: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)])
    return [{**view.term(ox.NamedNode(s)), "short": s.rpartition("#")[2].upper()} for s in found]

