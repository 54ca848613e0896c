"""What is wrong with a SPARQL text the engine refused, said the way a person can act on.

pyoxigraph's parser reports where it gave up and the tokens it would have taken there: a
triple pattern without its object is "error at 1:25: expected one of LATERAL, SERVICE". The
mistakes people make in their first hour are few and recognisable from the tokens
(:func:`yokuryu.graph.sparql_text.tokens`): an undeclared prefix, a bracket never closed, a
pattern without its object or without the ``.`` after it, ``SELECT`` with no variables, a
misspelt keyword, an IRI without ``<>``, ``=`` outside a ``FILTER``, Turtle's ``@prefix``.

:func:`explain_syntax_error` looks for those, and keeps the one found first (the engine stops
at the first mistake; one found after the engine's position is not what stopped it); when none
fits, the engine's own message stands, condensed. The CLI, the endpoint's 400 and the query page
all show this one wording.
"""
from __future__ import annotations

import bisect
import difflib
import functools
import logging
import re
from collections.abc import Iterable
from typing import NamedTuple

from yokuryu.graph.sparql_text import (SparqlTextError, Token, condensed_parser_message, line_and_column,
                                       misplaced_start, tokens)

log = logging.getLogger(__name__)

# Namespaces a query may use without having declared them in this project: suggested as the
# PREFIX line to add. The predeclared ones (yokuryu.ontology.PREFIXES) and those the ontology
# and shapes files declare.
EXTRA_KNOWN_PREFIXES = {
    "time": "http://www.w3.org/2006/time#",
    "vann": "http://purl.org/vocab/vann/",
    "yks": "https://w3id.org/yokuryu/shapes#",
}

# SPARQL 1.1's keywords and built-in functions, with SPARQL-star's and pyoxigraph's (LATERAL, ADJUST).
KEYWORDS = frozenset("""
BASE PREFIX SELECT DISTINCT REDUCED AS CONSTRUCT WHERE DESCRIBE ASK FROM NAMED GROUP BY HAVING ORDER
ASC DESC LIMIT OFFSET VALUES LOAD SILENT INTO CLEAR DROP CREATE ADD TO MOVE COPY INSERT DATA DELETE
WITH USING DEFAULT GRAPH ALL OPTIONAL SERVICE BIND UNDEF MINUS UNION FILTER NOT IN EXISTS A TRUE
FALSE LATERAL STR LANG LANGMATCHES DATATYPE BOUND IRI URI BNODE RAND ABS CEIL FLOOR ROUND CONCAT
STRLEN UCASE LCASE ENCODE_FOR_URI CONTAINS STRSTARTS STRENDS STRBEFORE STRAFTER YEAR MONTH DAY HOURS
MINUTES SECONDS TIMEZONE TZ NOW UUID STRUUID MD5 SHA1 SHA256 SHA384 SHA512 COALESCE IF STRLANG STRDT
SAMETERM ISIRI ISURI ISBLANK ISLITERAL ISNUMERIC REGEX SUBSTR REPLACE COUNT SUM MIN MAX AVG SAMPLE
GROUP_CONCAT SEPARATOR TRIPLE SUBJECT PREDICATE OBJECT ISTRIPLE ADJUST
""".split())
# Words people type that are not SPARQL; the closest keyword would mislead.
_NOT_SPARQL = {"AND": "`&&` (inside a FILTER)", "OR": "`||` (inside a FILTER)", "LIKE": "`REGEX(?x, \"…\")` or `CONTAINS(?x, \"…\")`",
               "TOP": "`LIMIT n` after the WHERE group", "JOIN": "patterns sharing a variable (no JOIN keyword)"}
# What a misspelt word may be taken for: not the short words any typo is close to.
_SUGGESTED = sorted(KEYWORDS - {"A", "TO", "IN", "AS", "BY", "IF", "TZ"})
_COMPARISONS = {"=", "!=", "<=", ">="}
_URI_SCHEMES = {"http", "https", "ftp", "file", "urn", "mailto", "tag"}
_TERM_KINDS = {"var", "iri", "pname", "string", "number"}
_OPENERS = {"{": "}", "(": ")", "[": "]"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}


# The checks read the tokens up to where the engine stopped and this many after it (a check looks
# at most a few tokens ahead); with no position in the engine's message, the first _MOST_TOKENS.
_LOOK_AHEAD = 32
_MOST_TOKENS = 5000


