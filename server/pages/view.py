"""Turn a :class:`Description` into what the HTML page shows: labelled links, provenance,
estimates side by side and the treaty violations the thing is part of, with their explanation."""
from __future__ import annotations

import re

import pyoxigraph as ox

from yokuryu.graph.violations import find_violations
from yokuryu.ontology import EXTERNAL_GRAPH, GRAPH, INFERRED_GRAPH, LINKS_GRAPH, METADATA_GRAPH, ONTOLOGY_GRAPH, YK
from yokuryu.server.pages.labels import Labeller, curie, labels_of
from yokuryu.server.pages.description import RDF_TYPE, Description
from yokuryu.server.safe_links import href_for

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
DCTERMS_SOURCE = "http://purl.org/dc/terms/source"
DCTERMS_RELATION = "http://purl.org/dc/terms/relation"
RDFS_COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"


def page_view(store, description: Description, base: str, asserted_only: bool = False) -> dict:
    """Everything the resource template renders, as plain values (``asserted_only``: without
    the statements only the reasoner makes)."""
    view = _View(store, base)
    iri = description.iri
    hierarchy = Hierarchy.of(store)
    sections = []
    for subject in description.subjects:
        support = view.support(subject, description)
        outgoing, incoming = description.outgoing[subject], description.incoming[subject]
        if asserted_only:
            outgoing = [s for s in outgoing if not s.inferred]
            incoming = [s for s in incoming if not s.inferred]
        shown, folded = hierarchy.split(outgoing)
        if subject == iri:  # its dcterms:relation links are listed once, under "See also"
            shown = [s for s in shown if s.predicate.value != DCTERMS_RELATION]
        shown_in, folded_in = hierarchy.split(incoming, incoming=True)
        sections.append({
            "iri": subject,
            "anchor": subject.partition("#")[2],
            "label": view.label(subject),
            "text": _sentence_text(store, subject),
            "statements": [view.row(s, support) for s in shown],
            "folded": [view.row(s, support) for s in folded],
            "incoming": [view.row(s, view.support(s.subject.value, None)) for s in shown_in],
            "folded_incoming": [view.row(s) for s in folded_in],
        })
    types = hierarchy.most_specific(description.types())
    return {
        "iri": iri,
        "label": view.label(iri),
        "labels": sorted(((l.value, l.language or "") for l in labels_of(store, iri)), key=lambda l: (l[1] != "en", l)),
        "types": [view.term(ox.NamedNode(t)) for t in types],
        "sections": sections,
        "provenance": view.provenance(description),
        "estimates": view.estimates(iri),
        "violations": view.violations(iri, description),
        "graph_dump": _graph_dump(iri),
        "related": view.related(iri, hierarchy),
        "asserted_only": asserted_only,
    }


class Hierarchy:
    """Which properties and classes are more specific than which (from the ontology and its
    closure), so a page shows each fact once: with its most specific property and type."""

    def __init__(self, sub_properties: dict[str, set[str]], sub_classes: dict[str, set[str]]):
        self.sub_properties = sub_properties  # property -> its strict sub-properties
        self.sub_classes = sub_classes

    @classmethod
    def of(cls, store) -> "Hierarchy":
        def pairs(path: str) -> dict[str, set[str]]:
            found: dict[str, set[str]] = {}
            for row in store.query(f"SELECT DISTINCT ?sub ?super WHERE {{ ?sub {path} ?super FILTER(?sub != ?super) }}"):
                found.setdefault(row["super"].value, set()).add(row["sub"].value)
            return found
        return cls(pairs("rdfs:subPropertyOf+"), pairs("rdfs:subClassOf+"))

    def split(self, statements: list, incoming: bool = False) -> tuple[list, list]:
        """(shown, folded): an inferred statement is folded when a more specific one says the same."""
        by_pair: dict[tuple[str, str], set[str]] = {}
        types_of: dict[str, set[str]] = {}
        for s in statements:
            by_pair.setdefault((str(s.subject), str(s.object)), set()).add(s.predicate.value)
            if s.predicate == RDF_TYPE:
                types_of.setdefault(str(s.subject), set()).add(s.object.value)
        shown, folded = [], []
        for s in statements:
            redundant = False
            if s.inferred:
                if s.predicate == RDF_TYPE and not incoming:
                    redundant = bool(self.sub_classes.get(s.object.value, set()) & types_of.get(str(s.subject), set()))
                else:
                    siblings = by_pair[(str(s.subject), str(s.object))]
                    redundant = bool(self.sub_properties.get(s.predicate.value, set()) & siblings)
            (folded if redundant else shown).append(s)
        return shown, folded

    def most_specific(self, types: list[str]) -> list[str]:
        return [t for t in types if not (self.sub_classes.get(t, set()) & set(types))]


