"""A synthetic per-person internee registry, valid against Yokuryū's ontology and shapes.

Historians hold registries of hundreds of thousands of internees; this generator makes data of
that shape so validation, reasoning and writes can be measured at scale. Everything it writes
lives under ``https://example.org/yokuryu-registry/`` and every name, date and number is drawn
from a seeded random generator: it is test data, never history, and the register document says
so in its title.

    python bench/registry.py --size 100k --seed 1 -o registry.ttl
    python bench/registry.py --persons 170 --faults 6 -o registry.trig
    python bench/registry.py --persons 170 --faults 6 --list-faults

Each person has names in Latin script (some also in Japanese script), a birth year, a rank, a
unit, a place of capture, one to three camp stays linked by transfers (``yk:before``), and a
death or a repatriation, each stated in a sentence of the register and cited. Camps sit in
cities, regions and countries (transitive ``yk:locatedIn``); units in divisions
(``yk:subOrganisationOf``); camps carry competing estimates of how many they held, regions a
composite death toll that is the sum of its parts (the shapes' ``sh:sparql`` check).
Sub-properties (``yk:heldIn`` of ``yk:location``, ``yk:deceased`` of ``yk:participant``),
inverses (``yk:before``/``yk:after``), symmetric ``yk:competesWith`` and functional dates all
occur. About 54 triples per person: ``--size`` 10k, 100k and 1M are 185, 1,860 and 18,600
persons.

``--faults K`` breaks K nodes, each in one known way that the shapes report exactly once;
``--list-faults`` prints them (focus node, shape, constraint component, path) instead of data.

Importable: :func:`generate` returns a :class:`Registry` with the Turtle/TriG text and the
list of faults, so tests and benchmarks need no files.
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

BASE = "https://example.org/yokuryu-registry/"
GRAPH_IRI = BASE + "graph"
SIZES = {"10k": 185, "100k": 1860, "1M": 18600}

PREFIXES = {
    "dcterms": "http://purl.org/dc/terms/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "reg": BASE,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "yk": "https://w3id.org/yokuryu/ontology#",
    "yks": "https://w3id.org/yokuryu/shapes#",
}
SH = "http://www.w3.org/ns/shacl#"
YKS = PREFIXES["yks"]
YK = PREFIXES["yk"]

# Common surnames and given names (Latin, Japanese script). Combined at random: no real person.
SURNAMES = [("Satō", "佐藤"), ("Suzuki", "鈴木"), ("Takahashi", "高橋"), ("Tanaka", "田中"),
            ("Watanabe", "渡辺"), ("Itō", "伊藤"), ("Yamamoto", "山本"), ("Nakamura", "中村"),
            ("Kobayashi", "小林"), ("Katō", "加藤"), ("Yoshida", "吉田"), ("Yamada", "山田"),
            ("Sasaki", "佐々木"), ("Yamaguchi", "山口"), ("Matsumoto", "松本"), ("Inoue", "井上"),
            ("Kimura", "木村"), ("Hayashi", "林"), ("Shimizu", "清水"), ("Mori", "森")]
GIVEN = [("Hiroshi", "博"), ("Takeshi", "武"), ("Kiyoshi", "清"), ("Isamu", "勇"), ("Minoru", "稔"),
         ("Shigeru", "茂"), ("Masao", "正雄"), ("Tadashi", "正"), ("Yoshio", "義雄"), ("Haruo", "春雄"),
         ("Kazuo", "一男"), ("Saburō", "三郎"), ("Jirō", "次郎"), ("Ichirō", "一郎"), ("Toshio", "敏夫"),
         ("Akira", "明"), ("Noboru", "昇"), ("Susumu", "進"), ("Osamu", "修"), ("Makoto", "誠")]
RANKS = ["private", "private first class", "corporal", "sergeant", "second lieutenant"]


@dataclass(frozen=True)
class Fault:
    """One deliberate shape violation: the result a validator must report for it."""

    kind: str
    focus: str
    shape: str
    component: str
    path: str | None

    def as_line(self) -> str:
        return "\t".join([self.kind, self.focus, self.shape, self.component, self.path or "-"])


# kind → (shape, constraint component, path) of the one result it causes.
FAULT_KINDS = {
    "person-without-name": ("PersonShape", "MinCountConstraintComponent", "rdfs:label"),
    "birth-year-untyped": ("DatedShape", "OrConstraintComponent", "yk:birthDate"),
    "two-birth-years": ("DatedShape", "MaxCountConstraintComponent", "yk:birthDate"),
    "stay-end-not-a-date": ("DatedShape", "OrConstraintComponent", "yk:endDate"),
    "record-without-source": ("ClaimSourceShape", "OrConstraintComponent", None),
    "death-without-deceased": ("DeathShape", "MinCountConstraintComponent", "yk:deceased"),
    "citation-unknown-confidence": ("CitationShape", "InConstraintComponent", "yk:confidence"),
    "camp-without-location": ("LabourCampShape", "MinCountConstraintComponent", "yk:location"),
    "estimate-minimum-above-maximum": ("EstimateShape", "LessThanOrEqualsConstraintComponent", "yk:minimumValue"),
    "estimate-without-basis": ("EstimateShape", "MinCountConstraintComponent", "yk:basis"),
    "composite-toll-wrong-sum": ("CompositeEstimateShape", "SPARQLConstraintComponent", None),
    "sentence-without-text": ("SentenceShape", "MinCountConstraintComponent", "yk:sentenceText"),
}
# Which kind of node each fault breaks, so that no node carries two faults.
_PERSON_FAULTS = ["person-without-name", "birth-year-untyped", "two-birth-years", "stay-end-not-a-date",
                  "record-without-source", "death-without-deceased", "citation-unknown-confidence",
                  "sentence-without-text"]
_CAMP_FAULTS = ["camp-without-location", "estimate-minimum-above-maximum", "estimate-without-basis"]
_REGION_FAULTS = ["composite-toll-wrong-sum"]


@dataclass
class Registry:
    """The generated subjects (each with its predicate–object pairs) and the faults put in."""

    persons: int
    seed: int
    subjects: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    @property
    def triple_count(self) -> int:
        return sum(len(pairs) for _, pairs in self.subjects)

    def turtle(self, *, trig: bool = False) -> str:
        """The registry as Turtle, or as TriG with everything in one named graph."""
        return "".join(self._chunks(trig))

    def write(self, path: str | Path) -> None:
        """Write Turtle, or TriG when the file name ends in ``.trig``."""
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(self._chunks(str(path).endswith(".trig")))

    def _chunks(self, trig: bool):
        yield from (f"@prefix {p}: <{iri}> .\n" for p, iri in sorted(PREFIXES.items()))
        yield f"\n# Synthetic test data from bench/registry.py (persons={self.persons}, seed={self.seed}); not history.\n\n"
        indent = "    " if trig else ""
        if trig:
            yield f"<{GRAPH_IRI}> {{\n"
        for subject, pairs in self.subjects:
            body = f" ;\n{indent}    ".join(f"{p} {o}" for p, o in pairs)
            yield f"{indent}{subject} {body} .\n"
        if trig:
            yield "}\n"


def persons_for_size(size: str) -> int:
    """The number of persons that gives about ``size`` triples (10k, 100k or 1M)."""
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"unknown size {size!r}: use one of {', '.join(SIZES)}") from None


def expand(curie: str) -> str:
    """A prefixed name of this module's output as a full IRI."""
    prefix, local = curie.split(":", 1)
    return PREFIXES[prefix] + local


