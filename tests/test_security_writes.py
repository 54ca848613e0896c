"""Issue #10, findings 5 and 7, over real HTTP: no write from another site or under a foreign host
name, and no RDF body that crashes the server, fills its memory or makes it fetch. A refused
write changes nothing, and the server is alive afterwards."""
from __future__ import annotations

import socket
import threading

import pytest
import requests

from conftest import ServerProcess, select_values

TOKEN = "s3cret-token"
GRAPH = "urn:x:security"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"


@pytest.fixture(scope="module")
def anonymous():
    """The finding's setting: a plain local server that accepts anonymous writes."""
    server = ServerProcess("--empty", "--allow-anonymous-updates")
    requests.post(f"{server.url}/sparql", data={"update": f"INSERT DATA {{ GRAPH <{GRAPH}> {{ <urn:x:s> <urn:x:p> 1 }} }}"},
                  timeout=30).raise_for_status()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def writable():
    """A plain server that accepts writes with a token (the fastest write path)."""
    server = ServerProcess("--empty", "--update-token", TOKEN)
    yield server
    server.stop()


def quads(server) -> int:
    response = requests.get(f"{server.url}/sparql", params={"query": COUNT}, timeout=60)
    assert response.status_code == 200, response.text
    return int(select_values(response, "n")[0])


def alive(server) -> bool:
    return requests.get(f"{server.url}/health", timeout=30).status_code == 200 and server.process.poll() is None


# --- finding 5: cross-site writes and DNS rebinding ------------------------------------------------------

CROSS_SITE_WRITES = {
    "form update": ("post", "/sparql", {"data": {"update": "DROP ALL"}}),
    "update body": ("post", "/sparql", {"data": b"DROP ALL", "headers": {"Content-Type": "application/sparql-update"}}),
    "graph store text/plain POST": ("post", f"/store?graph={GRAPH}",
                                    {"data": b"<urn:x:evil> <urn:x:p> 2 .", "headers": {"Content-Type": "text/plain"}}),
    "graph store PUT": ("put", f"/store?graph={GRAPH}",
                        {"data": b"<urn:x:evil> <urn:x:p> 2 .", "headers": {"Content-Type": "text/turtle"}}),
    "graph store DELETE": ("delete", f"/store?graph={GRAPH}", {}),
}


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
@pytest.mark.parametrize("name", CROSS_SITE_WRITES)
def test_a_write_from_another_site_is_refused(anonymous, name, origin):
    method, path, kwargs = CROSS_SITE_WRITES[name]
    before = quads(anonymous)
    headers = {**kwargs.get("headers", {}), "Origin": origin}
    response = requests.request(method, anonymous.url + path, **{**kwargs, "headers": headers}, timeout=30)
    assert response.status_code == 403, response.text
    assert "nothing was applied" in response.text and "Origin" in response.text
    assert quads(anonymous) == before > 0


def test_a_write_marked_cross_site_without_origin_is_refused(anonymous):
    before = quads(anonymous)
    response = requests.post(f"{anonymous.url}/sparql", data={"update": "DROP ALL"},
                             headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
    assert response.status_code == 403
    assert quads(anonymous) == before


def test_writes_from_the_servers_own_pages_and_from_tools_are_accepted(anonymous):
    insert = f"INSERT DATA {{ GRAPH <{GRAPH}> {{ <urn:x:own> <urn:x:p> 3 }} }}"
    same_origin = requests.post(f"{anonymous.url}/sparql", data={"update": insert},
                                headers={"Origin": anonymous.url, "Sec-Fetch-Site": "same-origin"}, timeout=30)
    assert same_origin.status_code == 200, same_origin.text
    tool = requests.post(f"{anonymous.url}/sparql", data={"update": f"DELETE DATA {{ GRAPH <{GRAPH}> {{ <urn:x:own> <urn:x:p> 3 }} }}"},
                         timeout=30)
    assert tool.status_code == 200, tool.text
    # reading from another site stays allowed: CORS is for reads
    read = requests.get(f"{anonymous.url}/sparql", params={"query": "ASK {}"}, headers={"Origin": "https://evil.example"},
                        timeout=30)
    assert read.status_code == 200 and read.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io"])
def test_a_foreign_host_name_is_refused_dns_rebinding(anonymous, host):
    before = quads(anonymous)
    write = requests.post(f"{anonymous.url}/sparql", data={"update": "DROP ALL"},
                          headers={"Host": host, "Origin": f"http://{host}"}, timeout=30)
    assert write.status_code == 400
    assert "--allowed-hosts" in write.text and "YOKURYU_ALLOWED_HOSTS" in write.text
    read = requests.get(f"{anonymous.url}/sparql", params={"query": COUNT}, headers={"Host": host}, timeout=30)
    assert read.status_code == 400
    assert quads(anonymous) == before


def test_loopback_names_are_answered(anonymous):
    port = anonymous.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST"):
        assert requests.get(f"{anonymous.url}/health", headers={"Host": host}, timeout=30).status_code == 200


def test_allowed_hosts_are_configurable(start_server):
    server = start_server("--empty", "--allowed-hosts", "data.example,.example.net",
                          env={"YOKURYU_ALLOWED_HOSTS": "ignored.example"})
    assert "answers for data.example, .example.net" in "".join(server.output)
    for host, status in (("data.example", 200), ("www.example.net", 200), ("example.net", 200),
                         ("ignored.example", 400), ("127.0.0.1", 400), ("notexample.net", 400)):
        response = requests.get(f"{server.url}/health", headers={"Host": host}, timeout=30)
        assert response.status_code == status, (host, response.text)


def test_allowed_hosts_from_the_environment_and_bad_values(start_server):
    from conftest import run_cli
    server = start_server("--empty", env={"YOKURYU_ALLOWED_HOSTS": "Data.Example, localhost"})
    assert requests.get(f"{server.url}/health", headers={"Host": "data.example"}, timeout=30).status_code == 200
    result = run_cli("serve", "--empty", "--allowed-hosts", " , ", timeout=60)
    assert result.returncode == 2 and b"--allowed-hosts" in result.stderr


# --- finding 7: write-side amplification ----------------------------------------------------------------

XML_HEAD = b'<?xml version="1.0"?>\n'
RDF_OPEN = b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://e/">'
ENTITY_BOMB = (XML_HEAD + b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">' +
               b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), b"&%s;" % bytes([97 + i]) * 10) for i in range(8)) +
               b"]>\n" + RDF_OPEN + b'<rdf:Description rdf:about="http://e/a"><ex:p>&i;</ex:p></rdf:Description></rdf:RDF>')