class _View:
    def __init__(self, store, base: str):
        self.store = store
        self.base = base
        self.label = Labeller(store, base)

    def href(self, iri: str) -> str:
        return href_for(iri, self.base)

    def term(self, term) -> dict:
        if isinstance(term, ox.NamedNode):
            return {"kind": "iri", "iri": term.value, "href": self.href(term.value), "label": self.label(term.value),
                    "local": term.value.startswith(self.base), "text": _sentence_text(self.store, term.value)}
        if isinstance(term, ox.BlankNode):
            return {"kind": "bnode", "iri": f"_:{term.value}", "label": f"_:{term.value}"}
        datatype = term.datatype.value
        shown_type = None if datatype in (XSD_STRING, RDF_LANG_STRING) else datatype
        return {"kind": "literal", "value": term.value, "lang": term.language or "",
                "datatype": shown_type, "datatype_label": curie(shown_type) if shown_type else None}

    def row(self, statement, support: dict | None = None) -> dict:
        """One statement with where it comes from: its graphs, and on the same row the source
        sentences (for a source graph) or the citation (for the external graph) that support it."""
        kinds = {self.graph_badge(g)["kind"] for g in statement.graphs}
        sentences, citations = [], []
        if support and statement.predicate.value not in (str(YK.statedIn), str(YK.mentionedIn), str(YK.citation)):
            if "source" in kinds:
                sentences = support["sentences"]
            if "external" in kinds:
                citations = support["citations_for"](statement.predicate.value)
        return {
            "subject": self.term(statement.subject),
            "predicate": self.term(statement.predicate),
            "object": self.term(statement.object),
            "inferred": statement.inferred,
            "graphs": [self.graph_badge(g) for g in statement.graphs],
            "sentences": sentences,
            "citations": citations,
        }

    def support(self, subject: str, description: Description | None) -> dict:
        """What supports a subject's statements: the sentences that state it, and its citations
        (each with the properties it supports, where a resource has several)."""
        node = ox.NamedNode(subject)

        def objects(s, p):
            return [q.object for q in self.store.oxigraph.quads_for_pattern(s, ox.NamedNode(str(p)), None, None)
                    if isinstance(q.object, ox.NamedNode)]

        stated = sorted({o.value for o in objects(node, YK.statedIn)}, key=_natural_key)
        sentences = [{**self.term(ox.NamedNode(s)), "short": _sentence_short(s)} for s in stated]
        cited = sorted({o.value for o in objects(node, YK.citation)}, key=_natural_key)
        scopes = {c: {o.value for o in objects(ox.NamedNode(c), YK.supportsProperty)} for c in cited}
        cache: dict[str, dict] = {}

        def citation(c: str) -> dict:
            if c not in cache:
                cache[c] = {**self.term(ox.NamedNode(c)), "short": _citation_short(c, self.label(c))}
            return cache[c]

        def citations_for(predicate: str) -> list[dict]:
            if len(cited) == 1:
                return [citation(cited[0])]
            scoped = [c for c in cited if predicate in scopes[c]]
            # No citation claims the statement: those that claim none support it; if every
            # citation claims some (the thing's type and label), they support it together.
            unscoped = [c for c in cited if not scopes[c]]
            return [citation(c) for c in (scoped or unscoped or cited)]

        return {"sentences": sentences, "citations_for": citations_for}

    def related(self, iri: str, hierarchy: "Hierarchy") -> list[dict]:
        """Where a reader goes next: the thing's ``dcterms:relation`` links (curated in the links
        graph), each with the graph that says so; where several are of one kind, that kind's
        class page too (the death-toll estimates side by side)."""
        query = f"""SELECT ?target ?g (GROUP_CONCAT(STR(?type); separator=" ") AS ?types) WHERE {{
          GRAPH ?g {{ {ox.NamedNode(iri)} <{DCTERMS_RELATION}> ?target }} FILTER(isIRI(?target))
          OPTIONAL {{ ?target a ?type FILTER(STRSTARTS(STR(?type), "{YK}")) }}
        }} GROUP BY ?target ?g"""
        links, kinds = [], {}
        for row in self.store.query(query):
            target = row["target"].value
            types = hierarchy.most_specific(sorted(set(row["types"].value.split())))
            links.append({**self.term(row["target"]), "why": ", ".join(self.label(t) for t in types),
                          "graph": self.graph_badge(row["g"].value)})
            for t in types:
                kinds.setdefault(t, set()).add(target)
        links.sort(key=lambda l: l["label"].lower())
        for kind, members in sorted(kinds.items()):
            if len(members) > 1:
                links.append({"kind": "page", "href": "/class/" + kind[len(str(YK)):],
                              "label": f"every {self.label(kind)}, side by side"})
        return links

    def graph_badge(self, graph: str) -> dict:
        kinds = {str(INFERRED_GRAPH): "inferred", str(EXTERNAL_GRAPH): "external", str(LINKS_GRAPH): "curated",
                 str(ONTOLOGY_GRAPH): "ontology", str(METADATA_GRAPH): "metadata"}
        if not graph:
            return {"kind": "default", "iri": "", "href": None, "label": "the default graph"}
        kind = kinds.get(graph) or ("source" if graph.startswith(str(GRAPH) + "source/") else "asserted")
        return {"kind": kind, "iri": graph, "href": self.href(graph), "label": self.label(graph)}

    def provenance(self, description: Description) -> dict:
        """Where the thing's statements come from: sentences, citations, flags."""
        iri = description.iri
        sentences = []
        for relation, predicate in (("stated in", YK.statedIn), ("mentioned in", YK.mentionedIn)):
            values = [v for v in description.values(str(predicate)) if isinstance(v, ox.NamedNode)]
            for value in sorted(values, key=lambda v: _natural_key(v.value)):  # S2 before S10
                sentences.append({"relation": relation, **self.term(value)})
        citations = []
        for value in description.values(str(YK.citation)):
            if isinstance(value, ox.NamedNode):
                citations.append(self.citation(value.value))
        flags = [v.value for v in description.values(str(YK.citationNeeded)) if isinstance(v, ox.Literal)]
        markers = [v.value for v in description.values(str(YK.referenceMarker)) if isinstance(v, ox.Literal)]
        graphs = {g for s in description.outgoing[iri] for g in s.graphs}
        return {
            "sentences": sentences,
            "citations": citations,
            "citation_needed": any(f in ("true", "1") for f in flags),
            "reference_markers": markers,
            "graphs": [self.graph_badge(g) for g in sorted(graphs)],
        }

    def citation(self, iri: str) -> dict:
        node = ox.NamedNode(iri)

        def objects(predicate):
            return [q.object for q in self.store.oxigraph.quads_for_pattern(node, ox.NamedNode(str(predicate)), None, None)]

        return {
            **self.term(node),
            "sources": [o.value for o in objects(DCTERMS_SOURCE) if isinstance(o, ox.NamedNode)],
            "confidence": [self.term(o) for o in objects(YK.confidence)],
            "comment": [o.value for o in objects(RDFS_COMMENT) if isinstance(o, ox.Literal)],
        }

    def estimates(self, iri: str) -> list[dict]:
        """The estimates that are this thing, point at it or estimate the same thing as it,
        with holder and basis side by side."""
        target = ox.NamedNode(iri)
        query = f"""SELECT DISTINCT ?estimate ?value ?min ?max ?holder ?basis ?sentence WHERE {{
          {{ BIND({target} AS ?estimate) ?estimate a yk:Estimate }}
          UNION {{ ?estimate a yk:Estimate ; ?link {target} FILTER(?link != rdf:type) }}
          UNION {{ # on an estimate's page, the estimates of the same thing, to compare
            {target} a yk:Estimate ; ?about ?topic . ?estimate a yk:Estimate ; ?about ?topic
            VALUES ?about {{ yk:countOf yk:about }}
          }}
          OPTIONAL {{ ?estimate yk:estimatedValue ?value }}
          OPTIONAL {{ ?estimate yk:minimumValue ?min }}
          OPTIONAL {{ ?estimate yk:maximumValue ?max }}
          OPTIONAL {{ ?estimate yk:heldBy ?holder }}
          OPTIONAL {{ ?estimate yk:basis ?basis }}
          OPTIONAL {{ ?estimate yk:statedIn ?sentence }}
        }}"""
        found: dict[str, dict] = {}
        for row in self.store.query(query):
            key = row["estimate"].value
            entry = found.setdefault(key, {"estimate": self.term(row["estimate"]), "number": "",
                                           "holders": [], "bases": [], "sentences": []})
            if row["value"] is not None:
                entry["number"] = f"{int(row['value'].value):,}" if row["value"].value.lstrip("-").isdigit() else row["value"].value
            elif row["min"] is not None or row["max"] is not None:
                low = _number(row["min"])
                high = _number(row["max"])
                entry["number"] = f"{low} – {high}" if low and high else (f"at least {low}" if low else f"at most {high}")
            for name, var in (("holders", "holder"), ("sentences", "sentence")):
                if row[var] is not None and all(t["iri"] != row[var].value for t in entry[name]):
                    entry[name].append(self.term(row[var]))
            if row["basis"] is not None and row["basis"].value not in entry["bases"]:
                entry["bases"].append(row["basis"].value)
        return sorted(found.values(), key=lambda e: e["estimate"]["label"])

    def violations(self, iri: str, description: Description) -> list[dict]:
        """The violations the rules derived that involve this thing (as instrument, provision,
        agent, act or the violation itself), each with its explanation chain, evidence and caveats.

        The explanation is read by ``yokuryu.graph.violations`` — the same code as the CLI's —
        and only linked and labelled here."""
        involved = self._violations_involving(iri)
        if not involved:
            return []
        found = []
        for v in _all_violations(self.store):
            if v.iri not in involved:
                continue
            node = lambda value: self.term(ox.NamedNode(value))  # noqa: E731
            found.append({
                "violation": node(v.iri), "kind": v.kind, "rule": node(v.rule),
                "instrument": node(v.instrument), "in_force_from": v.in_force_from, "in_force_until": v.in_force_until,
                "provision": node(v.provision), "provision_text": v.provision_text,
                "provision_text_is_verbatim": v.provision_text_is_verbatim, "breached_kind": v.breached_kind,
                "agent": node(v.agent), "act": node(v.act), "act_kind": v.act_kind,
                "act_start": v.act_start, "act_end": v.act_end,
                "binding_action": node(v.binding_action), "bound_from": v.bound_from,
                "overlap_start": v.overlap_start, "overlap_end": v.overlap_end,
                "caveats": v.caveats,
                "premises": [{
                    "role": p.role, "term": node(p.iri), "citation_needed": p.citation_needed,
                    "marker": p.reference_marker,
                    "evidence": [{"term": node(e.iri), "confidence": e.confidence,
                                  "sentence_number": e.sentence_number,
                                  "sentence_text": e.label if e.is_sentence else None} for e in p.evidence],
                } for p in v.premises],
            })
        return sorted(found, key=lambda v: v["violation"]["label"])

    def _violations_involving(self, iri: str) -> set[str]:
        """Violations that are this thing or name it as instrument, provision, agent or act."""
        node = ox.NamedNode(iri)
        found = set()
        if any(True for _ in self.store.oxigraph.quads_for_pattern(node, RDF_TYPE, ox.NamedNode(str(YK.TreatyViolation)), None)):
            found.add(iri)
        for role in (YK.violatedInstrument, YK.violatedProvision, YK.violatingAgent, YK.violatingAct):
            found.update(q.subject.value for q in self.store.oxigraph.quads_for_pattern(None, ox.NamedNode(str(role)), node, None))
        return found