class Finding(NamedTuple):
    found_at: int  # where reading the text shows the mistake (compared with where the engine stopped)
    message: str


def explain_syntax_error(text: str, engine_message: str, kind: str = "query",
                         predeclared: Iterable[str] = ()) -> str:
    """The message for ``text``, which the engine refused with ``engine_message``.

    ``kind`` is "query" or "update"; ``predeclared`` the prefixes the engine was given.
    """
    try:
        found = tokens(text)
    except SparqlTextError:
        return misplaced_start(text, kind) or condensed_parser_message(engine_message)
    stopped = _engine_position(text, engine_message)
    # Only the tokens up to where the engine stopped (and a few after, which some checks look at)
    # can hold the mistake that stopped it: a long text's other words are not read (their checks
    # cost a server seconds of CPU per refused request otherwise).
    if stopped is None:
        near = found[:_MOST_TOKENS]
    else:
        upto = bisect.bisect_right([token.start for token in found], stopped + 1)
        near = found[:upto + _LOOK_AHEAD]
    try:
        findings = [f for f in _findings(text, found, near, kind, set(predeclared))
                    if stopped is None or f.found_at <= stopped + 1]
        if not findings and "variable that is unbound" in engine_message:
            findings = list(_ungrouped(text, found))
    except Exception:  # noqa: BLE001 - a fault here must not turn the client's 400 into a 500
        log.exception("explaining a SPARQL syntax error failed; the engine's message is shown")
        findings = []
    if not findings:
        return condensed_parser_message(engine_message)
    return min(findings, key=lambda f: f.found_at).message


def known_prefixes() -> dict[str, str]:
    from yokuryu.ontology import PREFIXES
    return {**EXTRA_KNOWN_PREFIXES, **PREFIXES}


def _engine_position(text: str, message: str) -> int | None:
    """The offset in ``text`` of pyoxigraph's "error at LINE:COLUMN" (columns count characters)."""
    where = re.match(r"\s*error at (\d+):(\d+)", message)
    if where is None:
        return None
    return _offset(text, int(where.group(1)), int(where.group(2)))


def _offset(text: str, line: int, column: int) -> int | None:
    offset = 0
    for _ in range(line - 1):
        newline = text.find("\n", offset)
        if newline < 0:
            return None
        offset = newline + 1
    return offset + column - 1


def _at(text: str, token: Token) -> str:
    starts = _line_starts(text)
    line = bisect.bisect_right(starts, token.start)
    return f"line {line}, column {token.start - starts[line - 1] + 1}"


@functools.lru_cache(maxsize=2)
def _line_starts(text: str) -> list[int]:
    """Where each line of ``text`` starts (a message names lines and columns: one pass, not one per message)."""
    return [0] + [match.end() for match in re.finditer("\n", text)]


def _findings(text: str, found: list[Token], near: list[Token], kind: str,
              predeclared: set[str]) -> Iterable[Finding]:
    """``found``: every token (a bracket's partner may come late); ``near``: those the checks read."""
    yield from _turtle_habits(text, near)  # before misplaced_start: `@prefix` is not a misspelt query form
    misplaced = misplaced_start(text, kind)  # "SELEC …": the engine says "expected CONSTRUCT"
    if misplaced is not None:
        line, column = map(int, re.match(r"line (\d+), column (\d+)", misplaced).groups())
        yield Finding(_offset(text, line, column), misplaced)
    yield from _unbalanced(text, found)
    yield from _bare_iris_and_prefixes(text, near, kind, predeclared)
    yield from _keywords(text, near, kind)
    yield from _select_clause(text, near)
    yield from _comparisons(text, near)
    yield from _triple_patterns(text, near)


def _turtle_habits(text: str, found: list[Token]) -> Iterable[Finding]:
    """``@prefix yk: <…> .`` (Turtle) and ``PREFIX yk: <…> .`` (a full stop SPARQL does not take)."""
    for i, token in enumerate(found):
        if token.kind == "langtag" and token.text.lower() in ("@prefix", "@base"):
            word = token.text[1:].upper()
            yield Finding(token.start, f"{_at(text, token)}: `{token.text}` is Turtle; in SPARQL write "
                                       f"`{word} …` without the `@` and without the final `.`")
        elif token.keyword == "PREFIX":
            rest = found[i + 1:i + 4]
            if len(rest) >= 2 and rest[0].kind == "word" and rest[1].kind == "iri":
                yield Finding(rest[0].start, f"{_at(text, rest[0])}: a prefix is declared with its colon: "
                                             f"`PREFIX {rest[0].text}: {rest[1].text}`")
            elif len(rest) == 3 and rest[1].kind == "iri" and rest[2].text.strip() == ".":
                yield Finding(rest[2].start, f"{_at(text, rest[2])}: a PREFIX line ends without a full stop "
                                             f"in SPARQL (the `.` is Turtle's): `PREFIX {rest[0].text} {rest[1].text}`")


