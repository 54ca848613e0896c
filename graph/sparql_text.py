"""Reading SPARQL text without evaluating it: a linear lexer, and update datasets.

The endpoint needs things the engine does not offer: bounding the text before pyoxigraph's
recursive parser sees it (``yokuryu.graph.query_guard``), spotting ``SERVICE``/``LOAD``/``FROM``,
and applying the protocol's ``using-graph-uri`` / ``using-named-graph-uri`` to an update
(pyoxigraph's ``update`` has no dataset argument). All of it works on the tokens of
:func:`tokens`: comments, strings and IRIs are skipped as wholes, so a ``WHERE`` inside a string
or a ``# LOAD`` comment never counts, and prefixed names are read with their escapes
(``ex:a\\#x`` is one name, as the SPARQL grammar says, not a name and a comment).

The lexer makes one pass: every token is found by a pattern anchored where the previous one
ended, and a string that never closes is an error at once, so no input costs more than linear
time (the regular expression it replaces backtracked quadratically on unclosed strings).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple


class SparqlTextError(ValueError):
    """Text no SPARQL parser could accept (an unterminated string); ``position`` is its offset."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


class Token(NamedTuple):
    kind: str  # word, pname, var, iri, string, number, langtag, open, close, semicolon, punct
    text: str
    start: int
    depth: int  # brace depth at the token (an opening brace has the depth outside it)

    @property
    def keyword(self) -> str | None:
        return self.text.upper() if self.kind == "word" else None


# One pattern, tried where the previous token ended. Every alternative fails within one scan of
# the text it looks at, and what a failed alternative looked at is consumed by a later one (or
# is an error: an unclosed string), so lexing is linear in the length of the text.
_LOCAL = r"(?:[\w\-:%]|\\[_~.\-!$&'()*+,;=/?#@%]|\.+(?=[\w\-:%\\]))*"  # no final full stop
_NAME = r"[^\W\d](?:[\w\-]|\.+(?=[\w\-]))*"
TOKEN_PATTERN = re.compile(r"""
    (?P<space>\s+|\#[^\n\r]*)
  | (?P<open>\{)
  | (?P<close>\})
  | (?P<semicolon>;)
  | (?P<sep>(?:[.,](?!\d)\s*)+)
  | (?P<bracket>[()\[\],])
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''|"{3}(?:[^"\\]|\\.|"(?!""))*"{3}
              |'(?:[^'\\\n\r]|\\.)*'|"(?:[^"\\\n\r]|\\.)*")
  | (?P<unclosed>['"])
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<var>[?$]\w+)
  | (?P<pname>(?:NAME)?:LOCAL|_:LOCAL)
  | (?P<word>NAME)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<langtag>@[A-Za-z]+(?:-[A-Za-z0-9]+)*)
  | (?P<punct>\|\||&&|!=|<=|>=|\^\^|<<|>>|.)
""".replace("LOCAL", _LOCAL).replace("NAME", _NAME), re.VERBOSE | re.DOTALL)


