"""Browsing in a real Chromium against a real ``yokuryu serve``: the story's things in at most two
clicks, no sideways scrolling on a phone, the timeline, a crawl of every internal link, search by
other names, and the query page (labels, numbers, prefix errors, paging, history).

Screenshots go to tests/artifacts/ (and docs/screenshots/ with YOKURYU_UPDATE_SCREENSHOTS=1).
"""
from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import parse_qs, urldefrag, urljoin, urlparse

import pytest
import requests

from test_browser import browser, page, screenshot, wait_for_status  # noqa: F401  (the fixtures: Chromium, a page)

pytestmark = pytest.mark.browser

BASE = "https://w3id.org/yokuryu/"


def things(store, cls: str) -> list[str]:
    return sorted(r["x"].value for r in store.query(f"SELECT DISTINCT ?x WHERE {{ ?x a yk:{cls} }}"))


def page_of(iri: str) -> str:
    return "/" + iri[len(BASE):] + ".html"


def reach(page, server, target: str, listings: dict[str, str]) -> int:
    """Click from the home page to ``target``'s page, directly or through a class page; the clicks
    taken. ``listings`` keeps the class pages read so far (to find which one links ``target``)."""
    page.goto(server.url + "/")
    direct = page.locator(f"main a[href='{target}']")
    if direct.count():
        direct.first.click()
        page.wait_for_url("**" + target)
        return 1
    for cls_link in page.locator("main a[href^='/class/']").all():
        href = cls_link.get_attribute("href")
        if href not in listings:
            listings[href] = requests.get(server.url + href, timeout=30).text
        listing = listings[href]
        if f'href="{target}"' in listing:
            cls_link.click()
            page.wait_for_url("**" + href)
            page.locator(f"main a[href='{target}']").first.click()
            page.wait_for_url("**" + target)
            return 2
    raise AssertionError(f"{target} is not reachable in two clicks from the home page")


def test_the_storys_things_are_at_most_two_clicks_from_home(server, store, page):
    targets = [BASE + "resource/internment-of-japanese-pows"]
    for cls in ("InternationalInstrument", "LabourCamp", "Estimate", "Work"):
        targets += things(store, cls)
    assert len(targets) > 15
    page.goto(server.url + "/")
    screenshot(page, "home", full_page=False)
    clicks, listings = {}, {}
    for iri in targets:
        clicks[iri] = reach(page, server, page_of(iri), listings)
        assert page.locator("h1").count() == 1
    assert max(clicks.values()) <= 2
    page.goto(server.url + "/resource/internment-of-japanese-pows.html")
    screenshot(page, "internment", full_page=False)
    # a class page, as a person sees it
    page.goto(server.url + "/class/InternationalInstrument")
    screenshot(page, "class", full_page=False)


PHONE_PAGES = ["/", "/query", "/class", "/class/Treaty", "/class/Person?from=1940&to=1949", "/timeline", "/search?q=soviet", "/ontology", "/shapes",
               "/resource/internment-of-japanese-pows.html", "/resource/soviet-union.html",
               "/resource/soviet-japanese-neutrality-pact.html", "/resource/potsdam-declaration.html",
               "/resource/estimate-deaths-nimmo.html", "/source/japanese-pows-in-the-soviet-union.html",
               "/graph/links.html"]