def _unbalanced(text: str, found: list[Token]) -> Iterable[Finding]:
    """The first bracket closed by the wrong kind, or by nothing, or never closed."""
    stack: list[Token] = []
    for token in found:
        symbol = token.text if token.kind in ("open", "close") or token.text in _CLOSERS or token.text in _OPENERS else None
        if symbol in _OPENERS:
            stack.append(token)
        elif symbol in _CLOSERS:
            if not stack:
                yield Finding(token.start, f"{_at(text, token)}: this `{symbol}` closes nothing; remove it, "
                                           f"or add the `{_CLOSERS[symbol]}` it should close")
                return
            opener = stack.pop()
            if opener.text != _CLOSERS[symbol]:
                yield Finding(token.start, f"{_at(text, opener)}: this `{opener.text}` is never closed (a `{symbol}` "
                                           f"comes first, at {_at(text, token)}); add `{_OPENERS[opener.text]}`")
                return
    if stack:
        opener = stack[-1]
        yield Finding(len(text), f"{_at(text, opener)}: this `{opener.text}` is never closed; add "
                                 f"`{_OPENERS[opener.text]}` where its group ends")


def _bare_iris_and_prefixes(text: str, found: list[Token], kind: str, predeclared: set[str]) -> Iterable[Finding]:
    declared = set(predeclared)
    known = known_prefixes()
    for i, token in enumerate(found):
        if token.keyword == "PREFIX" and i + 1 < len(found) and found[i + 1].kind == "pname":
            declared.add(found[i + 1].text.split(":", 1)[0])
        if token.kind != "pname" or token.text.startswith("_:"):
            continue
        if i and found[i - 1].keyword == "PREFIX":
            continue  # the name being declared
        prefix = token.text.split(":", 1)[0]
        if token.start and text[token.start - 1] == "<":  # `<http://a b>`: the lexer saw no IRI
            opener = token.start - 1
            line, column = line_and_column(text, opener)
            shown = re.match(r"<[^\s>]*>?", text[opener:]).group()
            yield Finding(opener, f"line {line}, column {column}: the IRI `{shown}` is not closed by `>`, or holds "
                                  "a character an IRI cannot (a space, `{`, `}`, `\"`, `<`, `|`, `^`, `\\`)")
            continue
        if prefix.lower() in _URI_SCHEMES and (text.startswith("//", token.start + len(prefix) + 1)
                                               or prefix not in declared):
            iri = re.match(r"[^\s<>\"{}|^`\\]+", text[token.start:]).group().rstrip(".;,)")
            yield Finding(token.start, f"{_at(text, token)}: `{iri}` is an IRI written without angle brackets; "
                                       f"write `<{iri}>`")
            continue
        if prefix in declared:
            continue
        line, column = line_and_column(text, token.start)
        where = f"prefix `{prefix}:` is not declared (line {line}, column {column})"
        before = "before the query" if kind == "query" else "before the update"
        same = [p for p in declared if p.lower() == prefix.lower()]
        if same:
            fix = f"prefixes are case-sensitive: did you mean `{same[0]}:`?"
        elif prefix in known:
            fix = f"add `PREFIX {prefix}: <{known[prefix]}>` {before}"
        else:
            shown = ", ".join(f"{p}:" for p in sorted(predeclared)) or "none"
            fix = (f"add `PREFIX {prefix}: <namespace IRI>` {before}, or use a predeclared prefix ({shown})")
        yield Finding(token.start, f"{where}; {fix}")


