"""The query page at ``/query``: the editor's page as served, the example queries, the overview of the
graph, and the static assets (in-browser behaviour is in test_browser.py)."""
from __future__ import annotations

import re
from html import unescape
from importlib import resources

import markupsafe


def installed_questions() -> list:
    folder = resources.files("yokuryu.graph") / "queries"
    if not folder.is_dir():
        return []
    return sorted((f for f in folder.iterdir() if f.name.startswith("cq") and f.name.endswith(".rq")), key=lambda f: f.name)


def test_query_page_lists_every_installed_competency_question(client):
    html = client.get("/query").get_data(as_text=True)
    buttons = re.findall(r'<button type="button" class="example" data-name="([^"]+)" data-query="([^"]*)">([^<]*)</button>', html,
                         re.S)
    files = installed_questions()
    assert [name for name, _, _ in buttons] == [f.name[:-3] for f in files]
    for (name, query, question), file in zip(buttons, files):
        text = file.read_text(encoding="utf-8")
        assert unescape(query) == text, "one click loads the query as written"
        first_comment = next(line for line in text.splitlines() if line.startswith("#"))
        assert unescape(question) == first_comment.lstrip("#").strip(), "the button says the question"


def test_home_counts_things_per_class_and_lists_graphs(client, store):
    html = client.get("/").get_data(as_text=True)
    row = next(iter(store.query("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a yk:State }")))
    assert re.search(r'title="https://w3id.org/yokuryu/ontology#State">state</a></td><td class="number">'
                     + row["n"].value + "<", html)
    for name in store.graph_names():
        assert f'title="{name}"' in html
    assert 'href="/source/japanese-pows-in-the-soviet-union.html"' in html


def test_shared_link_puts_the_query_in_the_editor(client):
    query = 'SELECT ?s WHERE { ?s rdfs:label "Japan"@en } # <&>'
    html = client.get("/query", query_string={"query": query}).get_data(as_text=True)
    textarea = re.search(r'<textarea id="query"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert textarea == str(markupsafe.escape(query))
    assert 'data-run-now="true"' in html


def test_links_to_the_old_query_address_still_work(client):
    """The editor moved from ``/?query=`` to ``/query?query=``: old shared links are redirected."""
    query = "SELECT ?s WHERE { ?s a yk:Treaty }"
    response = client.get("/", query_string={"query": query})
    assert response.status_code == 301
    assert response.headers["Location"].startswith("/query?query=")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert str(markupsafe.escape(query)) in html


def test_pages_work_offline(client):
    """Every script and style comes from this server: no CDN."""
    for path in ("/", "/query", "/class/Treaty", "/timeline", "/resource/potsdam-declaration.html", "/ontology",
                 "/search?q=japan"):
        html = client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
        for asset in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
            assert asset.startswith("/"), f"{path} loads {asset} from elsewhere"
            assert client.get(asset).status_code == 200, asset


def test_where_to_start_and_dump_links_resolve(client):
    html = client.get("/").get_data(as_text=True)
    start = html.split('<nav class="start"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'href="([^"]+)"', start)
    assert len(links) >= 4
    dumps = re.findall(r'href="(/dumps/[^"]+)"', html)
    assert len(dumps) >= 3
    for link in links + dumps:
        if link.startswith("#"):
            assert f'id="{link[1:]}"' in html, link
            continue
        response = client.get(link.split("#", 1)[0], follow_redirects=True)
        assert response.status_code == 200, link


def test_scripts_and_styles_are_served_with_their_types(client):
    assert client.get("/static/style.css").mimetype == "text/css"
    for script in ("sparql-editor.js", "query-ui.js"):
        response = client.get(f"/static/{script}")
        assert response.status_code == 200
        assert response.mimetype in ("text/javascript", "application/javascript")


def test_the_editor_is_a_labelled_form_that_works_without_script(client):
    """Without JavaScript the form still submits to /query?query=…, the shareable address."""
    html = client.get("/query").get_data(as_text=True)
    form = re.search(r'<form id="query-form" action="/query" method="get">', html)
    assert form is not None
    assert '<label for="query">' in html and '<textarea id="query" name="query"' in html
    assert 'aria-hidden="true"' in html.split('<div class="editor">', 1)[1].split("</div>", 1)[0]


def test_home_counts_are_kept_between_writes_and_right_after_each(built):
    """The home page's counts per class and per graph are worked out once per state of the store
    (a walk per view is seconds at a million quads) and are the store's own after every write."""
    import pyoxigraph as ox

    from yokuryu.graph import open_store
    from yokuryu.server import create_app
    from yokuryu.server.config import ServerConfig

    store = open_store(None)
    store.load_build(built)
    client = create_app(ServerConfig(update_token="t"), store).test_client()
    user = "https://w3id.org/yokuryu/graph/user/archive"
    state = "https://w3id.org/yokuryu/ontology#State"

    def write(text: str) -> None:
        answer = client.post("/sparql", data=text.encode(), headers={
            "Authorization": "Bearer t", "Content-Type": "application/sparql-update"})
        assert answer.status_code == 200, answer.get_data(as_text=True)

    def shown() -> dict[str, int]:
        """Each count of the home page's tables, by the IRI of its class or graph (and the same
        class counts on /class)."""
        counts = {}
        for page in ("/class", "/"):
            html = client.get(page).get_data(as_text=True)
            found = {iri: int(n) for iri, n in
                     re.findall(r'title="([^"]+)">[^<]*</a></td>\s*<td class="number">(\d+)</td>', html)}
            assert all(counts.get(iri, n) == n for iri, n in found.items()), page
            counts |= found
        return counts

    def live() -> dict[str, int]:
        counts = {name: sum(1 for _ in store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(name)))
                  for name in store.graph_names()}
        row = next(iter(store.query(f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s a <{state}> }}")))
        return {**counts, state: int(row["n"].value)}

    def agrees(page: dict[str, int]) -> None:
        expected = live()
        assert {k: page.get(k) for k in expected} == expected

    before = shown()
    agrees(before)
    write(f"INSERT DATA {{ GRAPH <{user}> {{ res:test-state a yk:State ; rdfs:label 'Test state'@en ; "
          f"rdfs:comment 'A state made up by a test.'@en }} }}")
    after = shown()
    agrees(after)
    assert after[user] == 3 and after[state] == before[state] + 1
    write(f"DELETE DATA {{ GRAPH <{user}> {{ res:test-state rdfs:comment 'A state made up by a test.'@en }} }}")
    agrees(shown())
    assert shown()[user] == 2
    write(f"DROP GRAPH <{user}>")
    page = shown()
    agrees(page)
    assert page.get(user, 0) == 0 and page[state] == before[state]
