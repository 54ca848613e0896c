"""Resource pages as a historian reads them: each fact once with its most specific property and,
on the same row, the sentence or citation that supports it; inferred broader statements folded;
curated links never passed off as the source's; labels for every term; useful next links."""
from __future__ import annotations

import re
from html import unescape

import pyoxigraph as ox
import pytest

from yokuryu.ontology import GRAPH, LINKS_GRAPH

BASE = "https://w3id.org/yokuryu/"
PACT = "/resource/soviet-japanese-neutrality-pact.html"
SKOS = "http://www.w3.org/2004/02/skos/core#"
YK = BASE + "ontology#"


def visible_rows(html: str) -> list[dict]:
    """The statement rows outside the folded <details>, each with its property, value and support."""
    visible = re.sub(r"<details class=\"folded\">.*?</details>", "", html, flags=re.S)
    rows = []
    for body in re.findall(r'<table class="statements" about="[^"]+">(.*?)</table>', visible, re.S):
        for row in re.findall(r"<tr about=[^>]*>(.*?)</tr>", body, re.S):
            prop = re.search(r'<th scope="row"><a href="[^"]*" title="([^"]+)"', row)
            value = re.search(r'property="[^"]+" (?:resource|content)="([^"]*)"', row)
            cells = re.findall(r"<td>(.*?)</td>", row, re.S)
            rows.append({"property": prop.group(1), "value": unescape(value.group(1)) if value else None,
                         "from": cells[-1]})
    return rows


def test_each_statement_once_with_its_citation_on_the_same_row(client):
    rows = visible_rows(client.get(PACT).get_data(as_text=True))
    signed = [r for r in rows if r["property"] == YK + "signedOn"]
    assert len(signed) == 1 and signed[0]["value"] == "1941-04-13"
    assert re.search(r'class="citation-ref" href="/resource/citation-e1.html"[^>]*>E1<', signed[0]["from"])
    in_force_until = next(r for r in rows if r["property"] == YK + "inForceUntil")
    assert ">E5<" in in_force_until["from"] and ">E1<" not in in_force_until["from"]
    # the broader property the reasoner derived (schema:datePublished) is folded, not repeated
    assert not [r for r in rows if r["property"] == "https://schema.org/datePublished"]
    assert len({(r["property"], r["value"]) for r in rows}) == len(rows), "no fact twice"


def test_inferred_broader_statements_are_folded_under_a_toggle(client):
    html = client.get("/resource/soviet-union.html").get_data(as_text=True)
    folded = re.search(r'<details class="folded">\s*<summary>(\d+) more statement', html)
    assert folded and int(folded.group(1)) > 0
    header_types = re.search(r'<p class="types">(.*?)</p>', html, re.S).group(1)
    assert header_types.count("<a ") <= 3, "only the most specific types in the header"
    type_rows = [r for r in visible_rows(html) if r["property"].endswith("#type")]
    assert len(type_rows) <= 3


def test_source_rows_point_at_their_sentence(client):
    rows = visible_rows(client.get("/resource/internment-of-japanese-pows.html").get_data(as_text=True))
    located = next(r for r in rows if r["property"] == YK + "location")
    assert re.search(r'class="sentence-ref" href="/source/japanese-pows-in-the-soviet-union.html#s1"[^>]*>S1<',
                     located["from"])


def test_exact_match_links_are_curated_not_the_sources(client, store):
    in_source = store.query(f"""ASK {{ GRAPH ?g {{ ?s ?p ?o }} VALUES ?p {{ <{SKOS}exactMatch> <{SKOS}closeMatch> }}
        FILTER(STRSTARTS(STR(?g), "{GRAPH}source/")) }}""")
    assert not in_source, "the source text asserts no links to DBpedia or Wikidata"
    html = client.get("/resource/soviet-union.html").get_data(as_text=True)
    row = re.search(r'<tr about="[^"]+">\s*<th scope="row"><a [^>]*title="' + SKOS + r'exactMatch".*?</tr>', html, re.S).group(0)
    assert "badge-curated" in row and "badge-source" not in row
    assert f'href="/graph/links.html"' in row
    described = client.get("/graph/links.html").get_data(as_text=True)
    assert "asserts none of these links" in described


def test_the_internment_links_out(store):
    rows = list(store.query("SELECT ?o WHERE { res:internment-of-japanese-pows skos:closeMatch ?o }"))
    assert [r["o"].value for r in rows] == ["http://dbpedia.org/resource/Japanese_prisoners_of_war_in_the_Soviet_Union"]
    graphs = {q.graph_name.value for q in store.oxigraph.quads_for_pattern(
        ox.NamedNode(BASE + "resource/internment-of-japanese-pows"), ox.NamedNode(SKOS + "closeMatch"), None, None)}
    assert graphs == {str(LINKS_GRAPH)}