def _keywords(text: str, found: list[Token], kind: str) -> Iterable[Finding]:
    """A word that is no keyword (``LIMT``), ``ORDER``/``GROUP`` without ``BY``, ``WHERE`` without ``{``,
    ``FILTER`` without parentheses."""
    for i, token in enumerate(found):
        word = token.keyword
        if word is None:
            continue
        after = found[i + 1] if i + 1 < len(found) else None
        if word not in KEYWORDS:
            close = difflib.get_close_matches(word, _SUGGESTED, n=1, cutoff=0.8)
            called = after is not None and after.text == "("
            if word in _NOT_SPARQL:
                hint = f"SPARQL has no `{token.text}`; use {_NOT_SPARQL[word]}"
            elif close and (token.text.isupper() or called):
                hint = f"`{token.text}` is not a SPARQL keyword; did you mean `{close[0]}`?"
            elif called:
                hint = (f"`{token.text}` is not a SPARQL function; a function of another vocabulary is "
                        "called by its IRI or prefixed name")
            else:
                hint = (f"`{token.text}` is not a SPARQL keyword: a variable starts with `?` (`?{token.text}`), "
                        f"a prefixed name has a colon (`yk:{token.text}`), an IRI is written in `<…>`"
                        + (f"; or did you mean `{close[0]}`?" if close else ""))
            yield Finding(token.start, f"{_at(text, token)}: {hint}")
        elif word in ("ORDER", "GROUP") and (after is None or after.keyword != "BY"):
            yield Finding(token.start, f"{_at(text, token)}: `{token.text}` is followed by `BY`: "
                                       f"`{word} BY ?variable`")
        elif word == "WHERE" and (after is None or after.kind != "open"):
            yield Finding(token.start, f"{_at(text, token)}: `WHERE` is followed by a group in braces: "
                                       "`WHERE { ?s ?p ?o }`")
        elif word == "FILTER" and after is not None and after.kind in ("var", "string", "number"):
            yield Finding(after.start, f"{_at(text, after)}: a FILTER's condition goes in parentheses: "
                                       f"`FILTER({_phrase(found, i + 1)})`")


def _phrase(found: list[Token], i: int, most: int = 3) -> str:
    """The text of a few tokens from ``i``, up to a separator: the example in a message."""
    words = []
    for token in found[i:i + most]:
        if token.kind in ("open", "close", "semicolon") or token.text.strip() in (".", ","):
            break
        words.append(token.text)
    return " ".join(words)


def _select_clause(text: str, found: list[Token]) -> Iterable[Finding]:
    """``SELECT WHERE`` (no variables) and ``SELECT ?a, ?b`` (commas, as in SQL)."""
    for i, token in enumerate(found):
        if token.keyword != "SELECT":
            continue
        j = i + 1
        if j < len(found) and found[j].keyword in ("DISTINCT", "REDUCED"):
            j += 1
        if j < len(found) and (found[j].keyword in ("WHERE", "FROM") or found[j].kind == "open"):
            yield Finding(token.start, f"{_at(text, token)}: SELECT names no variables; list those to return "
                                       "(`SELECT ?s ?o WHERE …`), or write `SELECT *` for all of them")
            continue
        depth = 0
        for t in found[j:]:
            if t.keyword in ("WHERE", "FROM") or t.kind == "open":
                break
            depth += (t.text == "(") - (t.text == ")")
            if depth == 0 and t.text.strip() == ",":
                yield Finding(t.start, f"{_at(text, t)}: the variables after SELECT are separated by spaces, "
                                       "not commas: `SELECT ?a ?b`")
                break


def _ungrouped(text: str, found: list[Token]) -> Iterable[Finding]:
    """pyoxigraph calls a variable selected beside an aggregate but not grouped "unbound"."""
    select = next((i for i, t in enumerate(found) if t.keyword == "SELECT" and t.depth == 0), None)
    if select is None:
        return
    selected, parens = [], 0
    for token in found[select + 1:]:
        if token.keyword == "WHERE" or token.kind == "open" or token.keyword == "FROM":
            break
        parens += (token.text == "(") - (token.text == ")")
        if parens == 0 and token.kind == "var":
            selected.append(token)
    grouped, in_group = set(), False
    for i, token in enumerate(found):
        if token.depth == 0 and token.keyword == "BY" and found[i - 1].keyword == "GROUP":
            in_group = True
        elif in_group and token.kind == "var":
            grouped.add(token.text[1:])
        elif in_group and token.keyword in ("HAVING", "ORDER", "LIMIT", "OFFSET", "VALUES"):
            in_group = False
    loose = [t for t in selected if t.text[1:] not in grouped]
    if loose:
        name = loose[0].text
        yield Finding(loose[0].start, f"{_at(text, loose[0])}: `{name}` is selected beside an aggregate "
                                      f"(COUNT, SUM …) but not grouped; add `GROUP BY {name}`, or select "
                                      f"`(SAMPLE({name}) AS ?any)` instead")
    else:
        yield Finding(found[select].start, f"{_at(text, found[select])}: an expression in SELECT uses a "
                                           "variable that is neither in GROUP BY nor inside an aggregate "
                                           "(COUNT, SUM, SAMPLE …); group by it or aggregate it")