def test_no_horizontal_scroll_at_390_px(server, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    phone = context.new_page()
    try:
        wide = {}
        for path in PHONE_PAGES:
            phone.goto(server.url + path)
            overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            if overflow > 0:
                wide[path] = overflow
        assert wide == {}, f"pages wider than the screen (px too wide): {wide}"
        phone.goto(server.url + "/resource/internment-of-japanese-pows.html")
        screenshot(phone, "phone-internment", full_page=False)
    finally:
        context.close()


def test_print_leaves_out_the_navigation(server, page):
    page.goto(server.url + "/resource/internment-of-japanese-pows.html")
    page.emulate_media(media="print")
    assert page.locator("header.site").is_hidden()
    assert page.locator("footer.site").is_hidden()
    assert page.locator("main h1").is_visible()


def test_the_timeline_renders_and_its_links_resolve(server, page):
    page.goto(server.url + "/timeline")
    events = page.locator("ol.timeline li.event")
    assert events.count() > 20
    assert page.locator("ol.timeline li.event.range").count() > 0, "partial dates are shown as ranges"
    screenshot(page, "timeline", full_page=False)
    links = set(page.eval_on_selector_all("ol.timeline a[href]", "as => as.map(a => a.getAttribute('href'))"))
    assert links
    for link in sorted(links):
        url = urljoin(server.url + "/", link)
        response = page.request.get(url)
        assert response.status == 200, link
        fragment = urlparse(link).fragment
        if fragment:
            assert f'id="{fragment}"' in response.text(), link


class _Links(HTMLParser):
    """The ``href`` of every element on a page, each with its ``rel`` words."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, set[str]]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("href"):
            self.links.append((attrs["href"], set((attrs.get("rel") or "").split())))


def _facets_in(url: str) -> set[str]:
    """The class-page facets a URL narrows by; from and to together are one (the dates)."""
    names = set(parse_qs(urlparse(url).query))
    return (names & {"type", "graph", "sentence"}) | ({"dates"} if names & {"from", "to"} else set())


def _kind(url: str) -> tuple:
    """What kind of page a URL is: its route (the path with the thing's name left out) and its parameters."""
    parts = urlparse(url)
    path = re.sub(r"^/(resource|source|graph|class)/[^/]+?(\.[a-z]+)?$", r"/\1/*\2", parts.path)
    return path, tuple(sorted(parse_qs(parts.query)))


@pytest.mark.slow
def test_a_crawl_of_every_internal_link_from_home_finds_no_error(server, browser):  # noqa: F811
    """Every page reachable from / by following links on this server answers 200 (or a redirect to
    one), and one page of each kind renders in Chromium without a console error.

    The crawl follows every link but those marked rel="nofollow": the class pages mark their links
    to lists narrowed by two facets or more (kind × graph × sentence × decade and their pages), which
    would multiply the crawl into thousands of near-identical lists. The test checks that nothing
    else is marked so, and fetches a few combinations of each pair of facets instead."""
    session = requests.Session()
    start = server.url + "/"
    seen, queue, broken, fetched, kinds, unfollowed = {start}, deque([start]), {}, 0, {}, {}
    while queue:
        url = queue.popleft()
        response = session.get(url, timeout=60, headers={"Accept": "text/html"})
        fetched += 1
        if response.status_code >= 400:
            broken[url] = response.status_code
            continue
        if not response.headers.get("Content-Type", "").startswith("text/html"):
            continue
        kinds.setdefault(_kind(url), url)
        links = _Links()
        links.feed(response.text)
        for href, rel in links.links:
            target, _ = urldefrag(urljoin(url, href))
            if not target.startswith(server.url):
                continue
            if "nofollow" in rel:
                unfollowed.setdefault(target, url)
            elif target not in seen:
                seen.add(target)
                queue.append(target)
    assert broken == {}, f"{len(broken)} broken of {fetched}: {dict(list(broken.items())[:20])}"
    assert fetched > 300

    # Only facet combinations are left to nofollow; a few of each pair of facets still render.
    unfollowed = {target: on for target, on in unfollowed.items() if target not in seen}
    wrongly = {t: on for t, on in unfollowed.items()
               if not urlparse(t).path.startswith("/class/") or len(_facets_in(t)) < 2}
    assert wrongly == {}, f"rel=nofollow on links that are not facet combinations: {list(wrongly.items())[:10]}"
    assert unfollowed, "no facet combination is linked (marked nofollow): the facets or the test changed"
    samples: dict[tuple, list[str]] = {}
    for target in sorted(unfollowed):
        group = samples.setdefault(tuple(sorted(parse_qs(urlparse(target).query))), [])
        if len(group) < 3:
            group.append(target)
    for group in samples.values():
        for target in group:
            response = session.get(target, timeout=60, headers={"Accept": "text/html"})
            assert response.status_code == 200, f"{target} (linked from {unfollowed[target]}): {response.status_code}"
            kinds.setdefault(_kind(target), target)
    assert len(samples) >= 6, f"fewer kinds of facet combination than expected: {sorted(samples)}"

    # One page of each kind in a real browser: no console error, no uncaught JavaScript error. The
    # search results are reached by a form, not by a link.
    kinds.setdefault(("/search", ("q",)), server.url + "/search?q=soviet")
    context = browser.new_context()
    page = context.new_page()
    errors: dict[str, list[str]] = {}
    page.on("console", lambda m: errors.setdefault(page.url, []).append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.setdefault(page.url, []).append(str(e)))
    try:
        for url in sorted(kinds.values()):
            page.goto(url)
            page.wait_for_load_state("load")
    finally:
        context.close()
    assert len(kinds) > 10, sorted(kinds)
    assert errors == {}, f"console errors on {len(errors)} of {len(kinds)} kinds of page: {errors}"


@pytest.mark.parametrize("name, expected", [("Khruschev", "Khrushchev Thaw"), ("USSR", "Soviet Union"),
                                            ("Kuomintang", "Republic of China")])
def test_search_finds_the_sources_other_names(server, page, name, expected):
    page.goto(server.url + "/")
    page.fill("#site-search", name)
    page.press("#site-search", "Enter")
    page.wait_for_url("**/search?q=*")
    assert expected in page.locator("ul.hits").inner_text()


def test_query_results_show_labels_and_plain_numbers(server, page):
    page.goto(server.url + "/query")
    page.fill("#query", "SELECT ?estimate ?value WHERE { ?estimate a yk:DeathTollEstimate ; yk:estimatedValue ?value }")
    page.click("#run")
    wait_for_status(page, r"result|failed")
    # the labels arrive after the table (one request to /labels); the page's CSP forbids eval, so poll here
    for _ in range(100):
        if not any(t.startswith("res:") for t in page.locator("table.results a").all_inner_texts()):
            break
        page.wait_for_timeout(100)
    table = page.locator("table.results").inner_text()
    assert "60000" in table and "xsd:integer" not in table
    assert "res:" not in table
    screenshot(page, "query-labels", full_page=False)


@pytest.mark.parametrize("query, words", [
    ("SELECT ?s WHERE {\n  ?s foo:bar ?o\n}", "prefix `foo:` is not declared (line 2, column 6)"),
    ("SELECT * WHERE {\n  ?s rdfs:label\n}", "line 2, column 3: `?s rdfs:label` has no object"),
])
def test_a_syntax_error_is_named_with_its_position_and_fix(server, page, query, words):
    page.goto(server.url + "/query")
    page.fill("#query", query)
    page.click("#run")
    wait_for_status(page, r"failed")
    error = page.locator("#error").text_content()
    assert words in error
    assert "\\u{" not in error and "LATERAL" not in error  # neither escaped nor the engine's token list


def test_long_results_are_paged_and_queries_remembered(server, page):
    page.goto(server.url + "/query")
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 250"
    page.fill("#query", query)
    page.click("#run")
    wait_for_status(page, r"result|failed")
    assert page.locator("table.results tbody tr").count() == 100
    assert page.locator("#page-status").text_content() == "rows 1–100 of 250"
    page.click("#next-page")
    page.locator("#page-status", has_text="rows 101").wait_for()
    page.click("#next-page")
    page.locator("#page-status", has_text="rows 201–250 of 250").wait_for()
    assert page.locator("table.results tbody tr").count() == 50
    assert page.locator("#next-page").is_disabled()
    page.goto(server.url + "/query")
    page.wait_for_selector("#history-list button")
    assert page.locator("#history").is_visible()
    assert page.locator("#history-list button").first.get_attribute("title") == query


def test_each_statement_shows_its_own_citation(server, page):
    """Potsdam Art. 9: its text rests on E11, the reading of it as an obligation of the issuers on
    E12, each on its own row, and the citation link opens the citation."""
    page.goto(server.url + "/resource/potsdam-declaration-article-9.html")
    table = page.locator("section.statements table.statements").first
    text_row = table.locator("tr", has=page.locator("th a[title$='#provisionText']"))
    obliges_row = table.locator("tr", has=page.locator("th a[title$='#obligesPartiesBoundBy']")).first
    assert text_row.locator("a.citation-ref").all_inner_texts() == ["E11"]
    assert obliges_row.locator("a.citation-ref").all_inner_texts() == ["E12"]
    table.scroll_into_view_if_needed()
    screenshot(page, "statements", full_page=False)
    text_row.locator("a.citation-ref").click()
    page.wait_for_url("**/resource/citation-e11.html")
    assert "history.state.gov" in page.locator("main").inner_text()
