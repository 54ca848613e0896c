"""End to end in a real browser: Debian's Chromium, driven headless by Playwright, against a real
``yokuryu serve``. Screenshots go to tests/artifacts/ (and, with YOKURYU_UPDATE_SCREENSHOTS=1,
to docs/screenshots/ for the README).

Without Chromium these tests skip with a loud reason; with YOKURYU_REQUIRE_BROWSER=1 (CI sets
it) a missing browser is a failure instead.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    for candidate in (os.environ.get("YOKURYU_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    problem = None
    if executable is None:
        problem = ("Chromium is not installed: the browser tests did NOT run. Install it with "
                   "'apt-get install -y chromium' (tests/run.sh does this when run as root).")
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            problem = "Playwright is not installed: the browser tests did NOT run (pip install -e '.[test]')."
    if problem:
        if os.environ.get("YOKURYU_REQUIRE_BROWSER") == "1":
            pytest.fail(problem + " YOKURYU_REQUIRE_BROWSER=1 makes this a failure.")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("YOKURYU_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{name}.png")


def run_and_wait(page) -> None:
    page.click("#run")
    wait_for_status(page, r"result|failed")


def wait_for_status(page, pattern: str) -> None:
    # A locator, not wait_for_function: that one evaluates a string in the page, which the
    # pages' Content-Security-Policy forbids (no eval), as it should.
    page.locator("#status", has_text=re.compile(pattern)).wait_for()


def test_example_query_table_resource_page_and_link(server, page):
    page.goto(server.url + "/query")
    assert page.title().endswith("Yokuryū")
    screenshot(page, "query", full_page=False)
    examples = page.locator("button.example")
    if examples.count():  # the competency questions installed in graph/queries, one click each
        examples.first.click()
        wait_for_status(page, r"result|failed")
        assert page.locator("#query").input_value() == examples.first.get_attribute("data-query")
    else:  # none installed: the editor's own example query
        run_and_wait(page)
    assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
    assert page.locator("table.results tbody tr").count() > 0

    # a query whose answers are resources of the graph: their IRIs link to their pages
    page.fill("#query", "SELECT ?instrument ?label WHERE {\n  ?instrument a yk:InternationalInstrument ;\n"
                        "              rdfs:label ?label .\n}\nORDER BY ?label")
    run_and_wait(page)
    rows = page.locator("table.results tbody tr")
    assert rows.count() >= 2
    page.evaluate("document.getElementById('query-h').scrollIntoView()")
    screenshot(page, "query-result", full_page=False)
    page.locator("table.results a[title='https://w3id.org/yokuryu/resource/potsdam-declaration']").first.click()
    page.wait_for_url("**/resource/potsdam-declaration.html")
    assert page.locator("h1").text_content() == "Potsdam Declaration"

    # follow a link from the page: the sentence that mentions it, in its source document
    page.locator("section.provenance ul.sentences a").first.click()
    page.wait_for_url("**/source/japanese-pows-in-the-soviet-union.html#s*")
    anchor = urlparse(page.url).fragment
    assert page.locator(f"section#{anchor} blockquote.sentence").count() == 1
    assert "Potsdam Declaration" in page.locator(f"section#{anchor} blockquote.sentence").text_content()


def test_download_results_as_csv(server, page, tmp_path):
    page.goto(server.url + "/query")
    page.fill("#query", "SELECT ?state ?label WHERE { ?state a yk:State ; rdfs:label ?label FILTER(LANG(?label) = 'en') } ORDER BY ?label")
    run_and_wait(page)
    shown = page.locator("table.results tbody tr").count()
    with page.expect_download() as info:
        page.click("#download-buttons button[data-format='csv']")
    download = info.value
    assert download.suggested_filename == "yokuryu-results.csv"
    target = tmp_path / "results.csv"
    download.save_as(target)
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["state", "label"]
    assert len(rows) - 1 == shown
    assert ["https://w3id.org/yokuryu/resource/japan", "Japan"] in rows


def test_shared_link_reproduces_the_query(server, page):
    query = "SELECT ?s WHERE { ?s a yk:Declaration }"
    page.goto(server.url + "/query")
    page.fill("#query", query)
    page.locator("#query").press("Control+Enter")  # the keyboard runs it too
    wait_for_status(page, r"result")
    assert parse_qs(urlparse(page.url).query)["query"] == [query]
    shared = page.locator("#share").get_attribute("href")
    first = page.locator("table.results").inner_text()
    page.goto(server.url + shared)
    page.wait_for_selector("table.results")
    assert page.locator("#query").input_value() == query
    assert page.locator("table.results").inner_text() == first


def test_errors_are_shown_in_place_and_the_editor_highlights(server, page):
    page.goto(server.url + "/query")
    assert page.locator("#query-highlight .tok-kw").count() > 0
    assert page.locator("#query-highlight .tok-var").count() > 0
    page.fill("#query", "SELECT ?x WHERE { ?x ")
    run_and_wait(page)
    error = page.locator("#error")
    assert error.is_visible()
    assert "syntax error" in error.text_content().lower()
    assert page.locator("#query").get_attribute("aria-invalid") == "true"
    assert page.locator("table.results").count() == 0


def test_treaty_page_shows_its_violations_and_provenance(server, page):
    page.goto(server.url + "/resource/soviet-japanese-neutrality-pact")
    assert page.url.endswith("/resource/soviet-japanese-neutrality-pact.html")
    assert "Neutrality Pact" in page.locator("h1").text_content()
    assert page.locator("section.provenance").is_visible()
    assert page.locator("section.violations article.violation").count() > 0, "the rules' violations are listed"
    explanation = page.locator("section.violations").inner_text()
    assert "Soviet Union" in explanation
    screenshot(page, "treaty", full_page=False)


def test_a_browser_sent_to_the_endpoint_lands_on_the_query_page(server, page):
    query = "SELECT ?label WHERE { res:japan rdfs:label ?label }"
    page.goto(server.url + "/sparql?query=" + quote(query))
    page.wait_for_selector("table.results")
    assert urlparse(page.url).path == "/query"  # the editor moved from / to /query
    assert page.locator("#query").input_value() == query
    assert "Japan" in page.locator("table.results").inner_text()


def test_construct_results_are_a_table_of_triples_and_download_as_turtle(server, page, tmp_path):
    page.goto(server.url + "/query")
    page.fill("#query", "CONSTRUCT { res:japan rdfs:label ?label } WHERE { res:japan rdfs:label ?label }")
    run_and_wait(page)
    headers = page.locator("table.results thead th").all_inner_texts()
    assert headers == ["subject", "predicate", "object"]
    assert "Japan" in page.locator("table.results tbody").inner_text()
    formats = page.locator("#download-buttons button").all_inner_texts()
    assert formats == ["Turtle", "N-Triples", "JSON-LD", "RDF/XML", "TriG", "N-Quads"]
    with page.expect_download() as info:
        page.click("#download-buttons button[data-format='ttl']")
    target = tmp_path / "results.ttl"
    info.value.save_as(target)
    from rdflib import Graph, Literal, URIRef
    graph = Graph().parse(target, format="turtle")
    assert (URIRef("https://w3id.org/yokuryu/resource/japan"), URIRef("http://www.w3.org/2000/01/rdf-schema#label"),
            Literal("Japan", lang="en")) in graph