def test_every_term_has_a_label_not_a_raw_iri(client):
    html = client.get("/resource/world-war-ii.html").get_data(as_text=True)
    assert "http://www.w3.org/2006/time#" not in re.sub(r'(title|property|href|resource|datatype)="[^"]*"', "", html)
    links = re.findall(r'<a href="[^"]*" title="(http://www.w3.org/2006/time#\w+)"[^>]*>([^<]+)</a>', html)
    assert links and all(label in ("after", "before") for _, label in links)


def test_sentences_are_named_by_number_and_text_and_sorted_by_number(client):
    html = client.get("/resource/soviet-union.html").get_data(as_text=True)
    provenance = html.split('class="provenance"', 1)[1]
    numbers = [int(n) for n in re.findall(r'>S(\d+) “', provenance)]
    assert numbers == sorted(numbers) and 10 in numbers and 3 in numbers
    assert "japanese-pows-in-the-soviet-union, sentence" not in html


@pytest.mark.parametrize("page, target", [
    (PACT, "/resource/soviet-notice-of-denunciation-of-neutrality-pact.html"),
    ("/resource/internment-of-japanese-pows.html", "/resource/gupvi.html"),
    ("/resource/internment-of-japanese-pows.html", "/resource/estimate-japanese-interned-in-ussr-and-mongolia.html"),
    ("/resource/internment-of-japanese-pows.html", "/class/DeathTollEstimate"),
])
def test_pages_link_what_a_reader_looks_for_next(client, page, target):
    html = client.get(page).get_data(as_text=True)
    assert f'href="{target}"' in html
    assert client.get(target).status_code == 200


@pytest.mark.parametrize("text, expected", [
    ("Khruschev", "khrushchev-thaw"), ("USSR", "soviet-union"), ("Kuomintang", "republic-of-china")])
def test_search_finds_other_names(client, text, expected):
    html = client.get("/search", query_string={"q": text}).get_data(as_text=True)
    assert f'href="/resource/{expected}.html"' in html


# --- violation explanations ----------------------------------------------------------------------