_VIOLATIONS: dict[tuple[int, float], list] = {}


def _all_violations(store) -> list:
    """The explained violations, read once per state of the store: the explanation query takes
    ~0.5 s, and violations change only when the data does (``store.changed_at``)."""
    key = (id(store), store.changed_at)
    if key not in _VIOLATIONS:
        _VIOLATIONS.clear()
        _VIOLATIONS[key] = find_violations(store)
    return _VIOLATIONS[key]


def _natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _sentence_short(iri: str) -> str:
    fragment = iri.rpartition("#")[2]
    return fragment.upper() if fragment[:1] == "s" and fragment[1:].isdigit() else fragment


def _citation_short(iri: str, label: str) -> str:
    """``E1`` for a citation labelled ``E1: …``."""
    head = label.split(":", 1)[0]
    return head if 1 < len(head) <= 5 else "citation"


def _text(term) -> str | None:
    return term.value if term is not None else None


def _number(term) -> str:
    if term is None:
        return ""
    return f"{int(term.value):,}" if term.value.lstrip("-").isdigit() else term.value


def _sentence_text(store, iri: str) -> str | None:
    for quad in store.oxigraph.quads_for_pattern(ox.NamedNode(iri), ox.NamedNode(str(YK.sentenceText)), None, None):
        return quad.object.value
    return None


def _graph_dump(iri: str) -> str | None:
    """The dump of a named graph, when the IRI names one of ours."""
    if iri.startswith(str(GRAPH)):
        return iri[len(str(GRAPH)):]
    return None
