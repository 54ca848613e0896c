"""The ``yokuryu`` command as users run it: build, validate, query, export, and their errors."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Dataset, Graph

from conftest import run_cli

DATA = Path(__file__).parent / "data"
INFERRED = "https://w3id.org/yokuryu/graph/inferred"
SOURCE_GRAPH = "https://w3id.org/yokuryu/graph/source/japanese-pows-in-the-soviet-union"
# Every test here runs the console script, most of them on a fresh build: seconds each.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("command", ["build", "validate", "query", "export", "serve"])
def test_every_command_has_help_with_an_example(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert "example:" in result.stdout.decode()


def test_build_bundled_data_succeeds_and_lists_graphs():
    result = run_cli("build")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert f"<{INFERRED}>" in out
    assert f"<{SOURCE_GRAPH}>" in out


def test_validate_bundled_data_conforms():
    result = run_cli("validate")
    assert result.returncode == 0, result.stderr.decode()
    assert "conforms" in result.stdout.decode()


@pytest.mark.parametrize("command", ["validate", "build"])
def test_broken_file_fails_with_report_naming_problem_and_file(command):
    result = run_cli(command, DATA / "broken-estimate.ttl")
    assert result.returncode == 1
    report = result.stderr.decode()
    assert "<https://example.org/bad-estimate>" in report
    assert "not above its maximum" in report
    assert "needs the agent or source that made it" in report
    assert "broken-estimate.ttl" in report


def test_validate_json_report_is_machine_readable():
    result = run_cli("validate", DATA / "broken-estimate.ttl", "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stderr)
    assert report["conforms"] is False
    paths = {r["path"] for r in report["results"]}
    assert "<https://w3id.org/yokuryu/ontology#heldBy>" in paths
    assert all(r["files"] and r["files"][0].endswith("broken-estimate.ttl") for r in report["results"])


def test_unparseable_file_names_file_and_position():
    result = run_cli("validate", DATA / "unparseable.ttl")
    assert result.returncode == 1
    message = result.stderr.decode()
    assert "unparseable.ttl" in message and "not valid turtle" in message
    assert "1:" in message  # line:column of the error


def test_unknown_extension_is_refused_clearly(tmp_path):
    odd = tmp_path / "data.xyz"
    odd.write_text("nothing")
    result = run_cli("validate", odd)
    assert result.returncode == 1
    assert "cannot tell the RDF format" in result.stderr.decode()


def test_extra_file_becomes_its_own_named_graph():
    result = run_cli("query", "--format", "json",
                     "SELECT ?g WHERE { GRAPH ?g { <https://example.org/my-archive/estimate-1> a yk:Estimate } }")
    # Without the file the estimate is not there …
    assert json.loads(result.stdout)["results"]["bindings"] == []
    result = run_cli("build", DATA / "extra-estimate.ttl")
    assert result.returncode == 0, result.stderr.decode()
    assert "<https://w3id.org/yokuryu/graph/user/extra-estimate>" in result.stdout.decode()


QUERY_SELECT = "SELECT ?state ?label WHERE { ?state a yk:State ; rdfs:label ?label } ORDER BY ?label"
QUERY_CONSTRUCT = "CONSTRUCT { res:potsdam-declaration ?p ?o } WHERE { res:potsdam-declaration ?p ?o }"


def test_query_table():
    result = run_cli("query", QUERY_SELECT)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "Soviet Union@en" in out and "| label" in out and "rows)" in out


def test_query_json():
    result = run_cli("query", QUERY_SELECT, "--format", "json")
    labels = [b["label"]["value"] for b in json.loads(result.stdout)["results"]["bindings"]]
    assert "Soviet Union" in labels and "Japan" in labels


def test_query_csv_and_tsv():
    rows = list(csv.DictReader(io.StringIO(run_cli("query", QUERY_SELECT, "--format", "csv").stdout.decode())))
    assert "Soviet Union" in {r["label"] for r in rows}
    tsv = run_cli("query", QUERY_SELECT, "--format", "tsv").stdout.decode()
    assert tsv.splitlines()[0] == "?state\t?label"
    assert '"Soviet Union"@en' in tsv


def test_query_xml():
    out = run_cli("query", QUERY_SELECT, "--format", "xml").stdout.decode()
    assert "<sparql" in out and "Soviet Union" in out


def test_query_ask_table_and_json():
    assert run_cli("query", "ASK { res:soviet-union a yk:State }").stdout.decode().strip() == "true"
    out = run_cli("query", "ASK { res:mongolia a yk:Treaty }", "--format", "json").stdout
    assert json.loads(out)["boolean"] is False


@pytest.mark.parametrize("fmt,parse_as", [("turtle", "turtle"), ("ntriples", "nt")])
def test_query_construct_formats(fmt, parse_as):
    result = run_cli("query", QUERY_CONSTRUCT, "--format", fmt)
    assert result.returncode == 0, result.stderr.decode()
    graph = Graph().parse(data=result.stdout.decode(), format=parse_as)
    assert len(graph) > 3


def test_query_from_file(tmp_path):
    query = tmp_path / "states.rq"
    query.write_text(QUERY_SELECT)
    result = run_cli("query", "-f", query, "--format", "csv")
    assert "Mongolia" in result.stdout.decode()


def test_query_syntax_error_is_reported_not_crashed():
    result = run_cli("query", "SELECT WHERE {")
    assert result.returncode == 2
    assert "SPARQL syntax error" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_query_wrong_format_for_result_kind():
    result = run_cli("query", QUERY_SELECT, "--format", "turtle")
    assert result.returncode == 2
    assert "SELECT or ASK result is a table" in result.stderr.decode()


def _graph_counts_from_store() -> dict[str, int]:
    out = run_cli("query", "--format", "json",
                  "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g").stdout
    return {b["g"]["value"]: int(b["n"]["value"]) for b in json.loads(out)["results"]["bindings"]}


@pytest.mark.parametrize("fmt", ["trig", "nquads"])
def test_export_round_trip_keeps_every_graph(tmp_path, fmt):
    target = tmp_path / f"all.{ 'nq' if fmt == 'nquads' else fmt}"
    result = run_cli("export", "--format", fmt, "-o", target)
    assert result.returncode == 0, result.stderr.decode()
    counts: dict[str, int] = {}
    for quad in ox.parse(path=str(target)):
        counts[quad.graph_name.value] = counts.get(quad.graph_name.value, 0) + 1
    assert counts == _graph_counts_from_store()
    # and an independent parser agrees
    ds = Dataset()
    ds.parse(str(target), format="trig" if fmt == "trig" else "nquads")
    assert {str(g.identifier): len(g) for g in ds.graphs() if len(g)} == counts


@pytest.mark.parametrize("fmt,parse_as", [("turtle", "turtle"), ("ntriples", "nt"), ("jsonld", "json-ld"), ("rdfxml", "xml")])
def test_export_one_graph_round_trip(fmt, parse_as):
    result = run_cli("export", "--format", fmt, "--graph", "inferred")
    assert result.returncode == 0, result.stderr.decode()
    graph = Graph().parse(data=result.stdout, format=parse_as)
    assert len(graph) == _graph_counts_from_store()[INFERRED]


def test_export_unknown_graph_lists_the_graphs():
    result = run_cli("export", "--graph", "nonsense")
    assert result.returncode == 2
    assert "inferred" in result.stderr.decode() and "no named graph" in result.stderr.decode()


def test_on_disk_store_is_reused_without_rebuild(tmp_path):
    store = tmp_path / "store"
    first = run_cli("build", "--store", store)
    assert first.returncode == 0, first.stderr.decode()
    second = run_cli("build", "--store", store)
    assert second.returncode == 0
    assert "already built" in second.stdout.decode()
    out = run_cli("query", "--store", store, "ASK { res:soviet-union a yk:State }")
    assert out.stdout.decode().strip() == "true"


def test_query_on_unbuilt_store_explains_what_to_do(tmp_path):
    result = run_cli("query", "--store", tmp_path / "empty", "ASK {}")
    assert result.returncode == 2
    assert "yokuryu build --store" in result.stderr.decode()


def test_installed_cli_runs_from_any_directory(tmp_path):
    result = run_cli("query", "ASK { res:potsdam-declaration a yk:Declaration }", cwd=tmp_path)
    assert result.stdout.decode().strip() == "true"


def test_extra_files_never_silently_rebuild_a_built_store(tmp_path):
    store = tmp_path / "store"
    assert run_cli("build", "--store", store).returncode == 0
    refused = run_cli("build", "--store", store, DATA / "extra-estimate.ttl")
    assert refused.returncode == 2
    assert "--rebuild" in refused.stderr.decode() and "already holds a build" in refused.stderr.decode()
    rebuilt = run_cli("build", "--store", store, "--rebuild", DATA / "extra-estimate.ttl")
    assert rebuilt.returncode == 0, rebuilt.stderr.decode()
    out = run_cli("query", "--store", store, "ASK { GRAPH ykg:user\\/extra-estimate { ?s a yk:Estimate } }")
    assert out.stdout.decode().strip() == "true", out.stderr.decode()
