"""Treaty violations: every expected finding and non-finding, through ``yokuryu violations``,
through SPARQL over HTTP, and on "what if" copies of the data."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests
from rdflib import Graph, URIRef
from rdflib.namespace import RDF

from conftest import ROOT, run_cli, select_values

RES = "https://w3id.org/yokuryu/resource/"
YK = "https://w3id.org/yokuryu/ontology#"
SRC = "https://w3id.org/yokuryu/source/japanese-pows-in-the-soviet-union#"
DATA_DIR = ROOT / "graph" / "data"
TREATY_DATA = "external-treaties.trig"
EXPLAIN = (ROOT / "graph" / "queries" / "explain-violation.rq").read_text(encoding="utf-8")

POTSDAM_VIOLATION = RES + "violation-of-potsdam-declaration-article-9-by-soviet-union-in-internment-of-japanese-pows"
WAR_VIOLATION = RES + "violation-of-neutrality-pact-article-1-by-soviet-union-in-soviet-declaration-of-war-on-japan"
ATTACK_VIOLATION = RES + "violation-of-neutrality-pact-article-1-by-soviet-union-in-soviet-invasion-of-manchuria"
EXPECTED = {POTSDAM_VIOLATION, WAR_VIOLATION, ATTACK_VIOLATION}


def sparql(server, query: str) -> requests.Response:
    response = requests.post(server.url + "/sparql", data={"query": query},
                             headers={"Accept": "application/sparql-results+json"}, timeout=60)
    assert response.status_code == 200, response.text
    return response


def ask(server, query: str) -> bool:
    return sparql(server, query).json()["boolean"]


def violations_of(result) -> set[str]:
    """The violation IRIs in a build result's inferred graph."""
    return {q.subject.value for q in result.quads
            if q.predicate.value == str(RDF.type) and q.object.value == YK + "TreatyViolation"}


# --- the CLI -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_json():
    result = run_cli("violations", "--format", "json")
    assert result.returncode == 0, result.stderr.decode()
    return {v["iri"]: v for v in json.loads(result.stdout)["violations"]}


def test_violations_help_has_an_example():
    result = run_cli("violations", "--help")
    assert result.returncode == 0
    assert "example:" in result.stdout.decode()


@pytest.mark.slow
def test_cli_finds_exactly_the_three_expected_violations(cli_json):
    assert set(cli_json) == EXPECTED
    assert {v["agent"] for v in cli_json.values()} == {RES + "soviet-union"}


@pytest.mark.slow
def test_cli_potsdam_violation_carries_its_whole_chain(cli_json):
    v = cli_json[POTSDAM_VIOLATION]
    assert v["instrument"] == RES + "potsdam-declaration"
    assert v["provision"] == RES + "potsdam-declaration-article-9"
    assert v["provision_text"].startswith("The Japanese military forces, after being completely disarmed")
    assert v["kind"] == "frustrated requirement" and v["breached_kind"] == "repatriation"
    assert v["binding_action"] == RES + "potsdam-declaration-adherence-ussr" and v["bound_from"] == "1945-08-08"
    assert (v["overlap_start"], v["overlap_end"]) == ("1945-08-08", "1956-12")
    assert v["rule"] == "https://w3id.org/yokuryu/shapes#ProvisionBreachRule"
    evidence = {p["role"]: {e["iri"] for e in p["evidence"]} for p in v["premises"]}
    assert evidence["binding action"] == {RES + "citation-e8"}
    assert evidence["provision"] >= {RES + "citation-e11"}
    assert evidence["act"] == {SRC + "s1", RES + "citation-e14", RES + "citation-e21"}
    assert evidence["claim of the source"] == {SRC + "s3"}
    assert v["citationNeeded"] is False