def generate(persons: int, *, seed: int = 1, faults: int = 0) -> Registry:
    """A deterministic registry of ``persons`` synthetic internees with ``faults`` known violations."""
    if persons < 1:
        raise ValueError("a registry needs at least one person")
    return _Generator(persons, seed, faults).run()


def _lit(text: str, lang: str | None = None) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"@{lang}' if lang else f'"{escaped}"'


def _typed(value: str, datatype: str) -> str:
    return f'"{value}"^^xsd:{datatype}'


class _Generator:
    def __init__(self, persons: int, seed: int, faults: int):
        self.n = persons
        self.seed = seed
        self.rng = random.Random(seed)
        self.registry = Registry(persons, seed)
        self.n_camps = max(4, persons // 10)
        self.n_cities = max(3, persons // 25)
        self.n_regions = max(2, persons // 80)
        self.n_units = max(3, persons // 20)
        self.n_divisions = max(1, self.n_units // 6)
        self.n_volumes = max(1, (persons + 499) // 500)
        self.n_capture = max(2, persons // 40)
        self.fault_at = self._plan_faults(faults)

    # -- faults -----------------------------------------------------------------------------

    def _plan_faults(self, count: int) -> dict[tuple[str, int], str]:
        """Which node gets which fault: kinds in turn, nodes drawn without repeats."""
        if count < 0:
            raise ValueError("--faults must be 0 or more")
        rng = random.Random(f"faults-{self.seed}")
        pools = {"person": rng.sample(range(self.n), self.n),
                 "camp": rng.sample(range(self.n_camps), self.n_camps),
                 "region": rng.sample(range(self.n_regions), self.n_regions)}
        kinds = [("person", k) for k in _PERSON_FAULTS] + [("camp", k) for k in _CAMP_FAULTS] + \
                [("region", k) for k in _REGION_FAULTS]
        plan: dict[tuple[str, int], str] = {}
        i = 0
        while len(plan) < count:
            if not any(pools.values()):
                raise ValueError(f"--faults {count} is more than this registry has nodes to break")
            pool, kind = kinds[i % len(kinds)]
            i += 1
            if pools[pool]:
                plan[(pool, pools[pool].pop())] = kind
        return plan

    def _fault(self, kind: str, focus: str) -> None:
        shape, component, path = FAULT_KINDS[kind]
        self.registry.faults.append(Fault(kind, expand(focus), YKS + shape, SH + component,
                                          expand(path) if path else None))

    # -- output -----------------------------------------------------------------------------

    def add(self, subject: str, *pairs: tuple[str, str]) -> None:
        self.registry.subjects.append((subject, [p for p in pairs if p]))

    def date(self, year_from: int, year_to: int) -> tuple[int, int, int]:
        return self.rng.randint(year_from, year_to), self.rng.randint(1, 12), self.rng.randint(1, 28)

    @staticmethod
    def date_literal(y: int, m: int, d: int, precision: str) -> str:
        if precision == "year":
            return _typed(f"{y:04d}", "gYear")
        if precision == "month":
            return _typed(f"{y:04d}-{m:02d}", "gYearMonth")
        return _typed(f"{y:04d}-{m:02d}-{d:02d}", "date")

    def precision(self) -> str:
        return self.rng.choice(("day", "day", "month", "year"))

    # -- the registry -----------------------------------------------------------------------

    def run(self) -> Registry:
        self.places()
        self.units()
        self.sources()
        for i in range(self.n):
            self.person(i)
        for k in range(self.n_camps):
            self.camp_estimates(k)
        for r in range(self.n_regions):
            self.regional_toll(r)
        return self.registry

    def places(self) -> None:
        self.add("reg:japan", ("a", "yk:State"), ("a", "yk:Country"), ("rdfs:label", _lit("Japan", "en")),
                 ("rdfs:label", _lit("日本", "ja")))
        self.add("reg:soviet-union", ("a", "yk:State"), ("a", "yk:Country"), ("rdfs:label", _lit("Soviet Union", "en")))
        self.add("reg:camp-administration", ("a", "yk:Administration"),
                 ("rdfs:label", _lit("Camp administration (synthetic)", "en")))
        for r in range(self.n_regions):
            self.add(f"reg:region-{r}", ("a", "yk:Region"), ("rdfs:label", _lit(f"Region {r} (synthetic)", "en")),
                     ("yk:locatedIn", "reg:soviet-union"))
        for c in range(self.n_cities):
            self.add(f"reg:city-{c}", ("a", "yk:City"), ("rdfs:label", _lit(f"City {c} (synthetic)", "en")),
                     ("yk:locatedIn", f"reg:region-{c % self.n_regions}"))
        for k in range(self.n_camps):
            city = f"reg:city-{k % self.n_cities}"
            broken = self.fault_at.get(("camp", k)) == "camp-without-location"
            if broken:
                self._fault("camp-without-location", f"reg:camp-{k}")
            self.add(f"reg:camp-{k}", ("a", "yk:LabourCamp"), ("rdfs:label", _lit(f"Camp {k} (synthetic)", "en")),
                     None if broken else ("yk:location", city), ("yk:locatedIn", city),
                     ("yk:operatedBy", "reg:camp-administration"))
            # Each camp's inmates as a group, counted by the camp's estimates.
            self.add(f"reg:inmates-of-camp-{k}", ("a", "yk:GroupOfPeople"),
                     ("rdfs:label", _lit(f"Internees held in camp {k} (synthetic)", "en")))
        for c in range(self.n_capture):
            self.add(f"reg:capture-area-{c}", ("a", "yk:Region"),
                     ("rdfs:label", _lit(f"Area of capture {c} (synthetic)", "en")))
        self.add("reg:port-of-departure", ("a", "yk:City"), ("rdfs:label", _lit("Port of departure (synthetic)", "en")),
                 ("yk:locatedIn", "reg:region-0"))
        self.add("reg:port-of-arrival", ("a", "yk:City"), ("rdfs:label", _lit("Port of arrival (synthetic)", "en")),
                 ("yk:locatedIn", "reg:japan"))

    def units(self) -> None:
        for d in range(self.n_divisions):
            self.add(f"reg:division-{d}", ("a", "yk:MilitaryForce"),
                     ("rdfs:label", _lit(f"Division {d} (synthetic)", "en")), ("yk:armedForceOf", "reg:japan"))
        for u in range(self.n_units):
            self.add(f"reg:unit-{u}", ("a", "yk:MilitaryForce"), ("rdfs:label", _lit(f"Regiment {u} (synthetic)", "en")),
                     ("yk:armedForceOf", "reg:japan"), ("yk:subOrganisationOf", f"reg:division-{u % self.n_divisions}"))

    def sources(self) -> None:
        for v in range(self.n_volumes):
            self.add(f"reg:register-volume-{v}", ("a", "yk:SourceDocument"),
                     ("dcterms:title", _lit(f"Synthetic internee register, volume {v} (generated test data, not history)", "en")),
                     ("dcterms:license", "<https://creativecommons.org/publicdomain/zero/1.0/>"))
            self.add(f"reg:citation-volume-{v}", ("a", "yk:Citation"),
                     ("dcterms:source", f"<{BASE}archive/volume-{v}>"), ("yk:confidence", "yk:HighConfidence"))

    def person(self, i: int) -> None:
        rng = self.rng
        fault = self.fault_at.get(("person", i))
        p = f"reg:person-{i}"
        volume = i // 500
        sentence = f"<{BASE}register-volume-{volume}#entry-{i}>"
        citation = f"reg:citation-volume-{volume}"
        (family, family_ja), (given, given_ja) = rng.choice(SURNAMES), rng.choice(GIVEN)
        born = rng.randint(1900, 1927)
        unit = f"reg:unit-{rng.randrange(self.n_units)}"
        rank = rng.choice(RANKS)
        captured = f"reg:capture-area-{rng.randrange(self.n_capture)}"
        camps = rng.sample(range(self.n_camps), rng.choice((1, 2, 2, 3)))
        dies = rng.random() < 0.1 or fault == "death-without-deceased"
        outcome = f"reg:death-{i}" if dies else f"reg:repatriation-{i}"
        labels = [] if fault == "person-without-name" else [("rdfs:label", _lit(f"{family} {given}", "ja-Latn"))]
        if i % 3 == 0 and labels:
            labels.append(("rdfs:label", _lit(f"{family_ja} {given_ja}", "ja")))
        birth = [("yk:birthDate", _typed(str(born), "gYear"))]
        if fault == "birth-year-untyped":
            birth = [("yk:birthDate", _lit(str(born)))]
        elif fault == "two-birth-years":
            birth.append(("yk:birthDate", _typed(str(born + 1), "gYear")))
        if fault in ("person-without-name", "birth-year-untyped", "two-birth-years"):
            self._fault(fault, p)

        # Camp stays, one after the other; a transfer ends one stay where the next begins.
        y, m, d = 1945, rng.randint(8, 10), rng.randint(1, 28)
        stays = []
        for n, camp in enumerate(camps):
            stay = f"reg:stay-{i}-{n}"
            start = self.date_literal(y, m, d, self.precision())
            y, m, d = y + rng.randint(0, 1), rng.randint(1, 12), rng.randint(1, 28)
            end = self.date_literal(y, m, d, self.precision())
            if fault == "stay-end-not-a-date" and n == 0:
                end = _lit(f"spring {y}", "en")
                self._fault(fault, stay)
            stays.append(stay)
            if n + 1 < len(camps):
                # The transfer that ends this stay and starts the next, on the day the stay ends.
                self.add(f"reg:transfer-{i}-{n}", ("a", "yk:Change"),
                         ("rdfs:label", _lit(f"Transfer of {family} {given} from camp {camp} to camp {camps[n + 1]}", "en")),
                         ("yk:participant", p), ("yk:date", end if n or fault != "stay-end-not-a-date" else
                                                 self.date_literal(y, m, d, "year")),
                         ("yk:concerns", stay), ("yk:resultedIn", f"reg:stay-{i}-{n + 1}"), ("yk:statedIn", sentence))
            self.add(stay, ("a", "yk:Internment"),
                     ("rdfs:label", _lit(f"Stay of {family} {given} in camp {camp}", "en")),
                     ("yk:participant", p), ("yk:heldIn", f"reg:camp-{camp}"),
                     ("yk:startDate", start), ("yk:endDate", end),
                     ("yk:before", f"reg:stay-{i}-{n + 1}" if n + 1 < len(camps) else outcome),
                     ("yk:statedIn", sentence))
        if dies:
            when = self.date_literal(y, m, d, self.precision())
            broken = fault == "death-without-deceased"
            if broken:
                self._fault(fault, outcome)
            self.add(outcome, ("a", "yk:Death"), ("rdfs:label", _lit(f"Death of {family} {given}", "en")),
                     ("yk:participant", p) if broken else ("yk:deceased", p), ("yk:date", when),
                     ("yk:location", f"reg:camp-{camps[-1]}"), ("yk:statedIn", sentence))
            fate = [("yk:deathDate", when)]
        else:
            when = self.date_literal(y + rng.randint(1, 8), rng.randint(1, 12), rng.randint(1, 28), self.precision())
            self.add(outcome, ("a", "yk:RepatriationEvent"),
                     ("rdfs:label", _lit(f"Repatriation of {family} {given}", "en")), ("yk:participant", p),
                     ("yk:fromPlace", "reg:port-of-departure"), ("yk:toPlace", "reg:port-of-arrival"),
                     ("yk:date", when), ("yk:statedIn", sentence))
            fate = []

        self.add(p, ("a", "yk:Person"), *labels, *birth, ("yk:militaryRank", _lit(rank, "en")),
                 ("yk:memberOf", unit), ("yk:nationality", "reg:japan"), ("yk:capturedIn", captured),
                 ("yk:registeredIn", f"reg:camp-{camps[0]}"), ("yk:occupation", "yk:Soldier"), *fate,
                 ("yk:mentionedIn", sentence))
        if fault == "sentence-without-text":
            self._fault(fault, sentence[1:-1].replace(BASE, "reg:", 1))
        self.add(sentence, ("a", "yk:Sentence"),
                 None if fault == "sentence-without-text" else
                 ("yk:sentenceText", _lit(f"Entry {i}: {family} {given}, born {born}, {rank}.", "en")),
                 ("yk:inDocument", f"reg:register-volume-{volume}"),
                 ("yk:sentenceNumber", _typed(str(i % 500 + 1), "positiveInteger")))
        record = f"reg:record-{i}"
        if fault == "citation-unknown-confidence":
            citation = f"reg:citation-of-record-{i}"
            self.add(citation, ("a", "yk:Citation"), ("dcterms:source", f"<{BASE}archive/card-{i}>"),
                     ("yk:confidence", "yk:LowConfidence"))
            self._fault(fault, citation)
        if fault == "record-without-source":
            self._fault(fault, record)
        sourced = fault != "record-without-source"
        self.add(record, ("a", "yk:Claim"), ("rdfs:label", _lit(f"Register entry for {family} {given}", "en")),
                 ("yk:about", p), ("yk:basis", _lit("Register card (synthetic).", "en")), ("yk:heldBy", f"reg:register-volume-{volume}"),
                 ("yk:statedIn", sentence) if sourced else None, ("yk:citation", citation) if sourced else None)

    def camp_estimates(self, k: int) -> None:
        """Two competing estimates of a camp's inmates: one number, and a range."""
        rng = self.rng
        fault = self.fault_at.get(("camp", k))
        single, ranged = f"reg:estimate-camp-{k}-a", f"reg:estimate-camp-{k}-b"
        value = rng.randint(200, 5000)
        low, high = value - rng.randint(0, 150), value + rng.randint(1, 400)
        if fault == "estimate-minimum-above-maximum":
            low, high = high, low
            self._fault(fault, ranged)
        if fault == "estimate-without-basis":
            self._fault(fault, single)
        volume = f"reg:register-volume-{k % self.n_volumes}"
        self.add(single, ("a", "yk:Estimate"), ("yk:estimatedValue", str(value)),
                 ("yk:countOf", f"reg:inmates-of-camp-{k}"), ("yk:heldBy", volume),
                 None if fault == "estimate-without-basis" else ("yk:basis", _lit("Count of register entries (synthetic).", "en")),
                 ("yk:competesWith", ranged), ("yk:citation", f"reg:citation-volume-{k % self.n_volumes}"))
        self.add(ranged, ("a", "yk:Estimate"), ("yk:minimumValue", str(low)), ("yk:maximumValue", str(high)),
                 ("yk:countOf", f"reg:inmates-of-camp-{k}"), ("yk:heldBy", volume),
                 ("yk:basis", _lit("Camp roll calls (synthetic).", "en")),
                 ("yk:citation", f"reg:citation-volume-{k % self.n_volumes}"))

    def regional_toll(self, r: int) -> None:
        """A composite death toll (dead + missing) for a region, equal to the sum of its parts."""
        rng = self.rng
        dead, missing = rng.randint(100, 3000), rng.randint(10, 900)
        total = dead + missing
        if self.fault_at.get(("region", r)) == "composite-toll-wrong-sum":
            total += 1000
            self._fault("composite-toll-wrong-sum", f"reg:toll-region-{r}")
        basis = ("yk:basis", _lit("Sum of register entries (synthetic).", "en"))
        held = ("yk:heldBy", f"reg:register-volume-{r % self.n_volumes}")
        entry = r % self.n  # stated in the register entry of person r, in that entry's volume
        stated = ("yk:statedIn", f"<{BASE}register-volume-{entry // 500}#entry-{entry}>")
        self.add(f"reg:toll-region-{r}", ("a", "yk:DeathTollEstimate"), ("yk:estimatedValue", str(total)),
                 ("yk:component", f"reg:toll-region-{r}-dead"), ("yk:component", f"reg:toll-region-{r}-missing"), held, basis, stated)
        self.add(f"reg:toll-region-{r}-dead", ("a", "yk:DeathTollEstimate"), ("yk:estimatedValue", str(dead)),
                 held, basis, stated)
        self.add(f"reg:toll-region-{r}-missing", ("a", "yk:Estimate"), ("yk:estimatedValue", str(missing)),
                 held, basis, stated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--persons", type=int, help="number of synthetic internees")
    size.add_argument("--size", choices=sorted(SIZES), help="about this many triples (10k: 185 persons)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1); same seed, same file")
    parser.add_argument("--faults", type=int, default=0, help="number of known shape violations to put in")
    parser.add_argument("-o", "--output", help="output file (.ttl Turtle, .trig TriG); default standard output")
    parser.add_argument("--list-faults", action="store_true",
                        help="print the faults (kind, focus node, shape, component, path), not the data")
    args = parser.parse_args(argv)
    persons = args.persons if args.persons is not None else persons_for_size(args.size or "10k")
    try:
        registry = generate(persons, seed=args.seed, faults=args.faults)
    except ValueError as error:
        parser.error(str(error))
    if args.list_faults:
        for fault in registry.faults:
            print(fault.as_line())
        return 0
    if args.output:
        registry.write(args.output)
        print(f"{args.output}: {persons} persons, {registry.triple_count} triples, {len(registry.faults)} faults",
              file=sys.stderr)
    else:
        sys.stdout.write(registry.turtle())
    return 0


if __name__ == "__main__":
    sys.exit(main())
