"""Browsing without SPARQL: the home page tells the story and links every main thing; class pages
list members with counts, labels, facets and paging; the timeline shows partial dates as ranges."""
from __future__ import annotations

import re

import pytest

from yokuryu.server.pages.browse import PAGE_SIZE


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def test_home_starts_with_the_story_and_puts_the_editor_one_click_away(client):
    html = client.get("/").get_data(as_text=True)
    main = html.split('<main id="main">', 1)[1]
    assert main.index("<h1>") < main.index('class="topic"') < main.index('id="source-text"')
    assert 'href="/query"' in main
    assert "<textarea" not in html, "the editor is on /query, not on the home page"


@pytest.mark.parametrize("cls", ["InternationalInstrument", "LabourCamp", "Estimate", "Work"])
def test_home_links_every_member_of_the_main_classes(client, store, cls):
    html = client.get("/").get_data(as_text=True)
    members = {r["x"].value for r in store.query(f"SELECT DISTINCT ?x WHERE {{ ?x a yk:{cls} }}")}
    assert members
    linked = {m for m in members if f'title="{m}"' in html}
    listed = client.get(f"/class/{cls}").get_data(as_text=True)
    assert linked == members or all(f'title="{m}"' in listed for m in members)
    assert f'href="/class/{cls}"' in html


def test_home_shows_the_source_text_as_prose_with_sentence_links(client):
    html = client.get("/").get_data(as_text=True)
    prose = html.split('class="prose"', 1)[1].split("</p>", 1)[0]
    assert "560,000 to 760,000" in prose
    assert 'href="/source/japanese-pows-in-the-soviet-union.html#s13"' in prose


def test_class_page_lists_members_with_labels_and_count(client, store):
    html = client.get("/class/Treaty").get_data(as_text=True)
    n = int(next(iter(store.query("SELECT (COUNT(DISTINCT ?t) AS ?n) WHERE { ?t a yk:Treaty }")))["n"].value)
    assert f'<span class="count">({n})</span>' in html
    assert ">Soviet–Japanese Neutrality Pact</a>" in html
    assert 'href="/resource/geneva-convention-1929.html"' in html


def test_class_page_facets_narrow_the_list(client):
    html = client.get("/class/Estimate").get_data(as_text=True)
    assert "?type=DeathTollEstimate" in html or "type=DeathTollEstimate" in html
    narrowed = client.get("/class/Estimate?type=DeathTollEstimate").get_data(as_text=True)
    items = re.findall(r'<ol class="members"[^>]*>(.*?)</ol>', narrowed, re.S)[0].count("<li>")
    everything = re.findall(r'<ol class="members"[^>]*>(.*?)</ol>', html, re.S)[0].count("<li>")
    assert 0 < items < everything


def test_class_pages_page(client, store):
    biggest = next(iter(store.query("""SELECT ?c (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x a ?c
        FILTER(STRSTARTS(STR(?c), STR(yk:))) } GROUP BY ?c ORDER BY DESC(?n) LIMIT 1""")))
    name, count = biggest["c"].value.rsplit("#", 1)[1], int(biggest["n"].value)
    first = client.get(f"/class/{name}").get_data(as_text=True)
    shown = re.findall(r'<ol class="members"[^>]*>(.*?)</ol>', first, re.S)[0].count("<li>")
    assert shown == min(count, PAGE_SIZE)
    if count > PAGE_SIZE:
        assert 'rel="next"' in first
        second = client.get(f"/class/{name}?page=2")
        assert second.status_code == 200 and 'start="51"' in second.get_data(as_text=True)


@pytest.mark.parametrize("path, status", [("/class/NoSuchClass", 404), ("/class/Treaty?page=0", 400),
                                          ("/class/Treaty?page=99", 404), ("/class/x%20y", 404),
                                          ("/class/Treaty?from=19x5", 400), ("/class/Treaty?from=1960&to=1950", 400),
                                          # digits of other scripts: \d matched them, and the years compared as text
                                          ("/class/Treaty?from=\u0661\u0669\u0664\u0665", 400),
                                          ("/timeline?to=\u0661\u0669\u0664\u0665", 400),
                                          ("/class/Treaty?page=\u0661", 400)])
def test_class_page_errors_are_precise(client, path, status):
    assert client.get(path).status_code == status