@pytest.mark.slow
def test_cli_pact_violations_say_the_seed_claim_needs_a_citation(cli_json):
    for iri, act, start, end in ((WAR_VIOLATION, "soviet-declaration-of-war-on-japan", "1945-08-08", "1945-08-08"),
                                 (ATTACK_VIOLATION, "soviet-invasion-of-manchuria", "1945-08-09", "1945-09-02")):
        v = cli_json[iri]
        assert v["act"] == RES + act
        assert v["kind"] == "forbidden act" and v["breached_kind"] == "hostilities against the other party"
        assert v["binding_action"] == RES + "neutrality-pact-ratification-ussr"
        assert (v["overlap_start"], v["overlap_end"]) == (start, end)
        [claim] = [p for p in v["premises"] if p["role"] == "claim of the source"]
        assert claim["iri"] == RES + "claim-soviet-conduct-contrary-to-neutrality-pact"
        assert claim["citation_needed"] is True
        assert v["citationNeeded"] is True


@pytest.mark.slow
def test_cli_text_is_readable_and_flags_citation_needed():
    result = run_cli("violations")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert out.startswith("3 treaty violation(s)")
    assert "Soviet Union violated Potsdam Declaration, Article 9" in out
    assert "overlap     1945-08-08 to 1956-12" in out
    assert '"The Japanese military forces, after being completely disarmed' in out
    assert out.count("the source flags this [citation needed]") == 2
    assert "E8: adherence of the Soviet Union to the Potsdam Declaration" in out


@pytest.mark.slow
def test_cli_turtle_is_the_violations_of_the_inferred_graph():
    result = run_cli("violations", "--format", "turtle")
    assert result.returncode == 0, result.stderr.decode()
    graph = Graph().parse(data=result.stdout.decode(), format="turtle")
    assert {str(s) for s in graph.subjects(RDF.type, URIRef(YK + "TreatyViolation"))} == EXPECTED
    assert (URIRef(POTSDAM_VIOLATION), URIRef(YK + "evidence"), URIRef(RES + "citation-e14")) in graph


@pytest.mark.slow
def test_cli_reads_an_on_disk_store_and_refuses_an_unbuilt_one(tmp_path):
    store = tmp_path / "store"
    assert run_cli("build", "--store", store).returncode == 0
    result = run_cli("violations", "--store", store, "--format", "json")
    assert result.returncode == 0, result.stderr.decode()
    assert {v["iri"] for v in json.loads(result.stdout)["violations"]} == EXPECTED
    empty = run_cli("violations", "--store", tmp_path / "nothing-here")
    assert empty.returncode == 2
    assert b"no store there" in empty.stderr and b"Traceback" not in empty.stderr
    assert not (tmp_path / "nothing-here").exists()  # reading never creates a store


# --- SPARQL over HTTP ------------------------------------------------------------


def test_explain_query_over_http_returns_every_premise_with_evidence(server):
    response = sparql(server, EXPLAIN)
    rows = response.json()["results"]["bindings"]
    assert {r["violation"]["value"] for r in rows} == EXPECTED
    potsdam = [r for r in rows if r["violation"]["value"] == POTSDAM_VIOLATION]
    roles = {r["premiseRole"]["value"] for r in potsdam}
    assert roles == {"act", "provision", "binding action", "instrument", "claim of the source"}
    evidence = {r["evidence"]["value"] for r in potsdam}
    assert {RES + f"citation-e{n}" for n in (8, 9, 11, 14, 21)} <= evidence
    assert {SRC + "s1", SRC + "s3"} <= evidence
    flagged = {r["violation"]["value"] for r in rows if r.get("citationNeeded", {}).get("value") == "true"}
    assert flagged == {WAR_VIOLATION, ATTACK_VIOLATION}


def test_violations_are_only_in_the_inferred_graph(server):
    graphs = select_values(sparql(server, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?v a yk:TreatyViolation } }"), "g")
    assert graphs == ["https://w3id.org/yokuryu/graph/inferred"]


def test_no_violation_by_the_united_states_or_kuomintang_china(server):
    assert not ask(server, """ASK { ?v yk:violatingAgent ?agent
        VALUES ?agent { res:united-states res:republic-of-china } }""")


def test_the_denunciation_notice_is_no_violation(server):
    assert ask(server, "ASK { res:soviet-notice-of-denunciation-of-neutrality-pact a yk:Act }")
    assert not ask(server, "ASK { ?v yk:violatingAct res:soviet-notice-of-denunciation-of-neutrality-pact }")


