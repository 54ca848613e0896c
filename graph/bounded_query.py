"""Queries whose cost is bounded before they run: those the server may evaluate in its own process.

pyoxigraph 0.5 cannot cancel a running query, so the server evaluates queries in processes it
can kill at ``--timeout`` (:mod:`yokuryu.server.query_processes`). That costs a round trip to
another process per query, more than a point lookup costs to evaluate. A query whose work is
bounded *before it runs* cannot run away, so it may skip the hop. This module decides, from the
query text alone (the tokens of :mod:`yokuryu.graph.sparql_text`), whether a query is of that
kind, and what its worst case is in terms of two numbers of the store:

- ``D``, the most quads any one subject has (over all graphs: an upper bound for the union
  default graph too), and
- ``N``, the number of quads.

**The class.** A SELECT (variables or ``*``, optionally DISTINCT/REDUCED), ASK, CONSTRUCT or
DESCRIBE whose WHERE is one group holding only triple patterns — no FILTER, OPTIONAL, UNION,
MINUS, BIND, VALUES, subquery, GRAPH, SERVICE, expression, aggregate, GROUP/ORDER BY, FROM,
blank node or collection — followed at most by LIMIT and OFFSET; at most
:data:`MAX_PATTERNS` patterns, each of them:

- a triple pattern whose subject is a constant or a variable bound by an earlier pattern
  ("forward-anchored": the patterns can be ordered so; the first has a constant subject).
  Its predicate may be a variable, since its subject is bound;
- or a property path that is a single IRI with ``+`` or ``*``, from a constant subject.

**The bound.** Evaluated in an anchored order with index lookups (bound subject first: the
SPO index), each triple pattern yields at most ``D`` matches per solution of the patterns
before it, since every match is a quad of its (bound) subject; a path from a constant visits
each quad at most once, so it costs at most ``N`` and yields at most ``N + 1`` nodes. A chain
of k patterns therefore costs at most ``Σ_j D^j`` lookups; :func:`cost` adds it up for the
query's shape, in the cheapest anchored order (paths first). A DESCRIBE adds, for every
resource it describes, its concise bounded description (at most ``N`` quads: blank nodes are
followed). The query is in the class when that worst case is no more than one pass over the
store (:func:`budget`: ``max(N, 100,000)``) — the cost of a scan, which every query process
also pays, far below any sensible ``--timeout``. The memory it needs is bounded the same way
(a hash join's table holds at most the solutions counted), and its output by the server's
results-size limit, which stops the evaluation when passed.

What the bound assumes about the engine: that it evaluates a connected pattern from its
constant subject along bound variables rather than starting elsewhere. pyoxigraph's optimiser
orders joins greedily by estimated size, and a pattern with a bound subject is estimated
smaller than one without, so it does. Checked on the 100k registry (2026-12-03): chains of four
variable-predicate patterns ending in a check that fails, stars of five, type checks in the
middle of a chain each took 0.1–0.2 ms, where starting anywhere else would have scanned the
store (a scan: 28 ms). Were the engine to start elsewhere, the first pattern would still be one
index range (its predicate or object constant, at most ``N`` quads), and the class excludes
every shape whose cost no ordering bounds: cross products of unanchored patterns,
object-anchored chains, variable predicates with unbound subjects, paths from variables.

Nothing in the class nests (one level of braces, no brackets) and its text is at most
:data:`REMEMBERED_TEXT` characters, so the engine's recursive parser, which a deeply nested
query can crash, cannot crash the server process on it.

Everything else — and every text this module does not understand — goes to the killable
query processes, so a mistake here can only send a query the slow way, never run one that
should have been stoppable, as long as :func:`cost` is honest.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from yokuryu.graph.sparql_text import SparqlTextError, Token, shape_key, tokens

MAX_PATTERNS = 8  # triple patterns in the one group
MIN_BUDGET = 100_000  # lookups allowed even on a small store (a few milliseconds of work)
REMEMBERED_TEXT = 4096  # characters: longer texts are never in the class (and not remembered)

# The kinds of step a query's worst case is made of, in evaluation order.
PATTERN, PATH, DESCRIBE = "pattern", "path", "describe"


@dataclass(frozen=True)
class StoreSize:
    """What bounds a query's work: the most quads of one subject, and the quads in the store."""

    out_degree: int
    quads: int


def budget(size: StoreSize) -> int:
    """The most work an in-process query may do: one pass over the store (at least ``MIN_BUDGET``)."""
    return max(size.quads, MIN_BUDGET)


def is_bounded(text: str, size: StoreSize) -> bool:
    """True when ``text`` is in the class and its worst case fits :func:`budget` for ``size``."""
    steps = query_steps(text)
    return steps is not None and cost(steps, size) <= budget(size)


def query_steps(text: str) -> tuple[str, ...] | None:
    """The steps of the query's worst case (see :func:`cost`), or None when it is not in the class.

    Remembered per template (:func:`~yokuryu.graph.sparql_text.shape_key`: texts that differ only
    in their numbers read alike), as the guard's verdicts are: clients fill templates.
    """
    if len(text) > REMEMBERED_TEXT:
        return None
    return _remembered_steps(shape_key(text))


