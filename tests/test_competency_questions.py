"""The competency questions of the model (CQ1–CQ5, CQ12–CQ24, CQ26–CQ37): each bundled query,
run on the built graph, gives the answer historians expect, traced to its sentence or citation."""
from __future__ import annotations

from importlib import resources

import pyoxigraph as ox
import pytest

SEED = "https://w3id.org/yokuryu/source/japanese-pows-in-the-soviet-union"
RES = "https://w3id.org/yokuryu/resource/"
YK = "https://w3id.org/yokuryu/ontology#"
MODEL_QUESTIONS = [*range(1, 6), *range(12, 25), *range(26, 38)]


def s(n: int) -> str:
    return f"{SEED}#s{n}"


def query_file(number: int) -> str:
    return (resources.files("yokuryu.graph") / "queries" / f"cq{number:02d}.rq").read_text(encoding="utf-8")


def ask(store, number: int) -> list[dict[str, str]]:
    """The rows of a bundled competency question, values as plain strings.

    The queries declare their own prefixes, as other endpoints need them to.
    """
    results = store.query(query_file(number), predeclared_prefixes=False)
    variables = [v.value for v in results.variables]
    return [{name: row[name].value for name in variables if row[name] is not None} for row in results]


@pytest.mark.parametrize("number", MODEL_QUESTIONS)
def test_query_file_states_question_and_expected_answer(number):
    lines = query_file(number).splitlines()
    assert lines[0].startswith(f"# CQ{number}: ") and lines[0].endswith("?")
    assert lines[1].startswith("# Expected: ")
    # Full PREFIX declarations: the query must parse without the endpoint's predeclared prefixes.
    ox.Store().query(query_file(number))


def test_cq01_banquet_host_and_named_attendee(store):
    rows = {r["role"]: r for r in ask(store, 1)}
    assert rows["host"]["name"] == "Nikolai Gagen" and rows["host"]["rank"] == "lieutenant general"
    assert rows["attendee"]["name"] == "Jun Ushiroku" and rows["attendee"]["rank"] == "general"
    assert {r["sentence"] for r in rows.values()} == {s(7)}
    # "such as Jun Ushiroku": the group of high-ranking prisoners attended too, not only him.
    assert store.query("ASK { res:khabarovsk-banquet yk:attendedBy res:high-ranking-japanese-prisoners . "
                       "res:jun-ushiroku yk:memberOf res:high-ranking-japanese-prisoners }")


def test_cq02_disarmed_by_us_and_nationalist_china(store):
    rows = ask(store, 2)
    assert {r["name"] for r in rows} == {"United States", "Republic of China"}
    assert {r["sentence"] for r in rows} == {s(2)}
    # Kuomintang China is the Republic of China, never Q148 (the People's Republic).
    assert not store.query("ASK { res:republic-of-china ?p <http://www.wikidata.org/entity/Q148> }")
    assert store.query('ASK { res:republic-of-china skos:altLabel "Kuomintang China"@en }')


def test_cq03_kuznetsov_profession_position_affiliation(store):
    [row] = ask(store, 3)
    assert row["profession"] == "historian"
    assert row["title"] == "dean"
    assert row["organisation"] == "Department of History, Irkutsk State University"
    assert row["university"] == "Irkutsk State University"
    assert row["note"] == "S. Kuznetsov was one of the first researchers of the topic"
    assert row["probableName"] == "Sergey Ilyich Kuznetsov"
    assert row["confidence"] == YK + "MediumConfidence"


def test_cq04_nimmo_american_historian_and_his_estimate(store):
    rows = ask(store, 4)
    assert {(r["occupation"], r["nationality"], r["total"]) for r in rows} == {("historian", "United States", "347000")}
    assert sorted(int(r["part"]) for r in rows) == [93000, 254000]
    assert {r["sentence"] for r in rows} == {s(10)}


def test_cq05_scap_hostility_caused_by_hostile_returnees(store):
    [row] = ask(store, 5)
    assert row["agent"] == RES + "scap"
    assert row["name"] == "Supreme Commander for the Allied Powers"
    assert row["headedBy"] == "Douglas MacArthur"
    assert "uncooperative and hostile" in row["cause"] and row["causeFrom"] == "1949"
    assert row["sentence"] == s(5)


def test_cq12_interned_in_soviet_union_and_mongolia(store):
    rows = ask(store, 12)
    assert [r["name"] for r in rows] == ["Mongolia", "Soviet Union"]
    assert {r["sentence"] for r in rows} == {s(1)}


def test_cq13_banquet_in_khabarovsk(store):
    assert [(r["name"], r["sentence"]) for r in ask(store, 13)] == [("Khabarovsk", s(7))]


def test_cq14_gupvi_administered_the_camps(store):
    [row] = ask(store, 14)
    assert row["body"] == RES + "gupvi" and row["abbreviation"] == "GUPVI"
    assert row["name"] == "Main Administration for Affairs of Prisoners of War and Internees"
    assert (row["from"], row["until"]) == ("1939-09", "1953")
    assert row["citation"].startswith("E15:")


