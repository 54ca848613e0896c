"""Linked-data pages: 303 content negotiation for every format, HTML and RDF describing the same
triples, provenance, the ontology documentation, VoID and dumps, accessibility basics."""
from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser
from urllib.parse import unquote

import markupsafe
import pyoxigraph as ox
import pytest
import requests

from yokuryu.ontology import GRAPH, INFERRED_GRAPH, ONTOLOGY_GRAPH, YK

BASE = "https://w3id.org/yokuryu/"
POTSDAM = BASE + "resource/potsdam-declaration"
PACT = BASE + "resource/soviet-japanese-neutrality-pact"
SOURCE_DOC = BASE + "source/japanese-pows-in-the-soviet-union"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

# Each RDF format: the media type a client asks for, the document suffix it is sent to, and
# how pyoxigraph reads it back.
FORMATS = [
    ("text/turtle", "ttl", ox.RdfFormat.TURTLE),
    ("application/n-triples", "nt", ox.RdfFormat.N_TRIPLES),
    ("application/ld+json", "jsonld", ox.RdfFormat.JSON_LD),
    ("application/rdf+xml", "rdf", ox.RdfFormat.RDF_XML),
]


def triples_of(body: bytes, rdf_format) -> set[tuple]:
    return {_key(t.subject, t.predicate, t.object) for t in ox.parse(body, format=rdf_format)}


def _key(s, p, o) -> tuple:
    if isinstance(o, ox.Literal):
        datatype = o.datatype.value
        obj = ("literal", o.value, o.language or "", None if datatype in (XSD_STRING, RDF_LANG_STRING) else datatype)
    else:
        obj = ("iri", o.value)
    return (s.value, p.value, obj)


class RdfaStatements(HTMLParser):
    """The statements a page makes in RDFa (``about`` + ``property`` + ``resource``/``content``)."""

    def __init__(self):
        super().__init__()
        self.subjects: list[str | None] = []
        self.triples: set[tuple] = set()
        self.inferred_rows: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        subject = attrs.get("about", self.subjects[-1] if self.subjects else None)
        if tag not in ("br", "img", "input", "meta", "link", "hr"):
            self.subjects.append(subject)
        if "property" in attrs:
            if "resource" in attrs:
                obj = ("iri", attrs["resource"])
            else:
                obj = ("literal", attrs["content"], attrs.get("lang", ""), attrs.get("datatype"))
            self.triples.add((subject, attrs["property"], obj))

    def handle_endtag(self, tag):
        if self.subjects:
            self.subjects.pop()


def rdfa_triples(html: str) -> set[tuple]:
    parser = RdfaStatements()
    parser.feed(html)
    return parser.triples


def page_for(client, iri: str):
    """Dereference an IRI as a browser would: 303, then the HTML document."""
    path = iri[len(BASE) - 1:]
    response = client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 303, (iri, response.status_code)
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return page


# --- content negotiation ---------------------------------------------------------------

@pytest.mark.parametrize("accept, ext, rdf_format", FORMATS)
def test_resource_iri_redirects_to_the_document_in_the_negotiated_format(client, accept, ext, rdf_format):
    response = client.get("/resource/potsdam-declaration", headers={"Accept": accept})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/resource/potsdam-declaration.{ext}"
    assert "Accept" in response.headers["Vary"]
    document = client.get(response.headers["Location"])
    assert document.status_code == 200
    assert document.mimetype == accept
    triples = triples_of(document.data, rdf_format)
    assert (POTSDAM, "http://www.w3.org/2000/01/rdf-schema#label",
            ("literal", "Potsdam Declaration", "en", None)) in triples


def test_browsers_and_wildcards_get_the_html_page(client):
    for accept in ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "*/*", None):
        response = client.get("/resource/potsdam-declaration", headers={"Accept": accept} if accept else {})
        assert response.status_code == 303
        assert response.headers["Location"] == "/resource/potsdam-declaration.html"
    page = client.get("/resource/potsdam-declaration.html")
    assert page.mimetype == "text/html"
    assert "<h1>Potsdam Declaration</h1>" in page.get_data(as_text=True)