def cost(steps: tuple[str, ...], size: StoreSize) -> int:
    """Index lookups and matches in the worst case of evaluating ``steps`` in order."""
    d, n = max(1, size.out_degree), max(1, size.quads)
    solutions, work = 1, 0
    for step in steps:
        if step == PATTERN:
            work += solutions * (1 + d)  # one lookup per solution so far, and its matches
            solutions *= d
        elif step == PATH:
            work += solutions * n
            solutions *= n + 1
        else:  # DESCRIBE: each described resource's concise bounded description
            work += solutions * n
    return work


# A word that only queries outside the class contain (as a keyword) sends the text to the query
# processes without lexing it: most scanning queries say FILTER, OPTIONAL, GROUP or ORDER, and
# texts that differ in more than their numbers miss the cache below. Only a refusal is decided here:
# strings, IRIs and comments are blanked first, crudely, and blanking too much can only let a
# text through to the reader below, which decides exactly.
_QUOTED = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|<[^<>\s]*>|#[^\n]*")
_OUT_OF_CLASS_WORD = re.compile(
    r"\b(?:FILTER|OPTIONAL|UNION|MINUS|BIND|VALUES|GROUP|ORDER|HAVING|SERVICE|GRAPH|FROM|"
    r"COUNT|SUM|AVG|MIN|MAX|SAMPLE|GROUP_CONCAT|EXISTS)\b", re.IGNORECASE)


def read_steps(text: str) -> tuple[str, ...] | None:
    """:func:`query_steps` worked out afresh from ``text`` itself (what is remembered per template)."""
    if _OUT_OF_CLASS_WORD.search(_QUOTED.sub(" ", text)):
        return None
    try:
        reader = _Reader(tokens(text))
        return reader.query()
    except (_NotInClass, SparqlTextError):
        return None


_remembered_steps = lru_cache(maxsize=2048)(read_steps)


class _NotInClass(Exception):
    """The text is outside the class (or not SPARQL at all: the engine says so, the slow way)."""


_TERMS = frozenset({"iri", "pname"})