def violation_section(client, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    return unescape(html.split('id="violations-h"', 1)[1].split("</section>", 1)[0])


def test_the_from_the_beginning_claim_is_not_taken_for_more_than_the_rules_show(client):
    section = violation_section(client, PACT)
    assert "from the beginning" in section
    assert re.search(r"the rules support a violation only (on|from) 1945-08", section)
    assert "not from the instrument's beginning (1941-04-25)" in section


def test_the_citation_needed_note_is_on_the_page_as_in_the_cli(client, store):
    from yokuryu.graph.violations import CITATION_NEEDED_NOTE, find_violations, render_text
    flagged = [v for v in find_violations(store) if v.cites_flagged_source]
    assert flagged
    assert CITATION_NEEDED_NOTE in render_text(flagged)
    assert CITATION_NEEDED_NOTE in violation_section(client, PACT)


def test_potsdam_article_9_is_said_to_concern_military_forces(client):
    section = violation_section(client, "/resource/potsdam-declaration.html")
    assert "concerns the Japanese military forces; civilians" in section


def test_rule_and_ontology_version_links_resolve(client):
    html = client.get(PACT).get_data(as_text=True)
    rule = re.search(r'href="(/shapes#\w+)"', html).group(1)
    page = client.get("/shapes")
    assert page.status_code == 200 and f'id="{rule.split("#")[1]}"' in page.get_data(as_text=True)
    assert client.get("/shapes", headers={"Accept": "text/turtle"}).mimetype == "text/turtle"
    version = client.get("/ontology/0.1.0.html")
    assert version.status_code == 303 and version.headers["Location"].endswith("/ontology")
    ontology = client.get("/ontology").get_data(as_text=True)
    assert 'href="/ontology/0.1.0.html"' not in ontology


def test_the_internment_dates_each_have_their_own_citation(client):
    rows = visible_rows(client.get("/resource/internment-of-japanese-pows.html").get_data(as_text=True))
    start = next(r for r in rows if r["property"] == YK + "startDate")
    end = next(r for r in rows if r["property"] == YK + "endDate")
    assert ">E14<" in start["from"] and ">E21<" not in start["from"]
    assert ">E21<" in end["from"] and ">E14<" not in end["from"]


def cited(row: dict) -> set[str]:
    return set(re.findall(r'class="citation-ref"[^>]*>(E\d+)<', row["from"]))


@pytest.mark.parametrize("page, prop, value, expected", [
    # Potsdam Art. 9: its text from E11, the reading as an obligation of the issuers from E12
    ("potsdam-declaration-article-9", YK + "provisionText", None, {"E11"}),
    ("potsdam-declaration-article-9", YK + "obligesPartiesBoundBy", YK + "Issuance", {"E12"}),
    ("potsdam-declaration-article-9", "http://www.w3.org/2000/01/rdf-schema#comment", None, {"E12"}),
    # the Republic of China's issuance: the date from E9, which state the Chinese issuer was from E10
    ("potsdam-declaration-issuance-republic-of-china", YK + "onDate", "1945-07-26", {"E9"}),
    ("potsdam-declaration-issuance-republic-of-china", YK + "party", BASE + "resource/republic-of-china", {"E10"}),
    # the 25 April expiry: counted from E2's ratification date and term, the dispute in E5
    ("claim-neutrality-pact-expired-25-april-1946", YK + "claimedDate", "1946-04-25", {"E2", "E5"}),
    ("claim-neutrality-pact-expired-25-april-1946", YK + "basis", None, {"E2"}),
    # Ushiroku's return: the day from both E21 and E39, that it was he from E39
    ("return-of-jun-ushiroku", YK + "date", "1956-12-26", {"E21", "E39"}),
    ("return-of-jun-ushiroku", YK + "participant", BASE + "resource/jun-ushiroku", {"E39"}),
    ("soviet-japanese-neutrality-pact", YK + "signedOn", "1941-04-13", {"E1"}),
])
def test_external_statements_show_the_citation_that_supports_them(client, page, prop, value, expected):
    rows = [r for r in visible_rows(client.get(f"/resource/{page}.html").get_data(as_text=True))
            if r["property"] == prop and (value is None or r["value"] == value)]
    assert len(rows) == 1
    assert cited(rows[0]) == expected


def test_every_external_row_has_a_citation(client, store):
    """No external statement of a thing with several citations is left without one."""
    many = [r["x"].value for r in store.query("""SELECT ?x WHERE { ?x yk:citation ?c }
        GROUP BY ?x HAVING(COUNT(DISTINCT ?c) > 1)""")]
    assert len(many) >= 5
    for iri in many:
        html = client.get(iri.replace(BASE, "/") + ".html").get_data(as_text=True)
        for row in visible_rows(html):
            if "badge-external" in row["from"] and row["property"] != YK + "citation":
                assert cited(row), (iri, row["property"])


def test_see_also_links_are_data_an_integrator_can_query(client, store):
    """The links a reader follows next are dcterms:relation statements in the curated graph,
    which SPARQL answers and the page reads (not a list in the code)."""
    rows = store.query(f"""SELECT ?o WHERE {{ GRAPH <{LINKS_GRAPH}> {{
        res:internment-of-japanese-pows <http://purl.org/dc/terms/relation> ?o }} }}""")
    targets = {r["o"].value[len(BASE + "resource/"):] for r in rows}
    assert {"gupvi", "estimate-deaths-certified-by-ussr", "estimate-deaths-nimmo"} <= targets
    html = client.get("/resource/internment-of-japanese-pows.html").get_data(as_text=True)
    see_also = re.search(r'<section aria-labelledby="related-h".*?</section>', html, re.S).group(0)
    for target in targets:
        assert f'href="/resource/{target}.html"' in see_also
    assert "badge-curated" in see_also
    # the notice of denunciation is about the pact as an external fact too (E4)
    assert store.query("ASK { GRAPH ?g { res:soviet-notice-of-denunciation-of-neutrality-pact "
                       "yk:concerns res:soviet-japanese-neutrality-pact } }")


def test_shape_constraints_without_an_iri_are_named_after_their_shape(client):
    html = client.get("/shapes").get_data(as_text=True)
    assert 'id="CompositeEstimateShape-sparql"' in html
    assert "the SPARQL constraint of CompositeEstimateShape" in html
    assert not re.search(r'<h2 id="https?://', html), "no heading named by a Skolem IRI"


def test_inferred_statements_can_be_hidden(client):
    full = client.get("/resource/soviet-union.html").get_data(as_text=True)
    assert 'class="inferred"' in full and 'href="/resource/soviet-union.html?inferred=hide"' in full
    asserted = client.get("/resource/soviet-union.html?inferred=hide").get_data(as_text=True)
    assert 'class="inferred"' not in asserted and '<details class="folded">' not in asserted
    assert "show what the reasoner derived too" in asserted
    rows = visible_rows(asserted)
    assert rows and all("badge-inferred" not in r["from"] for r in rows)
    assert client.get("/resource/soviet-union.html?inferred=maybe").status_code == 400


def test_which_citation_supports_a_statement_is_in_the_data(store):
    """SPARQL users get the same answer as the page: the citations of the thing that claim the property."""
    rows = store.query("""SELECT ?c WHERE { res:potsdam-declaration-article-9 yk:citation ?c .
        ?c yk:supportsProperty yk:provisionText }""")
    assert [r["c"].value.rpartition("/")[2] for r in rows] == ["citation-e11"]
    rows = store.query("""SELECT ?c WHERE { res:return-of-jun-ushiroku yk:citation ?c . ?c yk:supportsProperty yk:date }
        ORDER BY ?c""")
    assert [r["c"].value.rpartition("/")[2] for r in rows] == ["citation-e21", "citation-e39"]


def test_the_ontology_names_outside_terms_not_by_raw_iri(client):
    html = client.get("/ontology").get_data(as_text=True)
    assert ">http://www.w3.org/2006/time#after<" not in html
    assert re.search(r'<a href="http://www.w3.org/2006/time#after" title="http://www.w3.org/2006/time#after">after</a>', html)
