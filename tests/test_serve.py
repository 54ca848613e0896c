"""``yokuryu serve`` over real HTTP: startup, health, SELECT, ASK, CONSTRUCT, on-disk restarts."""
from __future__ import annotations

import os
import subprocess

import pytest
import requests
from rdflib import Graph

from conftest import YOKURYU, run_cli, select_values


def test_health_reports_quads(server):
    response = requests.get(f"{server.url}/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["quads"] > 100


def test_select_by_get(server):
    response = requests.get(f"{server.url}/sparql", timeout=10, params={
        "query": "SELECT ?label WHERE { ?s a yk:Declaration ; rdfs:label ?label }"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/sparql-results+json")
    assert "Potsdam Declaration" in select_values(response, "label")


def test_select_by_post_form(server):
    response = requests.post(f"{server.url}/sparql", timeout=10, data={
        "query": "SELECT ?label WHERE { ?s a yk:Treaty ; rdfs:label ?label }"})
    assert response.status_code == 200
    assert "Soviet–Japanese Neutrality Pact" in select_values(response, "label")


def test_ask_by_post_body(server):
    response = requests.post(f"{server.url}/sparql", timeout=10, data="ASK { res:soviet-union a prov:Agent }".encode(),
                             headers={"Content-Type": "application/sparql-query"})
    assert response.status_code == 200
    assert response.json()["boolean"] is True


def test_construct_returns_turtle(server):
    response = requests.get(f"{server.url}/sparql", timeout=10, params={
        "query": "CONSTRUCT { res:japan ?p ?o } WHERE { res:japan ?p ?o }"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/turtle")
    graph = Graph().parse(data=response.text, format="turtle")
    assert len(graph) >= 3


def test_syntax_error_is_400_with_position(server):
    response = requests.get(f"{server.url}/sparql", timeout=10, params={"query": "SELECT ?x WHERE { ?x"})
    assert response.status_code == 400
    assert "syntax error: line 1, column 17: this `{` is never closed" in response.text


def test_misspelt_query_form_is_400_naming_the_word(server):
    # pyoxigraph alone says "expected CONSTRUCT" at column 10: the wrong word, the wrong place.
    response = requests.get(f"{server.url}/sparql", timeout=10,
                            params={"query": "PREFIX ex: <http://example.org/>\nSELEC * WHERE { ?s ?p ?o }"})
    assert response.status_code == 400
    assert "line 2, column 1: 'SELEC' is not a SPARQL query form (did you mean SELECT?)" in response.text
    assert "SELECT, CONSTRUCT, ASK or DESCRIBE" in response.text and "expected CONSTRUCT" not in response.text

    update = requests.post(f"{server.url}/sparql", timeout=10, data={"query": "INSERT DATA { <urn:x:a> <urn:x:b> 1 }"})
    assert update.status_code == 400
    assert "'INSERT' starts an update, not a query" in update.text


def test_serve_is_healthy_as_soon_as_it_says_it_serves(start_server):
    # Startup time is measured in bench/; here: once the banner is out, the server answers.
    server = start_server()
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
    assert any(line.startswith("Yokuryū ready") for line in server.output)


def test_on_disk_store_survives_restart_without_rebuild(tmp_path, start_server):
    store = tmp_path / "store"
    assert run_cli("build", "--store", store).returncode == 0
    count = None
    for _ in range(2):
        server = start_server("--store", store)
        assert "in memory" not in "".join(server.output)
        response = requests.get(f"{server.url}/health", timeout=10).json()
        assert response["persistent"] is True
        count = count or response["quads"]
        assert response["quads"] == count
        server.stop()
    second = run_cli("build", "--store", store)
    assert "already built" in second.stdout.decode()


@pytest.mark.slow
def test_serve_refuses_data_that_violates_the_shapes():
    from pathlib import Path
    broken = Path(__file__).parent / "data" / "broken-estimate.ttl"
    result = run_cli("serve", "--port", "0", broken, timeout=120)
    assert result.returncode == 1
    report = result.stderr.decode()
    assert "<https://example.org/bad-estimate>" in report and "broken-estimate.ttl" in report
    assert "Traceback" not in report


@pytest.mark.slow
@pytest.mark.parametrize("env,args,words", [
    ({"YOKURYU_QUERY_TIMEOUT": "soon"}, [], "YOKURYU_QUERY_TIMEOUT='soon' is not a valid value (a number of seconds)"),
    ({"YOKURYU_UNION_DEFAULT_GRAPH": "perhaps"}, [], "YOKURYU_UNION_DEFAULT_GRAPH='perhaps' is not a valid value (true or false)"),
    ({}, ["--timeout", "0"], "the query timeout must be above 0 seconds"),
    ({}, ["--workers", "0"], "--workers (YOKURYU_WORKERS) must be at least 1"),
    ({}, ["--max-body-bytes", "0"], "--max-body-bytes must be at least 1 byte"),
    ({"YOKURYU_HTTP_SERVER": "gunicorn"}, [], "--http-server (YOKURYU_HTTP_SERVER) is granian or waitress, not 'gunicorn'"),
])
def test_unusable_settings_are_refused_with_the_setting_to_fix(env, args, words):
    result = subprocess.run([YOKURYU, "serve", "--port", "0", *args], capture_output=True, timeout=60,
                            env={**os.environ, **env})
    assert result.returncode == 2
    assert words in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize("http_server", ["granian", "waitress"])
def test_both_http_servers_answer_queries_pages_and_refusals_alike(start_server, http_server):
    server = start_server("--empty", "--http-server", http_server, "--host", "localhost")
    query = {"query": "ASK { ?s ?p ?o }"}
    answer = requests.get(f"{server.url}/sparql", params=query, timeout=30,
                          headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200 and answer.json() == {"head": {}, "boolean": False}
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    posted = requests.post(f"{server.url}/sparql", data="SELECT ?s WHERE { ?s ?p ?o }", timeout=30,
                           headers={"Content-Type": "application/sparql-query", "Accept": "text/csv"})
    assert posted.status_code == 200 and posted.text.strip() == "s"
    head = requests.head(f"{server.url}/sparql", params=query, timeout=30)
    assert head.status_code == 200 and head.content == b""
    wrong_host = requests.get(f"{server.url}/sparql", params=query, headers={"Host": "evil.example"}, timeout=30)
    assert wrong_host.status_code == 400 and "evil.example" in wrong_host.text
    assert requests.get(f"{server.url}/health", timeout=30).json()["status"] == "ok"


def test_health_is_503_when_files_the_pages_need_are_gone(app, tmp_path):
    # What a reinstall under a running server does: a template the app found at start vanishes.
    assert app.test_client().get("/health").status_code == 200
    template = tmp_path / "base.html"
    template.write_text("<html></html>")
    app.extensions["yokuryu.required_files"].append(template)
    template.unlink()
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable" and str(template) in response.json["missing"]