def test_no_pact_violation_after_its_expiry_in_april_1946(server):
    ends = select_values(sparql(server, """SELECT ?end WHERE {
        ?v yk:violatedInstrument res:soviet-japanese-neutrality-pact ; yk:overlapEnd ?end }"""), "end")
    assert ends and all(end < "1946-04" for end in ends)
    assert not ask(server, """ASK { ?v yk:violatedInstrument res:soviet-japanese-neutrality-pact ;
        yk:violatingAct res:internment-of-japanese-pows }""")


def test_every_violating_agent_was_a_bound_party(server):
    # no violation by a non-party: Mongolia, a person or a work
    assert not ask(server, """ASK {
        ?v yk:violatingAgent ?agent ; yk:violatedInstrument ?instrument .
        FILTER NOT EXISTS { ?action yk:party ?agent ; yk:instrument ?instrument ; yk:means/yk:bindsParty true } }""")
    assert not ask(server, """ASK { ?v a yk:TreatyViolation .
        { ?v yk:violatingAgent res:mongolia } UNION { ?v yk:violatingAgent ?p . ?p a yk:Person }
        UNION { ?v yk:violatingAgent|yk:violatingAct ?w . ?w a yk:Work } }""")


def test_nothing_is_inferred_from_a_work_of_fiction(server):
    assert ask(server, "ASK { ?work yk:genre yk:Fiction }")
    assert not ask(server, """ASK { ?v a yk:TreatyViolation ; ?premise ?x .
        { ?x yk:genre yk:Fiction } UNION { ?work yk:genre yk:Fiction ; yk:depicts ?x .
                                           FILTER NOT EXISTS { ?x yk:citation ?c } }
        UNION { ?x a yk:FictionalCharacter } }""")


# --- what if: edited copies of the data -------------------------------------------


def copy_of_data(tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    return copy


def edit(folder: Path, old: str, new: str) -> None:
    path = folder / TREATY_DATA
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not exactly once in {TREATY_DATA}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def remove_resource(folder: Path, subject: str) -> None:
    """Delete the block of statements about ``subject`` (from its first line to the closing ".")."""
    path = folder / TREATY_DATA
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index(f"    {subject} a yk:PartyAction ;\n")
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith(" ."))
    path.write_text("".join(lines[:start] + lines[end + 1:]), encoding="utf-8")


def build_ok(**kwargs):
    from yokuryu.graph import build
    result = build(**kwargs)
    assert result.ok, result.report.as_text()
    return result


@pytest.mark.slow
def test_without_the_soviet_adherence_the_potsdam_violation_disappears(tmp_path):
    data = copy_of_data(tmp_path)
    remove_resource(data, "res:potsdam-declaration-adherence-ussr")
    assert violations_of(build_ok(data_dir=data)) == {WAR_VIOLATION, ATTACK_VIOLATION}


@pytest.mark.slow
def test_an_attack_after_the_pact_expired_is_no_pact_violation(tmp_path):
    data = copy_of_data(tmp_path)
    edit(data, '''        yk:startDate "1945-08-09"^^xsd:date ;
        yk:endDate "1945-09-02"^^xsd:date ;''', '''        yk:startDate "1946-05-10"^^xsd:date ;
        yk:endDate "1946-06-02"^^xsd:date ;''')
    edit(data, '''        yk:startDate "1945-08-08"^^xsd:date ;
        yk:citation res:citation-e6 .''', '''        yk:startDate "1946-05-09"^^xsd:date ;
        yk:citation res:citation-e6 .''')
    assert violations_of(build_ok(data_dir=data)) == {POTSDAM_VIOLATION}


@pytest.mark.slow
@pytest.mark.parametrize("start, violated", [
    ("1946-03-31", True),   # certainly before the expiry, whichever April day it was
    ("1946-04", False),     # some day in April 1946: maybe after the expiry, so not judged
    ("1946", False),        # some day in 1946
])
def test_partial_dates_only_give_certain_violations(tmp_path, start, violated):
    data = copy_of_data(tmp_path)
    datatype = {10: "date", 7: "gYearMonth", 4: "gYear"}[len(start)]
    edit(data, '''        yk:startDate "1945-08-09"^^xsd:date ;
        yk:endDate "1945-09-02"^^xsd:date ;''', f'''        yk:startDate "{start}"^^xsd:{datatype} ;''')
    assert (ATTACK_VIOLATION in violations_of(build_ok(data_dir=data))) is violated


