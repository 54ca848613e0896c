"""Turn a :class:`Description` into what the HTML page shows: labelled links, provenance,
estimates side by side and the treaty violations the thing is part of, with their explanation."""
from __future__ import annotations

import re
from importlib import resources

import pyoxigraph as ox

from yokuryu.ontology import EXTERNAL_GRAPH, GRAPH, INFERRED_GRAPH, METADATA_GRAPH, ONTOLOGY_GRAPH, YK
from yokuryu.server.pages.labels import Labeller, curie, labels_of
from yokuryu.server.pages.labels import local_page as _local_page
from yokuryu.server.pages.description import RDF_TYPE, Description

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
DCTERMS_SOURCE = "http://purl.org/dc/terms/source"
RDFS_COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"


def page_view(store, description: Description, base: str) -> dict:
    """Everything the resource template renders, as plain values."""
    view = _View(store, base)
    iri = description.iri
    sections = []
    for subject in description.subjects:
        sections.append({
            "iri": subject,
            "anchor": subject.partition("#")[2],
            "label": view.label(subject),
            "text": _sentence_text(store, subject),
            "statements": [view.row(s) for s in description.outgoing[subject]],
            "incoming": [view.row(s) for s in description.incoming[subject]],
        })
    return {
        "iri": iri,
        "label": view.label(iri),
        "labels": sorted(((l.value, l.language or "") for l in labels_of(store, iri)), key=lambda l: (l[1] != "en", l)),
        "types": [view.term(ox.NamedNode(t)) for t in description.types()],
        "sections": sections,
        "provenance": view.provenance(description),
        "estimates": view.estimates(iri),
        "violations": view.violations(iri, description),
        "graph_dump": _graph_dump(iri),
    }


class _View:
    def __init__(self, store, base: str):
        self.store = store
        self.base = base
        self.label = Labeller(store, base)

    def href(self, iri: str) -> str:
        return _local_page(iri, self.base) or iri

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

    def row(self, statement) -> dict:
        return {
            "subject": self.term(statement.subject),
            "predicate": self.term(statement.predicate),
            "object": self.term(statement.object),
            "inferred": statement.inferred,
            "graphs": [self.graph_badge(g) for g in statement.graphs],
        }

    def graph_badge(self, graph: str) -> dict:
        kinds = {str(INFERRED_GRAPH): "inferred", str(EXTERNAL_GRAPH): "external",
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
            for value in description.values(str(predicate)):
                if isinstance(value, ox.NamedNode):
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
        agent, act or the violation itself), each with its explanation chain and evidence."""
        query_file = resources.files("yokuryu.graph") / "queries" / "explain-violation.rq"
        involved = self._violations_involving(iri)
        if not involved or not query_file.is_file():
            return []
        # The explanation query is the rules' own; restricting it to these violations keeps pages fast.
        query = query_file.read_text(encoding="utf-8")
        where = re.search(r"\bWHERE\s*\{", query, re.IGNORECASE)
        if where is None:
            return []
        values = "VALUES ?violation { " + " ".join(f"<{v}>" for v in sorted(involved)) + " }\n"
        try:
            results = self.store.query(query[:where.end()] + "\n" + values + query[where.end():])
        except SyntaxError:
            return []
        found: dict[str, dict] = {}
        for row in results:
            key = row["violation"].value
            violation = found.get(key)
            if violation is None:
                violation = found[key] = self._violation(row)
            premise_key = (_text(row["premiseRole"]), row["premise"].value)
            premise = violation["premises"].get(premise_key)
            if premise is None:
                premise = violation["premises"][premise_key] = {
                    "role": premise_key[0], "term": self.term(row["premise"]),
                    "citation_needed": _text(row["citationNeeded"]) in ("true", "1"),
                    "marker": _text(row["referenceMarker"]), "evidence": []}
            evidence = {"term": self.term(row["evidence"]), "confidence": _text(row["confidence"]),
                        "sentence_number": _text(row["sentenceNumber"]), "sentence_text": _text(row["sentenceText"])}
            if evidence not in premise["evidence"]:
                premise["evidence"].append(evidence)
        for violation in found.values():
            violation["premises"] = list(violation["premises"].values())
        return sorted(found.values(), key=lambda v: v["violation"]["label"])

    def _violations_involving(self, iri: str) -> set[str]:
        """Violations that are this thing or name it as instrument, provision, agent or act."""
        node = ox.NamedNode(iri)
        found = set()
        if any(True for _ in self.store.oxigraph.quads_for_pattern(node, RDF_TYPE, ox.NamedNode(str(YK.TreatyViolation)), None)):
            found.add(iri)
        for role in (YK.violatedInstrument, YK.violatedProvision, YK.violatingAgent, YK.violatingAct):
            found.update(q.subject.value for q in self.store.oxigraph.quads_for_pattern(None, ox.NamedNode(str(role)), node, None))
        return found

    def _violation(self, row) -> dict:
        term = lambda name: self.term(row[name]) if row[name] is not None else None  # noqa: E731
        return {
            "violation": term("violation"), "kind": term("violationClass"), "rule": term("rule"),
            "instrument": term("instrument"), "in_force_from": _text(row["inForceFrom"]),
            "in_force_until": _text(row["inForceUntil"]),
            "provision": term("provision"), "provision_text": _text(row["provisionText"]),
            "provision_text_is_verbatim": _text(row["provisionTextIsVerbatim"]) == "true",
            "breached_kind": term("breachedKind"),
            "agent": term("agent"), "act": term("act"), "act_kind": _text(row["actKindLabel"]),
            "act_start": _text(row["actStart"]), "act_end": _text(row["actEnd"]),
            "binding_action": term("bindingAction"), "bound_from": _text(row["boundFrom"]),
            "overlap_start": _text(row["overlapStart"]), "overlap_end": _text(row["overlapEnd"]),
            "premises": {},
        }


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
