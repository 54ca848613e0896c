"""The first hour of a new user, through the real ``yokuryu`` console script: every mistake ends
in one line on stderr (no traceback) with exit 2 for a usage error, Ctrl-C and --timeout stop a
command at once, and nothing surprising happens silently."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import YOKURYU, run_cli

# Each test runs the console script, several of them on a build: seconds each.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
# Three independent patterns over the bundled graph: ~10¹² solutions, i.e. a query that never ends.
ENDLESS = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def one_line_error(result: subprocess.CompletedProcess, code: int = 2) -> str:
    """The single stderr line of a failed command (asserting there is exactly one, and no traceback)."""
    err = result.stderr.decode()
    assert result.returncode == code, (result.returncode, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("yokuryu")
    return lines[0]


# --- queries from any folder --------------------------------------------------------------------


def test_the_help_example_query_file_works_from_any_folder(tmp_path):
    result = run_cli("query", "-f", "graph/queries/cq01.rq", "--format", "csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().splitlines()[0].startswith("role,agent")


def test_bundled_competency_question_by_number(tmp_path):
    by_number = run_cli("query", "--cq", "1", "--format", "csv", cwd=tmp_path)
    by_file = run_cli("query", "-f", ROOT / "graph" / "queries" / "cq01.rq", "--format", "csv")
    assert by_number.returncode == 0 and by_number.stdout == by_file.stdout


def test_unknown_competency_question_lists_the_range():
    assert "no such competency question" in one_line_error(run_cli("query", "--cq", "999"))


def test_query_from_standard_input():
    result = run_cli("query", "-f", "-", input=b"ASK { res:soviet-union a yk:State }")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "true"


def test_missing_query_file_is_one_line(tmp_path):
    assert "no such file" in one_line_error(run_cli("query", "-f", tmp_path / "nope.rq"))


def test_query_text_and_file_together_is_a_usage_error():
    assert "exactly one" in one_line_error(run_cli("query", "ASK {}", "--cq", "1"))


def test_service_is_refused_like_the_server_refuses_it():
    line = one_line_error(run_cli("query", "SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"))
    assert "SERVICE" in line and "network" in line


def test_misspelt_query_form_names_the_word_not_the_parsers_last_guess():
    line = one_line_error(run_cli("query", "SELEC * WHERE { ?s ?p ?o }"))
    assert "line 1, column 1: 'SELEC' is not a SPARQL query form (did you mean SELECT?)" in line
    assert "a query starts with SELECT, CONSTRUCT, ASK or DESCRIBE (after PREFIX/BASE)" in line
    assert "expected CONSTRUCT" not in line


def test_a_syntax_error_is_one_line_with_its_position_and_no_character_tables():
    # pyoxigraph lists every Unicode range a name may start with, over several lines. (A mistake
    # tests/test_sparql_mistakes.py knows is named instead; this one is left to the engine.)
    line = one_line_error(run_cli("query", "SELECT ?x WHERE { ?x ?p ?o } GROUP BY"))
    assert "error at 1:38: expected one of" in line and "a letter" in line and "u{" not in line


def test_an_update_given_to_query_says_so():
    line = one_line_error(run_cli("query", "INSERT DATA { <urn:x:a> <urn:x:b> 1 }"))
    assert "'INSERT' starts an update, not a query" in line and "yokuryu update" in line


def test_misspelt_update_operation_names_the_word_and_changes_nothing(tmp_path):
    store = tmp_path / "store"
    assert run_cli("build", "--store", store).returncode == 0
    graph = "https://w3id.org/yokuryu/graph/user/notes"
    text = (f"PREFIX ex: <urn:x:>\nINSERT DATA {{ GRAPH <{graph}> {{ ex:a ex:b 1 }} }} ;\n"
            f"INSRT DATA {{ GRAPH <{graph}> {{ ex:a ex:b 2 }} }}")
    line = one_line_error(run_cli("update", "--store", store, text))
    assert "line 3, column 1: 'INSRT' is not a SPARQL update operation (did you mean INSERT?)" in line
    asked = run_cli("query", "--store", store, "ASK { <urn:x:a> ?p ?o }")
    assert asked.returncode == 0 and asked.stdout.decode().strip() == "false"


# --- output ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml", "csv", "tsv"])
def test_result_formats_end_with_a_newline(fmt):
    result = run_cli("query", "SELECT ?s WHERE { ?s a yk:State } LIMIT 2", "--format", fmt)
    assert result.returncode == 0 and result.stdout.endswith(b"\n")


def test_construct_turtle_uses_the_prefixes():
    result = run_cli("query", "CONSTRUCT { res:japan ?p ?o } WHERE { res:japan ?p ?o }")
    out = result.stdout.decode()
    assert "@prefix yk: <https://w3id.org/yokuryu/ontology#> ." in out
    assert "res:japan " in out and "<https://w3id.org/yokuryu/resource/japan>" not in out


# --- export ---------------------------------------------------------------------------------------


def test_export_into_a_missing_folder_is_refused_before_any_work(tmp_path):
    target = tmp_path / "missing" / "x.trig"
    assert "does not exist" in one_line_error(run_cli("export", "-o", target))
    assert not target.parent.exists()


def test_export_to_a_folder_asks_for_a_file_name(tmp_path):
    assert "is a folder" in one_line_error(run_cli("export", "-o", tmp_path))


@pytest.mark.parametrize("exists", [False, True])
def test_reading_an_absent_store_never_creates_one(tmp_path, exists):
    store = tmp_path / "store"
    if exists:
        store.mkdir()
    for command in (["export"], ["query", "ASK {}"], ["violations"]):
        line = one_line_error(run_cli(*command, "--store", store))
        assert "no store there" in line and "yokuryu build --store" in line
    assert store.exists() is exists
    assert not exists or list(store.iterdir()) == []


def test_a_store_path_that_cannot_be_created_says_so():
    line = one_line_error(run_cli("build", "--store", "/proc/yokuryu-nope"))
    assert "cannot create the folder" in line and "another" not in line


# --- serve ----------------------------------------------------------------------------------------


def test_serve_on_a_port_in_use_is_one_line_before_any_build():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run_cli("serve", "--port", port, timeout=60))
    assert f"port {port}" in line and "already in use" in line and "--port" in line


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_serve_refuses_a_port_out_of_range(port):
    assert "--port" in one_line_error(run_cli("serve", "--port", port))


def test_serve_banner_lists_the_extra_files(start_server):
    server = start_server(DATA / "extra-estimate.ttl")
    banner = "".join(server.output)
    assert "extra-estimate.ttl" in banner and "graph/user/extra-estimate" in banner


# --- Ctrl-C and --timeout -------------------------------------------------------------------------


class Running:
    """``yokuryu -v ARGS`` in its own process group (as a terminal runs it), stderr collected."""

    def __init__(self, *args):
        self.process = subprocess.Popen([YOKURYU, "-v", *map(str, args)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stderr), daemon=True)
        self.reader.start()

    def wait_for_log(self, words: str, hang_guard: float = 300) -> None:
        deadline = time.monotonic() + hang_guard
        while not any(words in line for line in self.lines):
            assert self.process.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.05)

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # what the terminal does: the whole group

    def finish(self, hang_guard: float = 30) -> list[str]:
        try:
            self.process.wait(timeout=hang_guard)  # a guard against hanging, not a speed limit
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.reader.join(5)
        return [line for line in self.lines if not line.startswith(("INFO ", "WARNING "))]


def test_ctrl_c_stops_a_long_query_with_one_line():
    run = Running("query", ENDLESS)
    run.wait_for_log("evaluating the query")
    run.ctrl_c()
    rest = run.finish()
    assert run.process.returncode == 130
    assert rest == ["yokuryu query: interrupted\n"], rest
    assert not any("Traceback" in line for line in run.lines)


def test_ctrl_c_stops_a_build_with_one_line():
    run = Running("build")
    run.wait_for_log("validating")
    run.ctrl_c()
    rest = run.finish()
    assert run.process.returncode == 130
    assert rest == ["yokuryu build: interrupted\n"], rest


@pytest.mark.parametrize("command", ["build", "validate"])
def test_ctrl_c_leaves_no_process_of_a_reading_command_behind(command):
    # build without --store and validate write nothing, so they run in a child that Ctrl-C kills.
    run = Running(command)
    run.wait_for_log("validating")
    run.ctrl_c()
    rest = run.finish()
    assert run.process.returncode == 130
    assert rest == [f"yokuryu {command}: interrupted\n"], rest
    with pytest.raises(ProcessLookupError):
        os.killpg(run.process.pid, 0)


def test_ctrl_c_stops_a_build_into_a_store_with_one_line(tmp_path):
    run = Running("build", "--store", tmp_path / "store")
    run.wait_for_log("validating")
    run.ctrl_c()
    rest = run.finish()
    assert run.process.returncode == 130
    assert rest == ["yokuryu build: interrupted\n"], rest


def test_query_timeout_stops_it_with_exit_124():
    result = run_cli("query", ENDLESS, "--timeout", "2", timeout=120)
    line = one_line_error(result, 124)
    assert "2 s limit" in line and "--timeout" in line


def test_no_query_process_is_left_behind_after_ctrl_c():
    run = Running("query", ENDLESS)
    run.wait_for_log("evaluating the query")
    run.ctrl_c()
    run.finish()
    # Every process of the group (the command and its query child) is gone.
    with pytest.raises(ProcessLookupError):
        os.killpg(run.process.pid, 0)


# --- verbose, data folders, reports ---------------------------------------------------------------


def test_verbose_logs_the_steps_of_a_build():
    result = run_cli("-v", "validate")
    log = result.stderr.decode()
    assert result.returncode == 0
    assert "parsing the ontology, shapes, source documents and data" in log
    assert "validating" in log and "against the shapes" in log


def copy_of_graph_folder(target: Path) -> Path:
    for part in ("sources", "data"):
        shutil.copytree(ROOT / "graph" / part, target / part)
    return target


def add_document(folder: Path) -> None:
    """A made-up test document, clearly labelled as such, beside the bundled one."""
    (folder / "sources" / "test-notes.txt").write_text("A test sentence, not a historical claim.\n")
    metadata = (ROOT / "graph" / "sources" / "japanese-pows-in-the-soviet-union.ttl").read_text()
    metadata = metadata.replace("/source/japanese-pows-in-the-soviet-union>", "/source/test-notes>")
    (folder / "sources" / "test-notes.ttl").write_text(metadata)


def test_data_dir_adds_a_document_to_an_installed_yokuryu(tmp_path):
    folder = copy_of_graph_folder(tmp_path / "my-graph")
    add_document(folder)
    ask = "ASK { <https://w3id.org/yokuryu/source/test-notes#s1> yk:sentenceText ?text }"
    assert run_cli("query", ask).stdout.decode().strip() == "false"
    result = run_cli("query", ask, "--data-dir", folder)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "true"


def test_a_checkout_whose_data_differs_from_the_installed_data_is_warned_about(tmp_path):
    checkout = tmp_path / "checkout"
    copy_of_graph_folder(checkout / "graph")
    shutil.copy(ROOT / "pyproject.toml", checkout)
    same = run_cli("query", "ASK {}", cwd=checkout)
    assert same.returncode == 0 and "differs" not in same.stderr.decode()
    add_document(checkout / "graph")
    changed = run_cli("query", "ASK {}", cwd=checkout)
    assert changed.returncode == 0
    warning = changed.stderr.decode()
    assert "differs from the data installed" in warning and "sources/test-notes.txt" in warning
    assert "--data-dir graph" in warning


def test_a_report_about_an_inferred_type_says_where_the_type_came_from(tmp_path):
    data = tmp_path / "camp.ttl"
    data.write_text("""
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix yk: <https://w3id.org/yokuryu/ontology#> .
<https://example.org/camp> a yk:LabourCamp ; rdfs:label "Camp 7"@en ;
    yk:operatedBy <https://example.org/operator> .
""")
    result = run_cli("validate", data)
    assert result.returncode == 1
    report = result.stderr.decode()
    block = next(b for b in report.split("\n\n") if "<https://example.org/operator>" in b)
    assert "An organisation needs a name" in block
    assert re.search(r"inferred, not stated: .* is a yk:Organisation because it is the object of yk:operatedBy", block)