@pytest.mark.slow
def test_a_permitting_provision_wins_over_a_forbidding_one(tmp_path):
    # Suppose Article 1 also forbade notices of denunciation: Article 3 still permits them.
    data = copy_of_data(tmp_path)
    edit(data, "        yk:forbids yk:Hostilities ;", "        yk:forbids yk:Hostilities, yk:NoticeOfDenunciation ;")
    notice = RES + "violation-of-neutrality-pact-article-1-by-soviet-union-in-soviet-notice-of-denunciation-of-neutrality-pact"
    assert notice not in violations_of(build_ok(data_dir=data))
    # …and without Article 3's permission the same notice would be a violation.
    edit(data, "        yk:permits yk:NoticeOfDenunciation ;\n", "")
    assert notice in violations_of(build_ok(data_dir=data))


HYPOTHETICAL = """
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix res: <https://w3id.org/yokuryu/resource/> .
@prefix src: <https://w3id.org/yokuryu/source/japanese-pows-in-the-soviet-union#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix yk: <https://w3id.org/yokuryu/ontology#> .
@prefix ex: <https://example.org/what-if/> .

# A made-up treaty between two made-up states, to show the rule needs no code for new data.
ex:made-up a yk:Citation ; rdfs:label "E0: made up for a what-if test"@en ;
    dcterms:source <https://example.org/what-if> ; yk:confidence yk:MediumConfidence .
ex:northland a yk:State ; rdfs:label "Northland"@en .
ex:southland a yk:State ; rdfs:label "Southland"@en .
ex:treaty a yk:Treaty ; rdfs:label "Treaty of Example"@en ;
    yk:signedOn "1950-01-10"^^xsd:date ; yk:inForceFrom "1950-02"^^xsd:gYearMonth ;
    yk:inForceUntil "1960"^^xsd:gYear ; yk:citation ex:made-up .
ex:ratification-north a yk:PartyAction ; rdfs:label "Ratification by Northland"@en ;
    yk:party ex:northland ; yk:instrument ex:treaty ; yk:means yk:Ratification ;
    yk:onDate "1950-02-01"^^xsd:date ; yk:citation ex:made-up .
ex:signature-south a yk:PartyAction ; rdfs:label "Signature by Southland (never ratified)"@en ;
    yk:party ex:southland ; yk:instrument ex:treaty ; yk:means yk:Signature ;
    yk:onDate "1950-01-10"^^xsd:date ; yk:citation ex:made-up .
ex:ratification-south a yk:PartyAction ; rdfs:label "Ratification by Southland"@en ;
    yk:party ex:southland ; yk:instrument ex:treaty ; yk:means yk:Ratification ;
    yk:onDate "1951-03"^^xsd:gYearMonth ; yk:citation ex:made-up .
ex:article-2 a yk:Provision ; rdfs:label "Treaty of Example, Article 2"@en ;
    yk:provisionOf ex:treaty ; yk:articleNumber "2" ; yk:forbids yk:Hostilities ;
    yk:citation ex:made-up .
ex:north-attack a yk:Act ; rdfs:label "Northland attacks Southland"@en ;
    yk:actKind yk:ArmedAttack ; yk:actingAgent ex:northland ; yk:affectedParty ex:southland ;
    yk:startDate "1955-06-01"^^xsd:date ; yk:citation ex:made-up .
ex:south-attack-before-ratification a yk:Act ; rdfs:label "Southland attacks Northland"@en ;
    yk:actKind yk:ArmedAttack ; yk:actingAgent ex:southland ; yk:affectedParty ex:northland ;
    yk:startDate "1950-06"^^xsd:gYearMonth ; yk:endDate "1950-07"^^xsd:gYearMonth ; yk:citation ex:made-up .

# Mongolia, not a party to the Potsdam Declaration, detaining Japanese prisoners.
ex:mongolian-detention a yk:Act ; rdfs:label "Detention of Japanese prisoners in Mongolia"@en ;
    yk:actKind yk:DetentionForForcedLabour ; yk:actingAgent res:mongolia ; yk:affectedParty res:japan ;
    yk:startDate "1945-09"^^xsd:gYearMonth ; yk:endDate "1947"^^xsd:gYear ; yk:statedIn src:s1 .

# Japan accepted the Potsdam terms: that does not make it bound by the issuers' Article 9.
ex:japanese-detention a yk:Act ; rdfs:label "A detention by Japan after its acceptance"@en ;
    yk:actKind yk:DetentionForForcedLabour ; yk:actingAgent res:japan ; yk:affectedParty res:united-states ;
    yk:startDate "1945-09"^^xsd:gYearMonth ; yk:citation res:citation-e13 .

# The novel's protagonist in Soviet captivity: fiction, never a finding.
ex:protagonist-captivity a yk:Act ; rdfs:label "Captivity of the protagonist of Fumō Chitai"@en ;
    yk:actKind yk:DetentionForForcedLabour ; yk:actingAgent res:soviet-union ; yk:affectedParty res:japan ;
    yk:participant res:fumo-chitai-protagonist ;
    yk:startDate "1945-09"^^xsd:gYearMonth ; yk:endDate "1956"^^xsd:gYear ; yk:statedIn src:s11 .
ex:depicted-only-detention a yk:Act ; rdfs:label "A detention known only from the novel"@en ;
    yk:actKind yk:DetentionForForcedLabour ; yk:actingAgent res:soviet-union ; yk:affectedParty res:japan ;
    yk:startDate "1945-09"^^xsd:gYearMonth ; yk:statedIn src:s11 .
res:fumo-chitai yk:depicts ex:depicted-only-detention .
"""