def test_timeline_shows_partial_dates_as_ranges_linked_to_page_and_sentence(client):
    html = client.get("/timeline").get_data(as_text=True)
    assert '<time datetime="1941-04-13">1941-04-13</time>' in html
    month = re.search(r'<time datetime="1946-12" title="any day from 1946-12-01 to 1946-12-31">', html)
    assert month, "a month is shown as the range it covers"
    assert 'title="any day from 1953-01-01 to 1953-12-31"' in html  # GUPVI ends in 1953 (a year)
    years = re.findall(r'<li class="year" id="y(\d{4})">', html)
    assert years == sorted(years)
    assert 'class="sentence-ref" href="/source/japanese-pows-in-the-soviet-union.html#s' in html
    assert 'class="citation-ref" href="/resource/citation-e1.html"' in html


def test_every_timeline_link_resolves(client):
    html = client.get("/timeline").get_data(as_text=True)
    for link in sorted({h.split("#", 1)[0] for h in hrefs(html) if h.startswith("/")}):
        assert client.get(link).status_code == 200, link


def test_timeline_narrows_to_a_range_of_years(client):
    html = client.get("/timeline?from=1950&to=1959").get_data(as_text=True)
    years = re.findall(r'<li class="year" id="y(\d{4})">', html)
    assert years and all("1950" <= y <= "1959" for y in years)
    assert 'href="/timeline?from=1940&amp;to=1949"' in html
    assert client.get("/timeline?from=1960&to=1950").status_code == 400
    assert client.get("/timeline?from=19x5").status_code == 400


def test_class_page_facet_by_sentence(client, store):
    html = client.get("/class/Person").get_data(as_text=True)
    assert "sentence=s7" in html
    narrowed = client.get("/class/Person?sentence=s7").get_data(as_text=True)
    listed = set(re.findall(r'<li><a href="[^"]+" title="([^"]+)"', narrowed))
    expected = {r["x"].value for r in store.query(
        "SELECT DISTINCT ?x WHERE { ?x a yk:Person ; yk:statedIn|yk:mentionedIn <https://w3id.org/yokuryu/source/japanese-pows-in-the-soviet-union#s7> }")}
    assert listed == expected and expected


def test_links_to_two_facets_at_once_are_nofollow(client):
    """One facet at a time is a link to follow; a link that narrows by two facets or more is
    rel="nofollow", so crawlers (and tests/test_browser_browse.py's) skip the combinations."""
    def facet_links(html):
        return {href.replace("&amp;", "&"): "nofollow" in rel for href, rel
                in re.findall(r'<a href="(/class/Event[^"]*)"([^>]*)>', html)}

    whole = facet_links(client.get("/class/Event").get_data(as_text=True))
    assert "/class/Event?sentence=s9" in whole and "/class/Event?from=1940&to=1949" in whole
    assert not any(whole.values()), "a single facet is followed"
    narrowed = facet_links(client.get("/class/Event?sentence=s9").get_data(as_text=True))
    assert narrowed["/class/Event?sentence=s9&from=1940&to=1949"] is True
    assert narrowed["/class/Event?type=Act&sentence=s9"] is True
    assert narrowed["/class/Event?sentence=s1"] is False and narrowed["/class/Event"] is False


def test_class_page_facet_by_date_range(client):
    """Dated members show their dates; a decade (or any from/to in years) keeps the members whose
    dates overlap it, and the other facets and the pager keep the range."""
    html = client.get("/class/Treaty").get_data(as_text=True)
    decades = dict(re.findall(r'href="/class/Treaty\?from=(\d{4})&amp;to=\d{4}">\d{4}s \((\d+)\)', html))
    assert decades["1940"] == "2" and "1950" in decades and "1920" in decades
    assert '<span class="dates">1941-04-13 – 1946-04</span>' in html  # the pact: signed, then in force until April 1946
    forties = client.get("/class/Treaty?from=1940&to=1949").get_data(as_text=True)
    listed = set(re.findall(r'<li><a href="/resource/([^".]+)\.html"', forties))
    # the pact (1941–1946) and the Third Geneva Convention (1949); not Geneva 1929 (in force 1931) nor 1956
    assert listed == {"soviet-japanese-neutrality-pact", "geneva-convention-1949-iii"}
    assert 'aria-current="true">1940s' in forties
    events = client.get("/class/Event?from=1956&to=1956").get_data(as_text=True)
    assert "/resource/return-of-jun-ushiroku.html" in events and "/resource/death-of-joseph-stalin.html" not in events
    assert re.search(r'href="/class/Event\?[^"]*from=1956&amp;to=1956[^"]*"', events), "other facets keep the range"