def _comparisons(text: str, found: list[Token]) -> Iterable[Finding]:
    """``?o = 5`` among the triple patterns: a comparison is only ever a FILTER's (or BIND's)."""
    parens = 0
    for i, token in enumerate(found):
        parens += (token.text == "(") - (token.text == ")")
        if token.kind == "punct" and token.text in _COMPARISONS and parens == 0 and token.depth > 0:
            left = found[i - 1].text if i else "?x"
            right = _phrase(found, i + 1, 1) or "…"
            yield Finding(token.start, f"{_at(text, token)}: `{token.text}` compares, and a comparison goes in "
                                       f"a FILTER: `FILTER({left} {token.text} {right})`")


def _triple_patterns(text: str, found: list[Token]) -> Iterable[Finding]:
    """A triple pattern without its object (``{ ?s ?p }``), or followed by another without the ``.``
    between them (``?s ?p ?o ?s2 …``).

    Only runs of plain terms are judged, from where a pattern starts (``{`` or ``.``: subject,
    predicate, object), or goes on (``;``: predicate, object; ``,``: object); anything else (a
    path, a ``[ ]`` or ``( )``, a keyword) leaves the run to the engine.
    """
    wanted, terms, skip_to = None, [], None
    for i, token in enumerate(found):
        if skip_to is not None:  # VALUES data: rows of terms, not patterns
            if token.kind == "close" and token.depth == skip_to:
                skip_to = None
            continue
        text_ = token.text.strip()
        ends = token.kind in ("open", "close", "semicolon") or text_ in (".", ",") or (
            token.keyword is not None and token.keyword not in ("A", "TRUE", "FALSE"))
        if ends:
            if wanted is not None and 0 < len(terms) < wanted and token.kind != "open":
                if wanted == 3 and len(terms) == 1:
                    message = (f"`{terms[0].text}` stands alone; a triple pattern is subject, predicate and "
                               f"object (`{terms[0].text} ?predicate ?object`)")
                else:
                    shown = " ".join(t.text for t in terms)
                    example = "?o" if all(t.text != "?o" for t in terms) else "?object"
                    message = (f"`{shown}` has no object; a triple pattern is subject, predicate and object "
                               f"(`{shown} {example}`)")
                yield Finding(terms[0].start, f"{_at(text, terms[0])}: {message}")
            # after a group closes inside another, a new pattern may start (`{ … } ?s ?p ?o`)
            wanted = 3 if token.kind == "close" and token.depth > 0 else {"{": 3, ".": 3, ";": 2, ",": 1}.get(text_)
            if token.kind == "open" and _values_block(found, i):
                skip_to, wanted = token.depth, None
            terms = []
            continue
        if token.kind == "langtag" and terms and terms[-1].kind == "string":
            continue  # "…"@en is one term
        if text_ == "^^" and terms and terms[-1].kind == "string":
            continue
        if token.kind in ("iri", "pname") and i and found[i - 1].text == "^^":
            continue  # its datatype
        if token.kind in _TERM_KINDS or token.keyword in ("A", "TRUE", "FALSE"):
            terms.append(token)
            if wanted is not None and len(terms) > wanted:
                complete = " ".join(t.text for t in terms[:wanted])
                yield Finding(token.start, f"{_at(text, token)}: `{token.text}` follows the complete triple pattern "
                                           f"`{complete}` with no `.` between; end each pattern with ` .`")
                wanted = None
            continue
        wanted = None  # a path, a bracket, an operator: the engine judges this run


def _values_block(found: list[Token], i: int) -> bool:
    """Whether the ``{`` at ``i`` holds VALUES data (``VALUES ?x {`` or ``VALUES (?x ?y) {``)."""
    j = i - 1
    while j >= 0 and (found[j].kind == "var" or found[j].text in ("(", ")")):
        j -= 1
    return j >= 0 and found[j].keyword == "VALUES"