@pytest.fixture(scope="module")
def hypothetical(tmp_path_factory):
    path = tmp_path_factory.mktemp("what-if") / "hypothetical.ttl"
    path.write_text(HYPOTHETICAL, encoding="utf-8")
    return violations_of(build_ok(extra_files=[path]))


@pytest.mark.slow
def test_a_new_treaty_in_a_data_file_is_judged_without_code_changes(hypothetical):
    assert RES + "violation-of-" + _md5("https://example.org/what-if/article-2") + "-by-" + \
        _md5("https://example.org/what-if/northland") + "-in-" + _md5("https://example.org/what-if/north-attack") \
        in hypothetical


@pytest.mark.slow
def test_a_signatory_is_not_bound_before_it_ratifies(hypothetical):
    assert not [v for v in hypothetical if _md5("https://example.org/what-if/south-attack-before-ratification") in v]


@pytest.mark.slow
def test_a_non_party_and_the_accepting_state_are_not_bound_by_potsdam_article_9(hypothetical):
    for act in ("mongolian-detention", "japanese-detention"):
        assert not [v for v in hypothetical if _md5("https://example.org/what-if/" + act) in v]


@pytest.mark.slow
def test_acts_from_fiction_are_never_judged(hypothetical):
    for act in ("protagonist-captivity", "depicted-only-detention"):
        assert not [v for v in hypothetical if _md5("https://example.org/what-if/" + act) in v]
    # the real findings are still there, so the what-if data did not just break the rule
    assert EXPECTED <= hypothetical


def _md5(text: str) -> str:
    import hashlib
    return hashlib.md5(text.encode()).hexdigest()


# --- the shapes keep the rule's inputs judgeable ------------------------------------

VALID_TREATY = """
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix yk: <https://w3id.org/yokuryu/ontology#> .
@prefix ex: <https://example.org/shapes/> .

ex:source a yk:Citation ; rdfs:label "E0: made up for a shape test"@en ;
    dcterms:source <https://example.org/shapes> ; yk:confidence yk:MediumConfidence .
ex:north a yk:State ; rdfs:label "Northland"@en .
ex:south a yk:State ; rdfs:label "Southland"@en .
ex:treaty a yk:Treaty ;
    rdfs:label "Treaty of Example"@en ;
    yk:signedOn "1950-01-10"^^xsd:date ;
    yk:inForceUntil "1960"^^xsd:gYear ;
    yk:citation ex:source .
ex:ratification a yk:PartyAction ;
    yk:party ex:north ;
    yk:instrument ex:treaty ;
    yk:means yk:Ratification ;
    yk:onDate "1950-02-01"^^xsd:date ;
    yk:citation ex:source .
ex:article a yk:Provision ;
    rdfs:label "Treaty of Example, Article 1"@en ;
    yk:provisionOf ex:treaty ;
    yk:articleNumber "1" ;
    yk:forbids yk:Hostilities ;
    yk:citation ex:source .
ex:attack a yk:Act ;
    rdfs:label "An attack"@en ;
    yk:actKind yk:ArmedAttack ;
    yk:actingAgent ex:north ;
    yk:affectedParty ex:south ;
    yk:startDate "1955-06-01"^^xsd:date ;
    yk:citation ex:source .
"""