def test_cq15_nimmo_basis_registered_in_manchuria(store):
    [row] = ask(store, 15)
    assert row["name"] == "Manchuria"
    assert "at the time of surrender" in row["basis"]
    assert row["sentence"] == s(10)


def test_cq16_siberian_internment_is_the_japanese_term(store):
    [row] = ask(store, 16)
    assert row["refersTo"] == "Internment of Japanese prisoners of war in the Soviet Union and Mongolia"
    assert row["termOf"] == "Japan"
    assert "not every camp was in Siberia" in row["note"]
    assert row["noteCitation"] == RES + "citation-e16"
    assert row["sentence"] == s(8)


def test_cq17_fumo_chitai_author_year_subject(store):
    rows = ask(store, 17)
    assert {(r["author"], r["occupation"], r["seedYear"]) for r in rows} == {("Toyoko Yamasaki", "novelist", "1976")}
    assert "staff officer captured in Manchuria" in rows[0]["about"]
    assert sorted((r["from"], r["to"]) for r in rows) == [("1973", "1978"), ("1976", "1978")]
    assert rows[0]["sentence"] == s(11)


def test_cq18_kobayashi_and_a_soldiers_prayer(store):
    [row] = ask(store, 18)
    assert row["director"] == "Masaki Kobayashi"
    assert (row["part"], row["position"], row["year"]) == ("A Soldier's Prayer", "3", "1961")


def test_cq19_kiuchi_online_comic_is_first_hand(store):
    [row] = ask(store, 19)
    assert row["title"] == "The Notes of Japanese soldier in USSR"
    assert row["author"] == "Kiuchi Nobuo"
    assert row["form"] == "online comic series"
    assert row["sentence"] == s(13)


def test_cq20_fiction_versus_first_hand_account(store):
    genres = {r["title"]: r["genre"] for r in ask(store, 20)}
    # Fumō Chitai's genre is inferred: every novel is fiction (an OWL hasValue restriction).
    assert genres == {"Fumō Chitai": "fiction", "The Human Condition": "fiction",
                      "The Notes of Japanese soldier in USSR": "first-hand account"}


def test_cq21_repatriation_start_flagged_and_end(store):
    [row] = ask(store, 21)
    assert row["start"] == "1946" and row["startFlagged"] == "true"
    assert row["end"] == "1956-12" and row["endSource"].startswith("E21:")
    assert row["firstShips"] == "1946-12"
    assert row["lastReturn"] == "1956-12-26"


def test_cq22_hostile_returnees_from_1949_due_to_propaganda(store):
    [row] = ask(store, 22)
    assert row["from"] == "1949"
    assert row["cause"].startswith("Communist propaganda")
    assert row["sentence"] == s(4)


def test_cq23_stalins_death_and_the_thaw_preceded_the_change(store):
    rows = ask(store, 23)
    by_event = {r["event"]: r for r in rows}
    assert set(by_event) == {RES + "death-of-joseph-stalin", RES + "khrushchev-thaw"}
    assert by_event[RES + "death-of-joseph-stalin"]["date"] == "1953-03-05"
    assert by_event[RES + "khrushchev-thaw"]["seedSpelling"] == "Khruschev Thaw"
    # The death came before the Thaw, as the source orders them.
    assert store.query("ASK { res:death-of-joseph-stalin yk:before res:khrushchev-thaw }")


def test_cq24_most_forces_disarmed_and_repatriated_1946(store):
    rows = {r["event"]: r for r in ask(store, 24)}
    disarmament = rows[RES + "disarmament-by-us-and-kuomintang-china"]
    repatriation = rows[RES + "repatriation-by-us-and-kuomintang-china"]
    assert sorted(disarmament["by"].split(" and ")) == ["Republic of China", "United States"]
    assert repatriation["year"] == "1946" and "year" not in disarmament
    assert store.query("ASK { res:majority-of-japanese-forces-outside-japan yk:subgroupOf res:japanese-armed-forces-outside-japan }")
    # The US–Kuomintang repatriation and the Soviet one are different events.
    assert not store.query("ASK { res:repatriation-by-us-and-kuomintang-china owl:sameAs res:repatriation-from-soviet-custody }")


def test_cq26_one_range_from_560000_to_760000(store):
    [row] = ask(store, 26)
    assert (row["minimum"], row["maximum"], row["sentence"]) == ("560000", "760000", s(1))


def test_cq27_two_competing_death_estimates(store):
    rows = {int(r["value"]): r for r in ask(store, 27)}
    assert set(rows) == {60000, 347000}
    assert rows[60000]["basis"] == "deaths certified by the USSR"
    assert rows[347000]["holder"] == "William F. Nimmo"
    assert "registered in Manchuria at the time of surrender" in rows[347000]["basis"]
    assert rows[60000]["competesWith"] == rows[347000]["estimate"]
    assert rows[347000]["competesWith"] == rows[60000]["estimate"]  # symmetric, by reasoning


