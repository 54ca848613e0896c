"""Each constraint of the model's shapes, fed deliberately broken data through `yokuryu validate`:
the command exits 1 and its report names the faulty resource and a message a historian can act on."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.namespace import RDF, SH

from conftest import run_cli

BROKEN = Path(__file__).parent / "data" / "shapes"
EX = "https://example.org/"

# fixture file → (focus node as the report shows it, words of the message that must appear)
CASES = {
    "person-without-name": (f"<{EX}person>", "A person needs a name"),
    "person-as-blank-node": ("[blank node]", "A person must be named by an IRI"),
    "place-as-blank-node": ("[blank node]", "A place must be named by an IRI"),
    "place-without-name": (f"<{EX}region>", "A place needs a name"),
    "organisation-without-name": (f"<{EX}organisation>", "An organisation needs a name"),
    "group-without-label": (f"<{EX}group>", "A group of people needs a label"),
    "event-with-untyped-date": (f"<{EX}event>", "A date must be one typed date"),
    "work-with-untyped-year": (f"<{EX}novel>", "A work's year must be one xsd:gYear"),
    "claim-without-source": (f"<{EX}claim>", "A claim needs a source"),
    "estimate-without-basis": (f"<{EX}estimate>", "An estimate needs its basis"),
    "estimate-without-holder": (f"<{EX}estimate>", "An estimate needs the agent or source that made it"),
    "estimate-minimum-above-maximum": (f"<{EX}estimate>", "not above its maximum"),
    "estimate-without-value": (f"<{EX}estimate>", "An estimate needs either one number"),
    "estimate-with-two-values": (f"<{EX}estimate>", "keep competing numbers as separate estimates"),
    "composite-estimate-wrong-sum": (f"<{EX}total>", "must equal the sum of its components"),
    "vague-quantity-with-number": (f"<{EX}quantity>", "must not be given a number the source does not give"),
    "viewpoint-without-holder": (f"<{EX}viewpoint>", "A viewpoint needs the person or group who holds it"),
    "position-without-holder": (f"<{EX}position>", "A position needs the one person who holds it"),
    "labour-camp-without-location": (f"<{EX}camp>", "A labour camp needs its location"),
    "work-without-creator": (f"<{EX}film>", "needs its creator"),
    "work-with-unknown-genre": (f"<{EX}comic>", "yk:Fiction or yk:FirstHandAccount"),
    "marker-without-sentence": (f"<{EX}marker>", "the sentence (line) it is printed in"),
    "citation-needed-as-text": (f"<{EX}claim>", "yk:citationNeeded is only ever the boolean true"),
    "reference-marker-with-brackets": (f"<{EX}claim>", "the footnote number as printed without brackets"),
    "death-without-deceased": (f"<{EX}death>", "A death needs the one person who died"),
    "term-without-referent": (f"<{EX}term>", "A term needs what it names"),
}


def test_every_fixture_has_a_case():
    assert sorted(p.stem for p in BROKEN.glob("*.ttl")) == sorted(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("fixture", sorted(CASES))
def test_broken_data_is_refused_with_an_actionable_report(fixture):
    focus, message = CASES[fixture]
    path = BROKEN / f"{fixture}.ttl"
    result = run_cli("validate", path, "--format", "json")
    assert result.returncode == 1, result.stdout.decode()
    report = json.loads(result.stderr)
    assert report["conforms"] is False
    matching = [r for r in report["results"] if r["focusNode"] == focus and message in r["message"]]
    assert matching, json.dumps(report["results"], indent=1)
    # Only the broken file is blamed: the bundled data stays valid beside it.
    assert all(r["files"] and r["files"][-1].endswith(path.name) for r in report["results"]), report["results"]


@pytest.mark.slow
def test_text_report_names_focus_node_and_message():
    result = run_cli("validate", BROKEN / "composite-estimate-wrong-sum.ttl")
    assert result.returncode == 1
    text = result.stderr.decode()
    assert f"focus node: <{EX}total>" in text
    assert "gives 347000, its components add up to 344000" in text


def shapes_files() -> list:
    return sorted((f for f in (resources.files("yokuryu.shapes")).iterdir() if f.name.endswith(".ttl")),
                  key=lambda f: f.name)


def test_every_property_shape_of_every_shapes_file_has_name_description_and_message():
    files = shapes_files()
    assert {"shapes.ttl", "treaties.ttl"} <= {f.name for f in files}
    undocumented = []
    for file in files:
        shapes = Graph().parse(data=file.read_text(encoding="utf-8"), format="turtle")
        # Every value of sh:property, named or not (the alternatives inside sh:or are not property shapes).
        for shape in set(shapes.objects(None, SH.property)) | set(shapes.subjects(RDF.type, SH.PropertyShape)):
            missing = [term for term in ("name", "description", "message") if (shape, SH[term], None) not in shapes]
            if missing:
                undocumented.append(f"{file.name}: path {shapes.value(shape, SH.path).n3(shapes.namespace_manager)} "
                                    f"lacks sh:{', sh:'.join(missing)}")
    assert undocumented == [], "\n".join(undocumented)