def validation_messages(tmp_path, turtle: str) -> list[str]:
    from yokuryu.graph import build
    path = tmp_path / "treaty.ttl"
    path.write_text(turtle, encoding="utf-8")
    return [v.message for v in build([path], reason=False).report.violations]


@pytest.mark.slow
def test_the_valid_treaty_conforms(tmp_path):
    assert validation_messages(tmp_path, VALID_TREATY) == []


@pytest.mark.slow
@pytest.mark.parametrize("old, new, message", [
    ('    rdfs:label "Treaty of Example"@en ;\n', "", "An instrument needs a label."),
    ('    yk:signedOn "1950-01-10"^^xsd:date ;\n', "", "needs the date it was signed or issued"),
    ('"1960"^^xsd:gYear', '"1960Z"^^xsd:gYear', "at most one expiry date"),
    ('    yk:citation ex:source .\nex:ratification', "    yk:signedOn \"1950-01-10\"^^xsd:date .\nex:ratification",
     "An instrument's dates need the external citation"),
    ("    yk:instrument ex:treaty ;\n", "", "at least one party action"),
    ('    yk:onDate "1950-02-01"^^xsd:date ;\n', "", "needs its date (yk:onDate)"),
    ("    yk:party ex:north ;\n", "", "needs the agent (yk:party)"),
    ("    yk:means yk:Ratification ;\n", "    yk:means yk:ArmedAttack ;\n", "needs its means"),
    ("    yk:provisionOf ex:treaty ;\n", "", "must belong to exactly one instrument"),
    ('    yk:articleNumber "1" ;\n', "", "needs its article number"),
    ("    yk:forbids yk:Hostilities ;\n", "    yk:forbids ex:north ;\n", "must belong to the scheme of act kinds"),
    ("    yk:actKind yk:ArmedAttack ;\n", "", "An act needs its kind"),
    ("    yk:actingAgent ex:north ;\n", "", "An act needs the agent responsible"),
    ('    yk:startDate "1955-06-01"^^xsd:date ;\n', '    yk:startDate "1955-06-01"^^xsd:date, "1955"^^xsd:gYear ;\n',
     "at most one start date"),
])
def test_broken_treaty_data_is_refused_with_an_actionable_message(tmp_path, old, new, message):
    assert VALID_TREATY.count(old) == 1, old
    messages = validation_messages(tmp_path, VALID_TREATY.replace(old, new))
    assert any(message in m for m in messages), messages


@pytest.mark.slow
def test_a_hand_made_violation_without_its_explanation_is_refused(tmp_path):
    turtle = VALID_TREATY + """
ex:claimed-violation a yk:TreatyViolation ;
    yk:violatedInstrument ex:treaty ;
    yk:violatingAgent ex:north .
"""
    messages = validation_messages(tmp_path, turtle)
    for needed in ("exactly one violated provision", "exactly one violating act", "the rule that derived it",
                   "needs evidence"):
        assert any(needed in m for m in messages), (needed, messages)


@pytest.mark.slow
def test_only_verbatim_provision_text_is_shown_as_a_quotation():
    """Art. 9 of Potsdam is quoted (verbatim, E11); the pact's Art. 1 is our summary and says so."""
    out = run_cli("violations").stdout.decode()
    assert 'Potsdam Declaration, Article 9: "The Japanese military forces' in out
    assert "Neutrality Pact, Article 1 (summary, not the instrument's words): Both parties" in out
    assert 'Article 1: "' not in out