def test_cq28_347000_is_254000_dead_plus_93000_missing(store):
    rows = ask(store, 28)
    assert [(int(r["part"]), r["partLabel"].split(",")[0]) for r in rows] == [(254000, "254"), (93000, "93")]
    assert sum(int(r["part"]) for r in rows) == 347000


def test_cq29_3_5_million_are_not_the_interned(store):
    [row] = ask(store, 29)
    assert (row["value"], row["approximate"], row["sameGroup"]) == ("3500000", "true", "false")
    assert row["sentence"] == s(2)


def test_cq30_thousands_interviewed_no_number(store):
    [row] = ask(store, 30)
    assert (row["wording"], row["hasNumber"], row["sentence"]) == ("thousands", "false", s(8))


def test_cq31_four_citation_needed_flags(store):
    rows = ask(store, 31)
    flags = {}
    for r in rows:
        flags.setdefault(r["flag"], set()).add(r["statement"])
    assert len(flags) == 4
    assert sorted(int(r["line"]) for r in rows if r["ambiguous"] == "false") == [3, 4, 8]
    [ambiguous] = [f for f, statements in flags.items() if len(statements) == 2]
    assert {r["line"] for r in rows if r["flag"] == ambiguous} == {"2"}
    statements = " / ".join(sorted(set().union(*flags.values())))
    for expected in ("560,000 to 760,000", "repatriated in 1946", "Neutrality Pact from the beginning",
                     "started in 1946", "unique and paradoxical"):
        assert expected in statements


def test_cq32_reference_markers_close_the_previous_sentence(store):
    rows = ask(store, 32)
    assert [(r["marker"], r["printedInLine"], r["statedInLine"]) for r in rows] == [("[4]", "4", "3"), ("[13]", "8", "7")]
    assert "Potsdam Declaration" in rows[0]["statement"] and "Khabarovsk" in rows[1]["statement"]
    assert store.query('ASK { res:claim-soviet-conduct-contrary-to-potsdam-declaration yk:referenceMarker "4" . '
                       'res:khabarovsk-banquet yk:referenceMarker "13" }')


def test_cq33_each_fact_traced_to_its_sentence(store):
    rows = {r["fact"]: r for r in ask(store, 33)}
    assert rows[RES + "estimate-deaths-nimmo"]["number"] == "10"
    assert rows[RES + "khabarovsk-banquet"]["number"] == "7"
    assert rows[RES + "estimate-japanese-interned-in-ussr-and-mongolia"]["number"] == "1"
    assert "Nimmo" in rows[RES + "estimate-deaths-nimmo"]["text"]


def test_cq34_external_statements_carry_source_and_confidence(store):
    rows = ask(store, 34)
    def find(subject, predicate):
        return [r for r in rows if r["subject"] == RES + subject and r["predicate"] == YK + predicate]
    # A resource's citations cover what the external graph says about it, so a row per citation.
    signed = find("soviet-japanese-neutrality-pact", "signedOn")
    assert {r["object"] for r in signed} == {"1941-04-13"} and any(r["citation"].startswith("E1:") for r in signed)
    ended = find("repatriation-from-soviet-custody", "endDate")
    assert {r["object"] for r in ended} == {"1956-12"} and any(r["citation"].startswith("E21:") for r in ended)
    assert any(r["object"] == "1945-08-08" and r["citation"].startswith("E8:") for r in rows)
    assert all(r["pages"].startswith("http") for r in rows)
    assert {r["confidence"] for r in rows} <= {YK + "HighConfidence", YK + "MediumConfidence"}
    # Kept apart from the seed: no external statement is stated in a seed sentence's graph.
    assert not store.query("ASK { GRAPH <https://w3id.org/yokuryu/graph/source/japanese-pows-in-the-soviet-union> { ?x yk:citation ?c } }")


def test_cq35_kuznetsov_conclusion_and_its_basis(store):
    rows = ask(store, 35)
    assert {r["conclusion"] for r in rows} == {'"Siberian Internment" was a unique and paradoxical phenomenon'}
    assert {r["basedOn"] for r in rows} == {"S. Kuznetsov's interviews with former internees"}
    supports = " / ".join(sorted(r["support"] for r in rows))
    assert '"studies of democracy"' in supports and "very small number" in supports
    assert {r["conclusionSentence"] for r in rows} == {s(8)} and {r["supportSentence"] for r in rows} == {s(9)}


def test_cq36_many_inmates_disagree_and_remember_hardship(store):
    rows = ask(store, 36)
    assert {r["howMany"] for r in rows} == {"many"}
    assert [r["memory"] for r in rows] == ["Being robbed of personal property", "Exhausting labour",
                                           "Harsh winters", "The brutality of camp personnel"]
    assert {r["sentence"] for r in rows} == {s(9)}


def test_cq37_public_perception_became_more_negative(store):
    [row] = ask(store, 37)
    assert "more negative perception" in row["change"]
    assert "uncooperative and hostile" in row["cause"]
    assert row["sentence"] == s(5)
