"""What pages show of the whole store (the home page's topics and counts, /class, VoID) is worked
out in the query processes, once per state of the store; a page never waits for it for long, and
says so when its figures are not the latest data's (yokuryu.server.figures). Over real HTTP."""
from __future__ import annotations

import sys
import threading

import pytest
import requests

from test_limits import SLOW_QUERY, fill
from test_query_processes import cpu_ticks, tree, update, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")

PERSON = "<https://w3id.org/yokuryu/ontology#Person>"
LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"


def people_count(page: str) -> str:
    """The count shown beside the home page's "People" topic."""
    head = page.split('id="topic-Person-h"', 1)[1]
    return head.split('<span class="count">(', 1)[1].split(")", 1)[0]


def current_page(server, path: str, accept: str = "text/html") -> requests.Response:
    """``path`` once its figures are the present state's (a hang guard, no speed asserted)."""
    found = {}

    def current() -> bool:
        found["r"] = requests.get(f"{server.url}{path}", headers={"Accept": accept}, timeout=60)
        return found["r"].status_code == 200 and "figures-note" not in found["r"].text \
            and "Warning" not in found["r"].headers
    wait_until(current)
    return found["r"]


@pytest.mark.slow
def test_figures_wait_for_the_query_processes_and_the_page_says_when_they_are_not_the_latest(start_server):
    # One query slot, and a page that waits at most a fifth of a second for its figures.
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "1", "--timeout", "120",
                          env={"YOKURYU_FIGURES_WAIT": "0.2"})
    fill(server, 300)
    update(server, f'INSERT DATA {{ <urn:person:a> a {PERSON} ; {LABEL} "Person A" }}')
    assert people_count(current_page(server, "/").text) == "1"

    update(server, f'INSERT DATA {{ <urn:person:b> a {PERSON} ; {LABEL} "Person B" }}')
    # A long query holds the only query slot (300³ solutions to count, seconds): the figures of the
    # write just made cannot be worked out until it ends, and the server does not work them out itself.
    outcome = {}
    counting = threading.Thread(target=lambda: outcome.setdefault("r", requests.get(
        f"{server.url}/sparql", params={"query": SLOW_QUERY}, timeout=120)))
    before = {pid: cpu_ticks(pid) for pid in tree(server.process.pid)[2:]}
    counting.start()
    try:
        wait_until(lambda: any(cpu_ticks(pid) > before.get(pid, 0) + 10 for pid in tree(server.process.pid)[2:]))
        home = requests.get(f"{server.url}/", timeout=60)
        assert home.status_code == 200
        assert "figures-note" in home.text and "before the latest change" in home.text
        assert "being worked out" in home.text
        assert people_count(home.text) == "1", "the previous state's figures, marked as such"
        classes = requests.get(f"{server.url}/class", timeout=60)  # never worked out before
        assert classes.status_code == 200 and "not available yet" in classes.text
        void = requests.get(f"{server.url}/.well-known/void", timeout=60)
        assert void.status_code == 503 and "being worked out" in void.text
        assert void.headers["Retry-After"] == "5"
    finally:
        counting.join(timeout=120)
    assert outcome["r"].status_code == 200
    # Once the slot is free, the figures of the latest data come.
    assert people_count(current_page(server, "/").text) == "2"
    assert "Person</a></td><td class=\"number\">2<" in current_page(server, "/class").text
    described = current_page(server, "/.well-known/void", "text/turtle").text
    assert "void:entities 2" in described or "<http://rdfs.org/ns/void#entities> 2" in described


def test_a_view_after_the_figures_are_current_starts_no_work(start_server):
    # Once per state of the store: views of an unchanged store are answered from what was worked out.
    server = start_server("--empty", "--allow-anonymous-updates", "--workers", "1",
                          env={"YOKURYU_FIGURES_WAIT": "0.2", "YOKURYU_IN_PROCESS_READS": "0"})
    update(server, f'INSERT DATA {{ <urn:person:a> a {PERSON} ; {LABEL} "Person A" }}')
    current_page(server, "/")
    zygote = tree(server.process.pid)[1]
    workers = tree(zygote)[1:]
    ticks = {pid: cpu_ticks(pid) for pid in workers}
    for _ in range(5):
        assert people_count(requests.get(f"{server.url}/", timeout=60).text) == "1"
    assert tree(zygote)[1:] == workers and {pid: cpu_ticks(pid) for pid in workers} == ticks