def tokens(text: str) -> list[Token]:
    """The significant tokens of SPARQL ``text`` (no spaces, no comments), with brace depths.

    Raises :class:`SparqlTextError` for a string that is never closed.
    """
    return list(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[Token]:
    """:func:`tokens`, one at a time (a caller that refuses early stops reading early)."""
    depth, pos, end = 0, 0, len(text)
    match = TOKEN_PATTERN.match
    while pos < end:
        found = match(text, pos)
        kind, next_pos = found.lastgroup, found.end()
        if kind == "space":
            pos = next_pos
            continue
        if kind == "unclosed":
            raise SparqlTextError("a string is never closed", pos)
        if kind == "bracket" or kind == "sep":  # a run of '.' and ',' is one token
            kind = "punct"
        elif kind == "close":
            depth = depth - 1 if depth else 0
        yield Token(kind, found.group(), pos, depth)
        if kind == "open":
            depth += 1
        pos = next_pos


def shape_key(text: str) -> str:
    """``text`` with its ASCII digits written as ``0``: a key for what is decided from the kinds of
    its tokens alone.

    Clients fill templates (``person-17``, ``LIMIT 10``); the guard's facts and the bounded
    class are the same for every filling that differs only in its numbers, so they are worked
    out once per template. A digit run becomes a digit run wherever it stands (a number, an
    IRI, a prefixed name, a string, a comment), so every token keeps its kind, extent relative
    to its neighbours and keyword (none has a digit in a place that decides anything: ``SHA1``
    and ``SHA0`` are both unknown to the guard and outside the class). Variables and blank node
    labels keep their digits: which patterns share ``?x1`` decides whether a query is anchored
    (``?x1 … ?x1`` is a chain, ``?x1 … ?x2`` a cross product). Whatever merely looks like one
    (a ``?`` in an IRI or string) keeps its digits too, which can only split a template in two.
    Escapes and percent-encodings count their hex digits (``\\u0041``, ``%41``), so texts
    holding ``\\`` or ``%`` are their own key. Positions do shift: a refusal's message is worked
    out on the text.

    Most texts have no digit in a name: each of their digits becomes ``0`` (runs keep their
    length, so ``person-7`` and ``person-1234`` are two keys of one template; byte operations,
    a few microseconds). Texts with a numbered variable or a blank node label have each run
    outside names written as one ``0``. No key of the one kind can be a key of the other: only
    the second holds a name with a digit, or ``_:``.
    """
    if len(text) <= _RECENT_TEXT:
        return _recent_key(text)
    return _key(text)


def _key(text: str) -> str:
    if "\\" in text or "%" in text:
        return text
    if "_:" in text or _NUMBERED_QUESTION.search(text) or ("$" in text and _NUMBERED_DOLLAR.search(text)):
        return _DIGITS_OUTSIDE_NAMES.sub(_digits_as_zero, text)
    return text.encode("utf-8", "surrogatepass").translate(_ZEROS).decode("utf-8", "surrogatepass")


# A variable (?x1, $x1) or blank node label (_:b-1.2) whole, or else a run of digits. The name
# runs to the next space or bracket: past its end at worst (``?x1.``), which only splits keys.
_NAME = r"[^\s{}()\[\],;<>\"'#|/^*+=!&]"
_DIGITS_OUTSIDE_NAMES = re.compile(rf"(?:[?$]|_:){_NAME}+|[0-9]+")
# A ``?`` (``$``) that starts a run of name characters holding a digit: a variable that keeps its
# digits above (or a run inside a longer name, which holds the digit too). One pattern per sigil:
# a pattern that starts with one character is searched for at memchr speed, one that starts with
# a class tests every character (three times the cost at a point lookup's length).
_NUMBERED_QUESTION = re.compile(rf"\?{_NAME[:-1]}0-9]*[0-9]")
_NUMBERED_DOLLAR = re.compile(rf"\${_NAME[:-1]}0-9]*[0-9]")
# Digits as ``0`` by bytes: in UTF-8 no other character has a byte in 0x30-0x39.
_ZEROS = bytes.maketrans(b"123456789", b"000000000")

# A request asks for the key of its text twice (the guard's verdict, the bounded class), from
# different layers: the last few short texts' keys are kept.
_RECENT_TEXT = 4096
_recent_key = lru_cache(maxsize=64)(_key)


def _digits_as_zero(match: re.Match) -> str:
    word = match.group()
    return word if not word[0].isdigit() else "0"


def line_and_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of ``position`` in ``text``."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


class DatasetConflict(ValueError):
    """The protocol names an update dataset and the update also names one (USING/WITH)."""


@dataclass(frozen=True)
class Operation:
    """One operation of an update request, as far as its dataset is concerned."""

    tokens: list[Token]

    @property
    def _top(self) -> list[Token]:
        return [t for t in self.tokens if t.depth == 0]

    @property
    def verb(self) -> str | None:
        """The first keyword after the prologue: INSERT, DELETE, WITH, CLEAR, LOAD…"""
        top = self._top
        i = 0
        while i < len(top):
            word = top[i].keyword
            if word == "PREFIX":
                i += 3
            elif word == "BASE":
                i += 2
            else:
                return word
        return None

    @property
    def names_dataset(self) -> bool:
        return any(t.keyword in ("USING", "WITH") for t in self._top)

    @property
    def is_modify(self) -> bool:
        """DELETE/INSERT … WHERE (the only operations a dataset applies to)."""
        verb = self.verb
        if verb == "WITH":
            return True
        if verb not in ("INSERT", "DELETE"):
            return False
        after = self._after(verb)
        return after is not None and after.keyword != "DATA"

    @property
    def is_delete_where(self) -> bool:
        after = self._after("DELETE") if self.verb == "DELETE" else None
        return after is not None and after.keyword == "WHERE"

    def _after(self, keyword: str) -> Token | None:
        top = self._top
        for i, token in enumerate(top):
            if token.keyword == keyword:
                return top[i + 1] if i + 1 < len(top) else None
        return None

    def where(self) -> Token | None:
        return next((t for t in self._top if t.keyword == "WHERE"), None)


def operations(text: str) -> list[Operation]:
    """The update's operations (separated by top-level semicolons)."""
    ops, current = [], []
    for token in tokens(text):
        if token.kind == "semicolon" and token.depth == 0:
            ops.append(Operation(current))
            current = []
        else:
            current.append(token)
    if current:
        ops.append(Operation(current))
    return ops


def with_update_dataset(text: str, default_graphs: list[str], named_graphs: list[str], *,
                        protocol: bool = True) -> str:
    """``text`` with ``USING``/``USING NAMED`` clauses added to every DELETE/INSERT … WHERE.

    ``protocol`` is True for the ``using-graph-uri``/``using-named-graph-uri`` parameters:
    then an operation that names its own dataset is a conflict (SPARQL 1.1 Protocol §2.2.3).
    Otherwise (the union default graph of the knowledge graph) such operations are left alone.
    ``DELETE WHERE { P }`` has no place for USING, so it becomes the equivalent
    ``DELETE { P } USING … WHERE { P }``.
    """
    clause = "".join(f" USING <{g}>" for g in default_graphs)
    clause += "".join(f" USING NAMED <{g}>" for g in named_graphs)
    if not clause:
        return text
    insertions: list[tuple[int, int, str]] = []  # (start, end, replacement) in the original text
    for op in operations(text):
        if not op.is_modify:
            continue
        if op.names_dataset:
            if protocol:
                raise DatasetConflict(
                    "the update names its dataset with USING or WITH and the request also gives "
                    "using-graph-uri/using-named-graph-uri; use one or the other")
            continue
        where = op.where()
        if where is None:
            continue  # not valid SPARQL; the engine will say where
        if op.is_delete_where:
            pattern = _group_text(text, op.tokens, where)
            if pattern is None:
                continue
            delete = next(t for t in op.tokens if t.depth == 0 and t.keyword == "DELETE")
            insertions.append((delete.start, where.start + len(where.text),
                               f"DELETE {pattern}{clause} WHERE"))
        else:
            insertions.append((where.start, where.start, clause.lstrip() + " "))
    for start, end, replacement in sorted(insertions, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


@dataclass(frozen=True)
class WhereCount:
    """A query counting the solutions of one DELETE/INSERT … WHERE operation's WHERE."""

    query: str
    names_dataset: bool  # USING or WITH: the query reads that dataset, not the union default graph
    inserts: bool = False  # the operation has an INSERT template, written once per solution


COUNT_VARIABLE = "yokuryu_where_solutions"  # a name no client's WHERE is likely to bind


def where_counts(text: str) -> list[WhereCount]:
    """For every DELETE/INSERT … WHERE of update ``text``, ``SELECT (COUNT(*) AS ?…)`` over its WHERE,
    read as the update reads it: the PREFIX/BASE declared so far, ``USING``/``USING NAMED`` as
    ``FROM``/``FROM NAMED``, ``WITH <g>`` (without USING) as ``GRAPH <g> { … }`` (the default graph is
    <g>, the named graphs stay all), and ``DELETE WHERE { P }``'s P as its WHERE. Running these bounds
    what the update's evaluation costs without changing anything (earlier operations' changes aside).
    Operations that are not valid SPARQL are skipped (the engine's parse reports them).
    """
    counts: list[WhereCount] = []
    prologue: list[str] = []
    for op in operations(text):
        top = op._top
        i = 0
        while i < len(top) and top[i].keyword in ("PREFIX", "BASE"):
            width = 3 if top[i].keyword == "PREFIX" else 2
            prologue.append(" ".join(t.text for t in top[i:i + width]))
            i += width
        if i >= len(top) or not op.is_modify:
            continue
        where = op.where()
        group = _group_text(text, op.tokens, where) if where is not None else None
        if group is None:
            continue
        with_graph = top[i + 1].text if top[i].keyword == "WITH" and i + 1 < len(top) else None
        dataset = []
        for j, token in enumerate(top):
            if token is where:
                break
            if token.keyword == "USING" and j + 1 < len(top):
                named = top[j + 1].keyword == "NAMED"
                graph = top[j + 2] if named and j + 2 < len(top) else top[j + 1]
                dataset.append(f"FROM NAMED {graph.text}" if named else f"FROM {graph.text}")
        if with_graph is not None and not dataset:
            group = f"{{ GRAPH {with_graph} {group} }}"
        query = "\n".join([*prologue, f"SELECT (COUNT(*) AS ?{COUNT_VARIABLE})", *dataset, "WHERE " + group])
        counts.append(WhereCount(query, names_dataset=bool(dataset) or with_graph is not None,
                                 inserts=any(t.keyword == "INSERT" for t in top)))
    return counts


def _group_text(text: str, op_tokens: list[Token], where: Token) -> str | None:
    """The source text of the ``{ … }`` group that follows ``where``."""
    index = op_tokens.index(where)
    rest = op_tokens[index + 1:]
    if not rest or rest[0].kind != "open":
        return None
    for token in rest[1:]:
        if token.kind == "close" and token.depth == 0:
            return text[rest[0].start:token.start + 1]
    return None


QUERY_FORMS = ("SELECT", "CONSTRUCT", "ASK", "DESCRIBE")
UPDATE_OPERATIONS = ("INSERT", "DELETE", "WITH", "LOAD", "CLEAR", "CREATE", "DROP", "ADD", "MOVE", "COPY")


def misplaced_start(text: str, kind: str = "query") -> str | None:
    """Why ``text`` cannot be a ``kind`` ("query" or "update") from its first keyword, or None.

    Meant for text the engine has already refused: pyoxigraph reports a misspelt ``SELEC`` as
    "expected CONSTRUCT" (the last form it tried), which sends a reader to the wrong word. When
    the prologue (PREFIX, BASE) is well formed and the next word is not a query form (or, in
    an update, not an operation), this says which word, where, and what may start the text.
    None when the start is fine or the prologue itself is broken: the engine's message stands.
    """
    try:
        found = tokens(text)
    except SparqlTextError:
        return None
    if kind == "query":
        operations = [(0, len(found))]
    else:  # every operation of an update has its own prologue
        ends = [i for i, t in enumerate(found) if t.kind == "semicolon" and t.depth == 0] + [len(found)]
        operations = list(zip([0] + [end + 1 for end in ends[:-1]], ends))
    for begin, end in operations:
        index = _after_prologue(found[:end], begin)
        if index is None or index >= end:
            continue  # a broken prologue or nothing after it: the engine's message is the right one
        message = _wrong_start(found[index], kind)
        if message is not None:
            line, column = line_and_column(text, found[index].start)
            return f"line {line}, column {column}: {message}"
    return None


def _after_prologue(found: list[Token], i: int) -> int | None:
    """The index of the first token after the PREFIX and BASE declarations from ``i``; None if one is broken."""
    while i < len(found):
        word = found[i].keyword
        if word == "PREFIX":
            if i + 2 >= len(found) or found[i + 1].kind != "pname" or not found[i + 1].text.endswith(":") \
                    or found[i + 2].kind != "iri":
                return None
            i += 3
        elif word == "BASE":
            if i + 1 >= len(found) or found[i + 1].kind != "iri":
                return None
            i += 2
        else:
            return i
    return i


def _wrong_start(token: Token, kind: str) -> str | None:
    import difflib

    word = token.keyword
    if kind == "query":
        if word in QUERY_FORMS:
            return None
        if word in UPDATE_OPERATIONS:
            return f"'{token.text}' starts an update, not a query; send it as one (`yokuryu update`, or update= over HTTP)"
        what, expected = "a SPARQL query form", "a query starts with SELECT, CONSTRUCT, ASK or DESCRIBE"
        allowed = QUERY_FORMS
    else:
        if word in UPDATE_OPERATIONS:
            return None
        if word in QUERY_FORMS:
            return f"'{token.text}' starts a query, not an update; send it as one (`yokuryu query`, or query= over HTTP)"
        what = "a SPARQL update operation"
        expected = ("an update is one or more operations separated by ';', each starting with INSERT, "
                    "DELETE, WITH, LOAD, CLEAR, CREATE, DROP, ADD, MOVE or COPY")
        allowed = UPDATE_OPERATIONS
    expected += " (after PREFIX/BASE)"
    if word is None:
        return f"{expected}, not '{token.text}'"
    close = difflib.get_close_matches(word, (*allowed, "PREFIX", "BASE"), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"'{token.text}' is not {what}{hint}; {expected}"


# The items of pyoxigraph's "expected one of …" list: a quoted token ("[" among them), a
# character class (['0'..='9'], ['A' ..= 'Z' | …], [_]), or a bare word (LATERAL).
_EXPECTED_ITEM = re.compile(r'"(?:[^"\\]|\\.)*"|\[(?:\'(?:[^\'\\]|\\.)*\'|[^\]\'])*\]|[^,\s][^,]*')


def condensed_parser_message(message: str) -> str:
    """pyoxigraph's syntax error on one line, its character classes named instead of listed.

    The parser lists what it would have accepted, including Unicode ranges over several lines
    (``['A' ..= 'Z' | 'a' ..= 'z' | '\\u{00C0}'..='\\u{00D6}' …``) and ``[_]`` (any character);
    a person needs "a letter" or "a digit", and a command's error fits on one line.
    """
    flat = " ".join(message.split())
    found = re.match(r"(.*?)expected one of (.*)$", flat)
    if found is None:
        return flat
    # Tokens and character classes it expected; and its own sentences ("IRI parsing failed").
    expected, sentences = [], []
    for item in _EXPECTED_ITEM.findall(found.group(2)):
        if item == "[_]":
            continue  # "or any character" says nothing
        if item.startswith("[") and item.endswith("]"):
            single = re.fullmatch(r"\['(.)'\]", item)
            item = (f'"{single.group(1)}"' if single else "a digit" if item.startswith("['0'") else
                    "a letter" if item.startswith("['A'") else "another character")
        elif " " in item and not item.startswith('"'):
            sentences.append(item)
            continue
        if item not in expected:
            expected.append(item)
    if not expected and not sentences:
        return flat
    if expected:
        sentences.append("expected " + ("one of " if len(expected) > 1 else "") + ", ".join(expected))
    return found.group(1) + "; ".join(sentences)