def test_q_values_decide(client):
    response = client.get("/resource/potsdam-declaration",
                          headers={"Accept": "text/html;q=0.5, application/rdf+xml;q=0.9"})
    assert response.headers["Location"] == "/resource/potsdam-declaration.rdf"


@pytest.mark.parametrize("name, ext", [("turtle", "ttl"), ("ttl", "ttl"), ("ntriples", "nt"), ("jsonld", "jsonld"),
                                       ("rdfxml", "rdf"), ("html", "html")])
def test_format_parameter_overrides_accept(client, name, ext):
    response = client.get(f"/resource/potsdam-declaration?format={name}", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/resource/potsdam-declaration.{ext}"


def test_unknown_format_and_unacceptable_media_type_are_client_errors(client):
    response = client.get("/resource/potsdam-declaration?format=pdf")
    assert response.status_code == 400
    assert "unknown format 'pdf'" in response.get_data(as_text=True)
    response = client.get("/resource/potsdam-declaration", headers={"Accept": "image/png"})
    assert response.status_code == 406
    assert "text/turtle" in response.get_data(as_text=True)


def test_documents_advertise_their_alternates(client):
    response = client.get("/resource/potsdam-declaration.ttl")
    link = response.headers["Link"]
    for ext in ("html", "nt", "jsonld", "rdf"):
        assert f"</resource/potsdam-declaration.{ext}>" in link


def test_unknown_resource_is_a_404_page_with_a_search_link(client):
    response = client.get("/resource/khabarovsk-opera-house", headers={"Accept": "text/html"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "https://w3id.org/yokuryu/resource/khabarovsk-opera-house" in html
    link = re.search(r'id="search-link" href="([^"]+)"', html).group(1)
    assert unquote(link.replace("&amp;", "&").replace("+", " ")) == "/search?q=khabarovsk opera house"
    for path in ("/resource/khabarovsk-opera-house.ttl", "/resource/khabarovsk-opera-house.html"):
        assert client.get(path).status_code == 404
    machine = client.get("/resource/khabarovsk-opera-house", headers={"Accept": "text/turtle"})
    assert machine.status_code == 404 and machine.mimetype == "text/plain"


@pytest.mark.parametrize("path", ["/resource/a%20b", "/resource/%3Cx%3E", "/ontology/not%20a%20term",
                                  "/source/x%7By%7D.ttl", "/graph/no-such-graph"])
def test_paths_that_are_no_iri_of_the_graph_are_404_not_500(client, path):
    response = client.get(path, headers={"Accept": "text/turtle"})
    assert response.status_code == 404
    assert "search" in response.get_data(as_text=True)


def test_search_finds_things_by_label(client):
    html = client.get("/search?q=potsdam").get_data(as_text=True)
    assert 'href="/resource/potsdam-declaration.html"' in html
    assert "0 things" in client.get("/search?q=zzzz-nothing-zzzz").get_data(as_text=True)


# --- the same triples in HTML and RDF --------------------------------------------------

def described_iris(store) -> list[str]:
    """A resource of every kind the pages must handle, plus the source document with its sentences."""
    query = """SELECT (SAMPLE(?s) AS ?thing) WHERE {
      ?s a ?class FILTER(STRSTARTS(STR(?s), "https://w3id.org/yokuryu/resource/"))
    } GROUP BY ?class"""
    found = {row["thing"].value for row in store.query(query)}
    return sorted(found | {POTSDAM, PACT, SOURCE_DOC})


@pytest.mark.slow
def test_html_and_rdf_describe_the_same_triples(client, store):
    iris = described_iris(store)
    assert len(iris) >= 5
    for iri in iris:
        html = page_for(client, iri).get_data(as_text=True)
        path = iri[len(BASE) - 1:]
        for _, ext, rdf_format in FORMATS:
            rdf = triples_of(client.get(f"{path}.{ext}").data, rdf_format)
            assert rdf, (iri, ext)
            assert rdfa_triples(html) == rdf, f"{iri}: the page and its .{ext} differ"


def test_description_holds_outgoing_and_incoming_statements(client, store):
    triples = triples_of(client.get("/resource/potsdam-declaration.nt").data, ox.RdfFormat.N_TRIPLES)
    node = ox.NamedNode(POTSDAM)
    expected = {_key(q.subject, q.predicate, q.object) for q in store.oxigraph.quads_for_pattern(node, None, None, None)
                if q.graph_name.value != str(GRAPH.shapes)}
    expected |= {_key(q.subject, q.predicate, q.object) for q in store.oxigraph.quads_for_pattern(None, None, node, None)
                 if q.graph_name.value != str(GRAPH.shapes)}
    assert triples == expected
    assert any(s != POTSDAM for s, _, _ in triples), "statements pointing at the declaration are part of it"


def test_inferred_statements_are_marked(client, store):
    html = page_for(client, POTSDAM).get_data(as_text=True)
    inferred = {_key(q.subject, q.predicate, q.object)
                for q in store.oxigraph.quads_for_pattern(ox.NamedNode(POTSDAM), None, None, ox.NamedNode(str(INFERRED_GRAPH)))}
    assert inferred, "the reasoner derives something about the Potsdam Declaration"
    rows = re.findall(r'<tr about="([^"]+)"( class="inferred")?>\s*<th scope="row">.*?</th>\s*<td>(.*?)</td>', html, re.S)
    marked = set()
    for subject, is_inferred, cell in rows:
        for predicate, obj in rdfa_in_cell(cell):
            if is_inferred:
                marked.add((subject, predicate, obj))
    assert marked == inferred
    assert 'class="badge badge-inferred"' in html


def rdfa_in_cell(cell: str) -> list[tuple]:
    parser = RdfaStatements()
    parser.feed(cell)
    return [(p, o) for _, p, o in parser.triples]


def test_labels_in_every_language_are_shown(client, store):
    query = """SELECT ?s (COUNT(DISTINCT LANG(?l)) AS ?n) WHERE {
      ?s rdfs:label ?l FILTER(STRSTARTS(STR(?s), "https://w3id.org/yokuryu/resource/")) } GROUP BY ?s ORDER BY DESC(?n) ?s LIMIT 1"""
    iri = next(iter(store.query(query)))["s"].value
    html = page_for(client, iri).get_data(as_text=True)
    for quad in store.oxigraph.quads_for_pattern(ox.NamedNode(iri), ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label"), None, None):
        label = quad.object
        assert f'content="{escape(label.value)}" lang="{label.language or ""}"' in html


def escape(text: str) -> str:
    """Text as the templates write it into HTML."""
    return str(markupsafe.escape(text))


# --- provenance --------------------------------------------------------------------------

def test_source_sentence_text_is_shown_with_what_it_states(client, store):
    query = """SELECT ?thing ?text WHERE { ?thing yk:statedIn|yk:mentionedIn ?sentence . ?sentence yk:sentenceText ?text
      FILTER(STRSTARTS(STR(?thing), "https://w3id.org/yokuryu/resource/")) } ORDER BY ?thing LIMIT 1"""
    row = next(iter(store.query(query)))
    html = page_for(client, row["thing"].value).get_data(as_text=True)
    section = html.split('id="provenance-h"', 1)[1]
    assert escape(row["text"].value) in section


def test_external_citations_show_sources_and_confidence(client, store):
    query = """SELECT ?thing ?citation ?label ?page ?confidence WHERE {
      ?thing yk:citation ?citation . ?citation rdfs:label ?label ; dcterms:source ?page ; yk:confidence ?level .
      ?level rdfs:label ?confidence } ORDER BY ?thing LIMIT 1"""
    row = next(iter(store.query(query)))
    html = page_for(client, row["thing"].value).get_data(as_text=True)
    citations = html.split("External citations", 1)[1]
    assert escape(row["label"].value) in citations
    assert f'href="{row["page"].value}"' in citations
    assert row["confidence"].value in citations


def test_citation_needed_is_flagged(client, store):
    flagged = [row["s"].value for row in store.query("SELECT ?s WHERE { ?s yk:citationNeeded true }")]
    if not flagged:
        pytest.fail("the data flags nothing with yk:citationNeeded, though sentence 3 carries [citation needed]")
    html = page_for(client, flagged[0]).get_data(as_text=True)
    assert "Citation needed" in html


def test_source_document_page_lists_its_sentences_with_anchors(client, store):
    html = page_for(client, SOURCE_DOC).get_data(as_text=True)
    sentences = list(store.query("SELECT ?n ?text WHERE { ?s a yk:Sentence ; yk:sentenceNumber ?n ; yk:sentenceText ?text }"))
    assert len(sentences) == 13
    for row in sentences:
        assert f'id="s{row["n"].value}"' in html
        assert escape(row["text"].value) in html
    # a sentence IRI is a hash IRI: links to it land on the anchor of its document
    assert client.get("/source/japanese-pows-in-the-soviet-union").headers["Location"].endswith(".html")


def test_estimates_show_holder_and_basis_side_by_side(client, store):
    query = """SELECT ?estimate ?basis ?holder WHERE { ?estimate a yk:Estimate ; yk:basis ?basis ; yk:heldBy ?holder }
      ORDER BY ?estimate LIMIT 1"""
    row = next(iter(store.query(query)))
    html = page_for(client, row["estimate"].value).get_data(as_text=True)
    table = html.split('<table class="estimates">', 1)[1].split("</table>", 1)[0]
    own_row = next(r for r in table.split("<tr>") if f'title="{row["estimate"].value}"' in r.split("</td>", 1)[0])
    assert f'title="{row["holder"].value}"' in own_row, "the holder is in the estimate's row"
    assert escape(row["basis"].value) in own_row, "the basis is in the same row"


def test_competing_estimates_of_one_group_are_compared_on_each_others_pages(client, store):
    query = """SELECT ?a ?b WHERE { ?a a yk:Estimate ; yk:countOf ?group . ?b a yk:Estimate ; yk:countOf ?group
      FILTER(?a != ?b) } ORDER BY ?a ?b LIMIT 1"""
    row = next(iter(store.query(query)))
    html = page_for(client, row["a"].value).get_data(as_text=True)
    table = html.split('<table class="estimates">', 1)[1].split("</table>", 1)[0]
    assert f'title="{row["b"].value}"' in table


def test_treaty_page_explains_each_violation_with_its_evidence(client, store):
    query = """SELECT ?instrument (COUNT(DISTINCT ?violation) AS ?n) WHERE {
      ?violation a yk:TreatyViolation ; yk:violatedInstrument ?instrument } GROUP BY ?instrument"""
    counts = {row["instrument"].value: int(row["n"].value) for row in store.query(query)}
    assert counts, "the violation rules derived at least one violation"
    for instrument, count in counts.items():
        html = page_for(client, instrument).get_data(as_text=True)
        section = html.split('id="violations-h"', 1)[1].split("</section>", 1)[0]
        assert section.count('<article class="violation"') == count
        for step in ("Instrument", "Bound", "Provision", "Act", "Overlap", "Therefore"):
            assert f"<strong>{step}</strong>" in section
        evidence = f"""SELECT DISTINCT ?label WHERE {{ ?violation yk:violatedInstrument <{instrument}> ;
            yk:violatingAct|yk:bindingAction|yk:violatedProvision ?premise . ?premise yk:citation/rdfs:label ?label }}"""
        for row in store.query(evidence):
            assert escape(row["label"].value) in section, row["label"].value


# --- ontology ------------------------------------------------------------------------------

@pytest.mark.parametrize("accept, ext, rdf_format", FORMATS)
def test_ontology_by_content_negotiation(client, store, accept, ext, rdf_format):
    response = client.get("/ontology", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == accept
    assert "Accept" in response.headers["Vary"]
    assert response.headers["Content-Location"] == f"/ontology.{ext}"
    expected = {_key(q.subject, q.predicate, q.object)
                for q in store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(str(ONTOLOGY_GRAPH)))}
    assert triples_of(response.data, rdf_format) == expected
    assert client.get(f"/ontology.{ext}").data == response.data


@pytest.mark.parametrize("accept, ext, rdf_format", FORMATS)
def test_ontology_term_path_redirects(client, accept, ext, rdf_format):
    response = client.get("/ontology/Treaty", headers={"Accept": accept})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ontology.{ext}"
    triples = triples_of(client.get(response.headers["Location"]).data, rdf_format)
    assert any(s == str(YK.Treaty) for s, _, _ in triples)


def test_ontology_term_path_takes_browsers_to_the_anchor(client):
    response = client.get("/ontology/Treaty", headers={"Accept": "text/html"})
    assert response.headers["Location"] == "/ontology#Treaty"
    assert client.get("/ontology/NoSuchTerm").status_code == 404


def test_ontology_documentation_covers_every_term(client, store):
    html = client.get("/ontology", headers={"Accept": "text/html"}).get_data(as_text=True)
    query = f"""SELECT ?term ?label ?definition WHERE {{ GRAPH <{ONTOLOGY_GRAPH}> {{
      ?term a ?kind ; rdfs:label ?label FILTER(LANG(?label) = "en")
      OPTIONAL {{ ?term skos:definition ?definition }}
      VALUES ?kind {{ owl:Class owl:ObjectProperty owl:DatatypeProperty }}
      FILTER(STRSTARTS(STR(?term), STR(yk:))) }} }}"""
    rows = list(store.query(query))
    assert len(rows) > 20
    for row in rows:
        anchor = row["term"].value.split("#", 1)[1]
        assert f'<article class="term" id="{anchor}"' in html, anchor
        assert escape(row["label"].value) in html
        if row["definition"] is not None:
            assert escape(row["definition"].value) in html
    treaty = html.split('<article class="term" id="Treaty"', 1)[1].split("</article>", 1)[0]
    assert "Subclass of" in treaty and "international instrument" in treaty


# --- VoID and dumps ----------------------------------------------------------------------

def test_void_describes_endpoint_dumps_vocabularies_counts_and_licence(client, store):
    response = client.get("/.well-known/void", headers={"Accept": "text/turtle"})
    assert response.status_code == 200 and response.mimetype == "text/turtle"
    void = "http://rdfs.org/ns/void#"
    triples = triples_of(response.data, ox.RdfFormat.TURTLE)
    dataset = BASE + "dataset"
    assert (dataset, void + "sparqlEndpoint", ("iri", "http://localhost/sparql")) in triples
    assert (dataset, "http://purl.org/dc/terms/license", ("iri", "https://creativecommons.org/licenses/by-sa/4.0/")) in triples
    assert (dataset, void + "vocabulary", ("iri", BASE + "ontology")) in triples
    integer = "http://www.w3.org/2001/XMLSchema#integer"
    for name in store.graph_names():
        count = store.graph_count(name)
        assert (name, void + "triples", ("literal", str(count), "", integer)) in triples
        subjects = {q.subject for q in store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(name))}
        assert (name, void + "distinctSubjects", ("literal", str(len(subjects)), "", integer)) in triples
    dumps = [o[1] for s, p, o in triples if p == void + "dataDump"]
    assert len(dumps) >= 3 + 2 * len(store.graph_names())
    for dump in dumps:
        assert client.get(dump.replace("http://localhost", "")).status_code == 200, dump


def test_dump_of_everything_round_trips(client, store):
    trig = client.get("/dumps/all.trig")
    assert trig.status_code == 200 and trig.mimetype == "application/trig"
    assert "attachment" in trig.headers["Content-Disposition"]
    assert len(list(ox.parse(trig.data, format=ox.RdfFormat.TRIG))) == len(store)
    nquads = gzip.decompress(client.get("/dumps/all.nq.gz").data)
    assert len(list(ox.parse(nquads, format=ox.RdfFormat.N_QUADS))) == len(store)


def test_dump_of_one_graph_keeps_its_name(client, store):
    name = str(GRAPH) + "source/japanese-pows-in-the-soviet-union"
    quads = list(ox.parse(client.get("/dumps/source/japanese-pows-in-the-soviet-union.nq").data, format=ox.RdfFormat.N_QUADS))
    assert len(quads) == store.graph_count(name)
    assert {q.graph_name.value for q in quads} == {name}
    assert client.get("/dumps/no-such-graph.nq").status_code == 404
    assert client.get("/dumps/all.pdf").status_code == 404


# --- accessibility basics ------------------------------------------------------------------

class Outline(HTMLParser):
    def __init__(self):
        super().__init__()
        self.lang = None
        self.title = ""
        self.in_title = False
        self.headings: list[int] = []
        self.fields: list[dict] = []
        self.labels: set[str] = set()
        self.images_without_alt = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        elif tag == "title":
            self.in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag in ("input", "textarea", "select") and attrs.get("type") != "hidden":
            self.fields.append(attrs)
        elif tag == "label" and "for" in attrs:
            self.labels.add(attrs["for"])
        elif tag == "img" and "alt" not in attrs:
            self.images_without_alt += 1

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False

    def handle_data(self, data):
        if self.in_title:
            self.title += data


@pytest.mark.parametrize("path", ["/", "/query", "/class", "/class/Estimate", "/timeline", "/shapes",
                                  "/resource/potsdam-declaration.html", "/ontology",
                                  "/source/japanese-pows-in-the-soviet-union.html", "/search?q=soviet",
                                  "/resource/no-such-thing"])
def test_pages_pass_basic_accessibility_checks(client, path):
    outline = Outline()
    outline.feed(client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True))
    assert outline.lang == "en"
    assert outline.title.strip().endswith("Yokuryū") and len(outline.title.strip()) > len("· Yokuryū")
    assert outline.headings[0] == 1 and outline.headings.count(1) == 1
    for before, after in zip(outline.headings, outline.headings[1:]):
        assert after <= before + 1, f"heading level jumps from h{before} to h{after}"
    for field in outline.fields:
        assert field.get("id") in outline.labels or field.get("aria-label"), field
    assert outline.images_without_alt == 0


def test_stylesheet_colours_have_enough_contrast(client):
    css = client.get("/static/style.css").get_data(as_text=True)
    pairs = re.findall(r"/\* contrast: (#[0-9a-f]{6}) on (#[0-9a-f]{6}) \*/", css)
    assert len(pairs) >= 5
    declarations = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    for foreground, background in pairs:
        assert contrast(foreground, background) >= 4.5, (foreground, background)
        assert foreground in declarations and background in declarations, "the annotated pair is in use"


def contrast(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# --- configurable base, over real HTTP ---------------------------------------------------

def test_a_configured_base_is_answered_under_the_servers_own_host():
    from yokuryu.graph import open_store
    from yokuryu.server import create_app
    from yokuryu.server.config import ServerConfig
    base = "http://example.org/camps/"
    store = open_store(None)
    store.load_quads([ox.Quad(ox.NamedNode(base + "resource/camp-7"), ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label"),
                              ox.Literal("Camp 7", language="en"), ox.NamedNode(str(GRAPH) + "user/camps"))])
    client = create_app(ServerConfig(base_iri=base), store).test_client()
    response = client.get("/resource/camp-7", headers={"Accept": "text/turtle"})
    assert response.headers["Location"] == "/resource/camp-7.ttl"
    assert (base + "resource/camp-7", "http://www.w3.org/2000/01/rdf-schema#label", ("literal", "Camp 7", "en", None)) \
        in triples_of(client.get("/resource/camp-7.ttl").data, ox.RdfFormat.TURTLE)


def test_real_http_dereferencing(server):
    response = requests.get(f"{server.url}/resource/potsdam-declaration", headers={"Accept": "text/turtle"},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 303
    followed = requests.get(f"{server.url}/resource/potsdam-declaration", headers={"Accept": "text/turtle"}, timeout=10)
    assert followed.status_code == 200 and followed.headers["Content-Type"] == "text/turtle; charset=utf-8"
    assert followed.url.endswith("/resource/potsdam-declaration.ttl")
