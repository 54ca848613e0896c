"""Competency questions about treaties and violations (CQ6–CQ11, CQ25, CQ38–CQ40), answered by
the bundled queries in graph/queries/ on the built graph."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

QUERIES = Path(__file__).resolve().parent.parent / "graph" / "queries"
RES = "https://w3id.org/yokuryu/resource/"
YK = "https://w3id.org/yokuryu/ontology#"
S3 = "https://w3id.org/yokuryu/source/japanese-pows-in-the-soviet-union#s3"


def ask(store, number: int) -> list[dict[str, str]]:
    """Run cqNN.rq and return its rows as {variable: lexical value}."""
    text = (QUERIES / f"cq{number:02d}.rq").read_text(encoding="utf-8")
    results = store.query(text, predeclared_prefixes=False)
    names = [v.value for v in results.variables]
    return [{name: row[name].value for name in names if row[name] is not None} for row in results]


@pytest.mark.parametrize("number", [6, 7, 8, 9, 10, 11, 25, 38, 39, 40])
def test_query_states_its_question_and_expected_answer(number):
    lines = (QUERIES / f"cq{number:02d}.rq").read_text(encoding="utf-8").splitlines()
    assert re.match(rf"# CQ{number}: .+\?$", lines[0])
    assert lines[1].startswith("# Expected: ")


def test_cq06_seed_says_soviet_conduct_was_contrary_to_the_pact_and_potsdam(store):
    rows = {row["instrument"]: row for row in ask(store, 6)}
    assert set(rows) == {RES + "soviet-japanese-neutrality-pact", RES + "potsdam-declaration"}
    pact, potsdam = rows[RES + "soviet-japanese-neutrality-pact"], rows[RES + "potsdam-declaration"]
    assert pact["sentence"] == potsdam["sentence"] == S3
    assert pact["citationNeeded"] == "true"
    assert potsdam["citationNeeded"] == "false"
    assert potsdam["referenceMarker"] == "4"


def test_cq07_neutrality_pact_parties_signature_and_term(store):
    rows = ask(store, 7)
    assert {row["partyLabel"] for row in rows} == {"Soviet Union", "Japan"}
    for row in rows:
        assert row["signedOn"] == "1941-04-13"
        assert row["placeLabel"] == "Moscow"
        assert row["ratifiedOn"] == row["inForceFrom"] == "1941-04-25"
        assert row["term"] == "P5Y"
        assert "five years" in row["article3"] and "one year before" in row["article3"]


def test_cq08_notice_of_5_april_1945_and_the_pact_in_force_on_9_august_1945(store):
    [row] = ask(store, 8)
    assert row["noticeDate"] == "1945-04-05"
    assert row["inForceOn9August1945"] == "true"
    assert row["inForceUntil"] == "1946-04"
    assert row["permittedBy"] == "3"
    assert sorted(row["claimedExpiryDays"].split(" or ")) == ["1946-04-13", "1946-04-25"]


def test_cq09_issuers_of_the_potsdam_declaration_and_the_soviet_adherence(store):
    rows = {row["partyLabel"]: row for row in ask(store, 9)}
    assert set(rows) == {"United States", "United Kingdom", "Republic of China", "Soviet Union"}
    for state, signatory in (("United States", "Harry S. Truman"), ("United Kingdom", "Winston Churchill"),
                             ("Republic of China", "Chiang Kai-shek")):
        assert rows[state]["means"] == YK + "Issuance"
        assert rows[state]["onDate"] == "1945-07-26"
        assert rows[state]["signatories"] == signatory
    assert rows["Soviet Union"]["means"] == YK + "Adherence"
    assert rows["Soviet Union"]["onDate"] == "1945-08-08"
    # Kuomintang China is the Republic of China, never the People's Republic (Q148).
    assert rows["Republic of China"]["party"] == RES + "republic-of-china"


def test_cq10_text_of_potsdam_article_9_and_the_seed_paraphrase(store):
    [row] = ask(store, 10)
    assert row["text"] == ("The Japanese military forces, after being completely disarmed, shall be permitted to "
                           "return to their homes with the opportunity to lead peaceful and productive lives.")
    assert row["citation"] == RES + "citation-e11"
    assert row["seedParaphrase"] == "guaranteed the return of surrendered Japanese soldiers to Japan"
    assert row["sentence"] == S3


def test_cq11_geneva_1929_never_bound_the_ussr_and_gc_iii_from_1954(store):
    rows = ask(store, 11)
    gc29, gc49 = RES + "geneva-convention-1929", RES + "geneva-convention-1949-iii"
    ussr, japan = RES + "soviet-union", RES + "japan"
    assert {(r["instrument"], r["party"]) for r in rows if r["neverBound"] == "true"} == {(gc29, ussr), (gc29, japan)}
    assert not [r for r in rows if r["instrument"] == gc29 and r.get("bindsParty") == "true"]
    japan_1929 = [r for r in rows if r["instrument"] == gc29 and r["party"] == japan and r["neverBound"] == "false"]
    assert [r["means"] for r in japan_1929] == [YK + "Signature"]
    soviet_1949 = {(r["means"], r["onDate"], r["bindsParty"]) for r in rows if r["instrument"] == gc49}
    assert soviet_1949 == {(YK + "Signature", "1949-12-12", "false"), (YK + "Ratification", "1954-05-10", "true")}
    assert {r["reservedArticle"] for r in rows if r["instrument"] == gc49 and "reservedArticle" in r} >= {"85"}


def test_cq25_declaration_of_war_and_invasion_of_manchuria(store):
    rows = {row["act"]: row for row in ask(store, 25)}
    war, invasion = rows[RES + "soviet-declaration-of-war-on-japan"], rows[RES + "soviet-invasion-of-manchuria"]
    assert war["startDate"] == "1945-08-08"
    assert "from 9 August" in war["citationLabel"]
    assert invasion["startDate"] == "1945-08-09"


def test_cq38_the_soviet_union_violated_potsdam_article_9_from_august_1945_to_december_1956(store):
    [row] = ask(store, 38)
    assert row["agentLabel"] == "Soviet Union"
    assert row["act"] == RES + "internment-of-japanese-pows"
    assert row["actKindLabel"] == "detention of disarmed forces for forced labour"
    assert row["articleNumber"] == "9"
    assert (row["overlapStart"], row["overlapEnd"]) == ("1945-08-08", "1956-12")


def test_cq39_united_states_and_kuomintang_china_did_not_violate_potsdam(store):
    rows = ask(store, 39)
    assert {(r["agent"], r["kind"], r["article9"]) for r in rows} == {
        (RES + agent, YK + kind, reading)
        for agent in ("united-states", "republic-of-china")
        for kind, reading in (("Disarmament", "permits"), ("Repatriation", "requires"))}
    assert {r["violated"] for r in rows} == {"false"}


def test_cq40_the_notice_and_the_1950_detention_do_not_violate_the_pact(store):
    rows = {row["act"].removeprefix(RES): row for row in ask(store, 40)}
    notice = rows["soviet-notice-of-denunciation-of-neutrality-pact"]
    assert (notice["startDate"], notice["violatesPact"], notice["permittedByArticle"]) == ("1945-04-05", "false", "3")
    assert rows["internment-of-japanese-pows"]["violatesPact"] == "false"
    assert {row["pactInForceIn1950"] for row in rows.values()} == {"false"}
    violating = {act for act, row in rows.items() if row["violatesPact"] == "true"}
    assert violating == {"soviet-declaration-of-war-on-japan", "soviet-invasion-of-manchuria"}
    assert {row["claimCitationNeeded"] for row in rows.values()} == {"true"}