class _Reader:
    """A recursive-descent reader over the lexer's tokens, for the class's grammar only."""

    def __init__(self, toks: list[Token]):
        self.toks = toks
        self.at = 0

    # --- tokens --------------------------------------------------------------------------------

    def peek(self) -> Token | None:
        return self.toks[self.at] if self.at < len(self.toks) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise _NotInClass("the text ends early")
        self.at += 1
        return token

    def keyword(self, *words: str) -> str | None:
        """Take the next token if it is one of ``words`` (case-insensitive); which one it was."""
        token = self.peek()
        if token is not None and token.keyword in words:
            self.at += 1
            return token.keyword
        return None

    def punct(self, text: str) -> bool:
        """Take the next token if it is the punctuation ``text`` ('.' and ',' may carry spaces)."""
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text.strip() == text:
            self.at += 1
            return True
        return False

    def semicolon(self) -> bool:
        token = self.peek()
        if token is not None and token.kind == "semicolon":
            self.at += 1
            return True
        return False

    # --- the query -----------------------------------------------------------------------------

    def query(self) -> tuple[str, ...]:
        self.prologue()
        form = self.keyword("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")
        if form is None:
            raise _NotInClass("not a query form of the class")
        steps: tuple[str, ...]
        if form == "SELECT":
            self.keyword("DISTINCT", "REDUCED")
            if not self.punct("*"):
                if self.take().kind != "var":
                    raise _NotInClass("a projection other than variables or *")
                while (token := self.peek()) is not None and token.kind == "var":
                    self.at += 1
            steps = self.where(required=True)
        elif form == "ASK":
            steps = self.where(required=True)
        elif form == "CONSTRUCT":
            if self.keyword("WHERE"):  # CONSTRUCT WHERE { pattern }: the pattern is the template
                steps = self.group()
            else:
                self.template()
                steps = self.where(required=True)
        else:
            if self.punct("*"):
                raise _NotInClass("DESCRIBE *: every variable's description")
            described = 0
            while (token := self.peek()) is not None and (token.kind == "var" or token.kind in _TERMS):
                self.at += 1
                described += 1
            if described == 0:
                raise _NotInClass("DESCRIBE of nothing")
            steps = self.where(required=False)
            steps += (DESCRIBE,) * described
        self.modifiers()
        if self.peek() is not None:
            raise _NotInClass(f"{self.peek().text!r} after the pattern")
        return steps

    def prologue(self) -> None:
        while word := self.keyword("PREFIX", "BASE"):
            if word == "PREFIX" and self.take().kind != "pname":
                raise _NotInClass("a PREFIX without its name")
            if self.take().kind != "iri":
                raise _NotInClass("a PREFIX or BASE without its IRI")

    def modifiers(self) -> None:
        while self.keyword("LIMIT", "OFFSET"):
            if self.take().kind != "number":
                raise _NotInClass("LIMIT or OFFSET without a number")

    def where(self, required: bool) -> tuple[str, ...]:
        if self.keyword("WHERE") or (token := self.peek()) is not None and token.kind == "open":
            return self.group()
        if required:
            raise _NotInClass("no WHERE group")
        return ()

    def template(self) -> None:
        """A CONSTRUCT template: any triples in one flat group (it costs per solution, output-bounded)."""
        if self.take().kind != "open":
            raise _NotInClass("a CONSTRUCT without its template")
        while (token := self.take()).kind != "close":
            if token.kind == "open" or token.keyword is not None and token.text not in ("a", "true", "false"):
                raise _NotInClass("a keyword or group inside the template")

    # --- the basic graph pattern ---------------------------------------------------------------

    def group(self) -> tuple[str, ...]:
        """The steps of a group of triple patterns in an anchored order; raises if it has none."""
        if self.take().kind != "open":
            raise _NotInClass("a WHERE that is not a group")
        patterns: list[_Pattern] = []
        while not self.closing():
            subject = self.subject()
            while True:
                predicate, path = self.predicate()
                while True:
                    patterns.append(_Pattern(subject, predicate, self.object(), path))
                    if len(patterns) > MAX_PATTERNS:
                        raise _NotInClass(f"more than {MAX_PATTERNS} patterns")
                    if not self.punct(","):
                        break
                if not self.semicolon():
                    break
                if self.closing() or self.at_dot():
                    break  # a ';' may end a predicate-object list
            if not self.punct("."):
                if not self.closing():
                    raise _NotInClass("a triple not followed by '.', ';', ',' or '}'")
        self.take()  # the closing brace
        return _anchored(patterns)

    def closing(self) -> bool:
        token = self.peek()
        if token is None:
            raise _NotInClass("an unclosed group")
        return token.kind == "close"

    def at_dot(self) -> bool:
        token = self.peek()
        return token is not None and token.kind == "punct" and token.text.strip() == "."

    def subject(self) -> str:
        token = self.take()
        if token.kind == "var":
            return "?" + token.text[1:]  # ?x and $x are one variable
        if token.kind == "iri" or token.kind == "pname" and not token.text.startswith("_:"):
            return ""  # a constant
        raise _NotInClass(f"a subject the class does not take: {token.text!r}")

    def predicate(self) -> tuple[str, bool]:
        """The predicate (a variable's name, or "" for a constant) and whether it is a path."""
        token = self.take()
        if token.kind == "var":
            return "?" + token.text[1:], False
        if not (token.kind in _TERMS or token.kind == "word" and token.text == "a"):
            raise _NotInClass(f"a predicate the class does not take: {token.text!r}")
        after = self.peek()
        if after is not None and after.kind == "punct" and after.text in ("+", "*"):
            following = self.toks[self.at + 1] if self.at + 1 < len(self.toks) else None
            if following is not None and following.kind == "number" and following.start == after.start + 1:
                raise _NotInClass("a signed number after a predicate")  # '+5' is a literal, not a path
            self.at += 1
            return "", True
        return "", False

    def object(self) -> str:
        token = self.take()
        if token.kind == "var":
            return "?" + token.text[1:]
        if token.kind in _TERMS and not token.text.startswith("_:") or token.kind == "number":
            return ""
        if token.kind == "word" and token.keyword in ("TRUE", "FALSE"):
            return ""
        if token.kind == "string":
            after = self.peek()
            if after is not None and after.kind == "langtag":
                self.at += 1
            elif after is not None and after.kind == "punct" and after.text == "^^":
                self.at += 1
                if self.take().kind not in _TERMS:
                    raise _NotInClass("a datatype that is not an IRI")
            return ""
        raise _NotInClass(f"an object the class does not take: {token.text!r}")


@dataclass(frozen=True)
class _Pattern:
    subject: str  # a variable's name, or "" for a constant
    predicate: str
    object: str
    path: bool  # predicate+ or predicate*

    @property
    def variables(self) -> set[str]:
        return {term for term in (self.subject, self.predicate, self.object) if term}


def _anchored(patterns: list[_Pattern]) -> tuple[str, ...]:
    """The steps of ``patterns`` in an anchored order (paths first), or :class:`_NotInClass`."""
    if not patterns:
        raise _NotInClass("an empty group")  # cheap, but not worth a second path through the server
    steps: list[str] = []
    bound: set[str] = set()
    for pattern in patterns:
        if pattern.path:
            if pattern.subject:
                raise _NotInClass("a property path from a variable")
            steps.append(PATH)
            bound |= pattern.variables
    waiting = [p for p in patterns if not p.path]
    while waiting:
        ready = next((p for p in waiting if not p.subject or p.subject in bound), None)
        if ready is None:
            raise _NotInClass("a pattern whose subject nothing binds (a cross product or an object-anchored chain)")
        waiting.remove(ready)
        steps.append(PATTERN)
        bound |= ready.variables
    return tuple(steps)