HOSTILE_BODIES = {
    # name: (media type, body, status)
    "RDF/XML entity bomb": ("application/rdf+xml", ENTITY_BOMB, 400),
    "RDF/XML 10,000 nested elements": ("application/rdf+xml", XML_HEAD + RDF_OPEN + b'<rdf:Description rdf:about="http://e/a"><ex:p rdf:parseType="Resource">' * 5000 + b"</ex:p></rdf:Description>" * 5000 + b"</rdf:RDF>", 400),
    "JSON-LD 4,000 objects deep": ("application/ld+json", b'{"http://e/p": ' * 4000 + b'"x"' + b"}" * 4000, 400),
    "JSON-LD 100,000 arrays deep": ("application/ld+json", b'{"@id": "http://e/a", "http://e/p": ' + b"[" * 100000 + b"]" * 100000 + b"}", 400),
    "Turtle 10,000 nested brackets": ("text/turtle", b"<http://e/a> <http://e/p> " + b"[ <http://e/p> " * 10000 + b"]" * 10000 + b" .", 400),
    "Turtle 10,000 nested lists behind an escaped #": ("text/turtle", b"@prefix ex: <http://e/> . ex:a\\#x ex:p " + b"(" * 10000 + b")" * 10000 + b" .", 400),
    "N-Triples 10,000 nested triple terms": ("application/n-triples", b"<http://e/a> <http://e/p> " + b"<<( <http://e/a> <http://e/p> " * 10000 + b"<http://e/o>" + b" )>>" * 10000 + b" .", 400),
    "Turtle list of 400,000 items (800 KB)": ("text/turtle", b"<http://e/a> <http://e/p> (" + b"1 " * 400000 + b") .", 413),
    "Turtle list of 20,000 items (40 KB, 40,000 quads)": ("text/turtle", b"<http://e/a> <http://e/p> (" + b"1 " * 20000 + b") .", 413),
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_hostile_rdf_bodies_are_refused_and_change_nothing(writable, name):
    media_type, body, status = HOSTILE_BODIES[name]
    before = quads(writable)
    response = requests.put(f"{writable.url}/store", params={"graph": GRAPH}, data=body, timeout=120,
                            headers={"Content-Type": media_type, "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == status, response.text[:500]
    assert "Nothing was applied" in response.text or "nothing was applied" in response.text
    assert "Traceback" not in response.text
    assert alive(writable)
    assert quads(writable) == before


def test_the_messages_name_the_limit_to_change(writable):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    deep = requests.put(f"{writable.url}/store", params={"graph": GRAPH}, timeout=60,
                        data=HOSTILE_BODIES["JSON-LD 4,000 objects deep"][1],
                        headers={**auth, "Content-Type": "application/ld+json"})
    assert "--max-rdf-depth" in deep.text and "YOKURYU_MAX_RDF_DEPTH" in deep.text
    big = requests.put(f"{writable.url}/store", params={"graph": GRAPH}, timeout=60,
                       data=HOSTILE_BODIES["Turtle list of 400,000 items (800 KB)"][1],
                       headers={**auth, "Content-Type": "text/turtle"})
    assert "--max-write-quads" in big.text and "YOKURYU_MAX_WRITE_QUADS" in big.text
    bomb = requests.put(f"{writable.url}/store", params={"graph": GRAPH}, timeout=60, data=ENTITY_BOMB,
                        headers={**auth, "Content-Type": "application/rdf+xml"})
    assert "DOCTYPE" in bomb.text


def test_a_remote_json_ld_context_is_never_fetched(writable):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    connections = []

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0])
            except OSError:
                pass

    stop = threading.Event()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        for context in (f'"http://127.0.0.1:{port}/context.jsonld"',
                        f'["http://127.0.0.1:{port}/a", {{"ex": "http://e/"}}]',
                        f'{{"@import": "http://127.0.0.1:{port}/b", "ex": "http://e/"}}'):
            body = f'{{"@context": {context}, "@id": "http://e/a", "http://e/p": "x"}}'.encode()
            response = requests.post(f"{writable.url}/store", params={"graph": GRAPH}, data=body, timeout=30,
                                     headers={"Content-Type": "application/ld+json", "Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 400, response.text
            assert "never fetches" in response.text
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert connections == []


def test_ordinary_bodies_in_every_syntax_are_still_written(writable):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bodies = {
        "text/turtle": b"@prefix ex: <http://e/> . ex:a ex:p (1 2 [ ex:q \"(((\" ]) ; ex:r \"\"\"a ]]] \"\"\" . # ((((",
        "application/n-triples": b"<http://e/a> <http://e/p> <<( <http://e/a> <http://e/p> <http://e/o> )>> .",
        "application/ld+json": b'{"@context": {"ex": "http://e/"}, "@id": "ex:a", "ex:p": [{"@id": "ex:b", "ex:q": "[[["}]}',
        "application/rdf+xml": XML_HEAD + RDF_OPEN + b'<rdf:Description rdf:about="http://e/a"><ex:p>x &amp; y</ex:p></rdf:Description></rdf:RDF>',
    }
    for media_type, body in bodies.items():
        response = requests.put(f"{writable.url}/store", params={"graph": GRAPH}, data=body, timeout=60,
                                headers={**auth, "Content-Type": media_type})
        assert response.status_code in (201, 204), (media_type, response.text)
    graph = requests.get(f"{writable.url}/store", params={"graph": GRAPH}, headers={"Accept": "application/n-triples"},
                         timeout=30)
    assert '"x & y"' in graph.text


def test_a_syntax_error_still_says_where(writable):
    response = requests.put(f"{writable.url}/store", params={"graph": GRAPH}, data=b"<http://e/a> <http://e/p> .",
                            headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 400
    assert "not valid Turtle" in response.text and "line 1" in response.text


def test_limits_are_configurable(start_server):
    server = start_server("--empty", "--update-token", TOKEN, "--max-write-quads", "2", "--max-rdf-depth", "3")
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/turtle"}
    three = b"<http://e/a> <http://e/p> 1, 2, 3 ."
    assert requests.put(f"{server.url}/store", params={"graph": GRAPH}, data=three, headers=auth, timeout=30).status_code == 413
    deep = b"<http://e/a> <http://e/p> " + b"[ <http://e/p> " * 4 + b"1" + b" ]" * 4 + b" ."
    assert requests.put(f"{server.url}/store", params={"graph": GRAPH}, data=deep, headers=auth, timeout=30).status_code == 400
    two = b"<http://e/a> <http://e/p> [ <http://e/p> 1 ] ."
    assert requests.put(f"{server.url}/store", params={"graph": GRAPH}, data=two, headers=auth, timeout=30).status_code == 201


@pytest.mark.slow
def test_a_parser_crash_is_contained():
    """Even if the scan missed a way to crash the parser, the parsing process dies, not the server."""
    import pyoxigraph as ox

    from yokuryu.graph.untrusted_rdf import RdfLimits, UntrustedRdfError, _parse_in_child
    body = b'{"http://e/p": ' * 20000 + b'"x"' + b"}" * 20000  # overflows pyoxigraph's stack in-process
    with pytest.raises(UntrustedRdfError) as refused:
        _parse_in_child(body, ox.RdfFormat.JSON_LD, RdfLimits(memory_bytes=512 * 1024 ** 2), None, "the body")
    assert refused.value.status in (400, 413)


def test_a_committed_write_is_never_answered_with_an_error():
    """If the query processes cannot take a committed write, the client still hears it was applied."""
    from yokuryu.graph import open_store
    from yokuryu.server import create_app
    from yokuryu.server.config import ServerConfig
    from yokuryu.server.executor import QueryExecutor

    class BrokenCopy(QueryExecutor):
        holds_a_copy = True

        def committed(self, removed, added):
            raise OSError("Reached the buffer maximal size of 16777216")

    store = open_store(None)
    config = ServerConfig(empty=True, allow_anonymous_updates=True, union_default_graph=False)
    client = create_app(config, store, executor=BrokenCopy(store, 1, 30)).test_client()
    response = client.post("/sparql", data={"update": "INSERT DATA { <urn:x:s> <urn:x:p> 1 }"})
    assert response.status_code == 200, response.text
    assert "1 quads added" in response.text
    assert len(store) == 1


def test_an_update_of_too_much_data_is_refused(writable):
    before = quads(writable)
    items = " ".join(["1"] * 60000)  # 120,000 quads as a list
    response = requests.post(f"{writable.url}/sparql", timeout=120, data={"update": f"INSERT DATA {{ <urn:x:a> <urn:x:p> ({items}) }}"},
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 413, response.text
    assert "--max-write-quads" in response.text
    assert quads(writable) == before


def test_a_graph_url_that_is_no_iri_is_a_400(writable):
    # found by tests/test_fuzz.py: /store/%C2%80 was a 500
    for method in ("GET", "PUT", "DELETE"):
        response = requests.request(method, f"{writable.url}/store/%C2%80", headers={"Authorization": f"Bearer {TOKEN}"},
                                    timeout=30)
        assert response.status_code == 400, (method, response.text)


def test_the_quad_limit_counts_all_parts_of_a_multipart_write(start_server):
    server = start_server("--empty", "--update-token", TOKEN, "--max-write-quads", "3")
    part = ("a.ttl", b"<http://e/a> <http://e/p> 1, 2 .", "text/turtle")
    response = requests.post(f"{server.url}/store", params={"graph": GRAPH}, files={"one": part, "two": part},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 413, response.text
    assert quads(server) == 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["knowledge graph in memory", "knowledge graph on disk", "plain on disk"])
def test_crashing_bodies_are_refused_in_every_mode(start_server, tmp_path, mode):
    args = {"knowledge graph in memory": [], "knowledge graph on disk": ["--store", tmp_path / "kg"],
            "plain on disk": ["--empty", "--store", tmp_path / "plain"]}[mode]
    server = start_server(*args, "--update-token", TOKEN)
    before = quads(server)
    graph = "https://w3id.org/yokuryu/graph/user/hostile"
    for name in ("JSON-LD 4,000 objects deep", "Turtle 10,000 nested brackets", "RDF/XML entity bomb"):
        media_type, body, status = HOSTILE_BODIES[name]
        response = requests.put(f"{server.url}/store", params={"graph": graph}, data=body, timeout=120,
                                headers={"Content-Type": media_type, "Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == status, (name, response.text[:300])
    assert alive(server)
    assert quads(server) == before


def test_an_insert_where_that_would_add_too_much_is_refused_before_it_is_checked(start_server):
    server = start_server("--update-token", TOKEN, "--max-write-quads", "50")
    before = quads(server)
    cross = ("INSERT { GRAPH <https://w3id.org/yokuryu/graph/user/cross> { ?a rdfs:seeAlso ?b } } "
             "WHERE { ?a rdfs:label ?label . ?b a yk:LabourCamp }")
    response = requests.post(f"{server.url}/sparql", data={"update": cross}, timeout=120,
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 413, response.text
    assert "--max-write-quads" in response.text and "Nothing was applied" in response.text
    assert quads(server) == before


@pytest.mark.parametrize("text, depth", [
    ('<http://e/a> <http://e/p> "((( [[[ {{{" .', 0),
    ('<http://e/a> <http://e/p> """a "" ((( \\""" [[[""" .', 0),
    ("<http://e/a> <http://e/p> '''it's ((('''  .", 0),
    ('<http://e/a> <http://e/p> "esc \\" (((" .', 0),
    ("<http://e/a\\u0028> <http://e/p> ( ( 1 ) ) .  # ((((((", 2),
    ("@prefix ex: <http://e/> . ex:a\\#x ex:p ( [ ex:q ( 1 ) ] ) .", 3),
    ("<http://e/a> <http://e/p> <<( <http://e/a> <http://e/p> <<( <http://e/a> <http://e/p> 1 )>> )>> .", 4),
])
def test_the_scan_counts_what_the_parser_nests_and_nothing_else(text, depth):
    import pyoxigraph as ox

    from yokuryu.graph.untrusted_rdf import _TURTLE_TOKENS, _nesting
    assert _nesting(text, _TURTLE_TOKENS, 1000)[0] == depth
    list(ox.parse(text.encode(), format=ox.RdfFormat.TURTLE))  # and the parser agrees it is valid Turtle
