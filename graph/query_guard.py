"""Checks on untrusted SPARQL text before any parser sees it: size of the nesting, number of
clauses, and remote access.

pyoxigraph's parser and evaluator are recursive: 10,000 nested brackets, or 20,000 ``BIND``s in
one group, overflow the stack of the process that parses them (a segfault, not an exception).
:func:`check_sparql` reads the text once with the linear lexer of
:mod:`yokuryu.graph.sparql_text` and refuses, with a message naming the setting, anything
deeper or longer than the limits — far below what crashes, far above what a person writes.

It also refuses ``SERVICE`` and ``LOAD`` (403), which would make the engine fetch from the
network. That refusal is a courtesy (a clear message): the defence is that query and update
evaluation runs where no network socket can be opened (:mod:`yokuryu.graph.offline`), so text
that slips past the lexer still fetches nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from yokuryu.graph.sparql_text import SparqlTextError, Token, iter_tokens, line_and_column

# Keywords that each add a node to the algebra: long flat runs of them nest deeply inside the engine.
_CLAUSE_KEYWORDS = frozenset({
    "BIND", "OPTIONAL", "MINUS", "FILTER", "UNION", "SERVICE", "GRAPH", "VALUES", "SELECT",
    "CONSTRUCT", "DESCRIBE", "ASK", "EXISTS", "INSERT", "DELETE", "LOAD", "CLEAR", "DROP",
    "CREATE", "ADD", "MOVE", "COPY",
})
# Binary operators, which the parser folds into left-deep trees.
_OPERATORS = frozenset({"||", "&&", "=", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "|"})
_OPENERS = {"(": ")", "[": "]", "{": "}", "<<": ">>"}
_CLOSERS = frozenset(_OPENERS.values())
_REMOTE = ("SERVICE", "LOAD")


@dataclass(frozen=True)
class SparqlLimits:
    """How deep and how long a query or update may be (``--max-query-nesting``, ``--max-query-clauses``)."""

    max_nesting: int = 100
    max_clauses: int = 1000


@dataclass(frozen=True)
class SparqlFacts:
    """What the checked text contains, as far as the server needs to know before evaluating it."""

    nesting: int  # deepest nesting of brackets, braces and unary '!'
    clauses: int  # clause keywords and binary operators
    names_dataset: bool  # FROM / FROM NAMED (a query) or USING / WITH (an update)


class SparqlRefused(ValueError):
    """Text refused before evaluation; ``status`` is the HTTP status (400 or 403), the message says why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def check_sparql(text: str, kind: str = "query", limits: SparqlLimits = SparqlLimits()) -> SparqlFacts:
    """The facts of ``text`` (a ``kind`` of "query" or "update"), or :class:`SparqlRefused`.

    Reading stops at the first token past a limit, so refusing costs no more than accepting.
    """
    nesting = deepest = clauses = bangs = 0
    names_dataset = False
    sign: Token | None = None  # a '+' or '-' that is an operator unless a number follows at once
    try:
        for token in iter_tokens(text):
            word = token.text
            keyword = token.keyword
            if sign is not None:
                if not (token.kind == "number" and token.start == sign.start + 1):
                    clauses += 1
                sign = None
            if word in _OPENERS:
                nesting += 1
            elif word in _CLOSERS:
                nesting = max(0, nesting - 1)
            bangs = bangs + 1 if word == "!" else 0
            deepest = max(deepest, nesting + bangs)
            if deepest > limits.max_nesting:
                raise _too_deep(text, token, kind, limits)
            if keyword is not None:
                if keyword in _CLAUSE_KEYWORDS:
                    clauses += 1
                if keyword in ("FROM", "USING", "WITH"):
                    names_dataset = True
                if _leading_word(keyword) in _REMOTE:
                    raise SparqlRefused(_remote_message(_leading_word(keyword), kind), 403)
            elif token.kind == "punct" and word in _OPERATORS:
                if word in ("+", "-"):
                    sign = token
                else:
                    clauses += 1
            if clauses > limits.max_clauses:
                raise _too_long(kind, limits)
    except SparqlTextError as error:
        line, column = line_and_column(text, error.position)
        raise SparqlRefused(f"SPARQL syntax error: {error} (it starts at line {line}, column {column})") from None
    return SparqlFacts(nesting=deepest, clauses=clauses, names_dataset=names_dataset)


def _too_deep(text: str, token: Token, kind: str, limits: SparqlLimits) -> SparqlRefused:
    line, column = line_and_column(text, token.start)
    return SparqlRefused(
        f"{kind} too deeply nested: more than {limits.max_nesting} levels of brackets, braces or '!' "
        f"(at line {line}, column {column}). Flatten it, or raise the limit with "
        "'yokuryu serve --max-query-nesting N' or YOKURYU_MAX_QUERY_NESTING.")


def _too_long(kind: str, limits: SparqlLimits) -> SparqlRefused:
    return SparqlRefused(
        f"{kind} too long: more than {limits.max_clauses} clauses and operators (BIND, FILTER, OPTIONAL, "
        "UNION, ||, +, …). Split it, use VALUES for long lists of alternatives, or raise the limit "
        "with 'yokuryu serve --max-query-clauses N' or YOKURYU_MAX_QUERY_CLAUSES.")


def is_network_refusal(error: BaseException) -> bool:
    """True for the engine's error when it tried to reach the network and the sandbox said no."""
    message = str(error)
    return (isinstance(error, OSError) and
            ("os error 1)" in message or "Operation not permitted" in message
             or "failed to lookup address information" in message))


def network_refused_message(kind: str = "query") -> str:
    return _remote_message("SERVICE or LOAD", kind)


def _remote_message(keyword: str, kind: str) -> str:
    return (f"{keyword} would make this server fetch data from the network, which it never does "
            f"(this {kind} was not run). Load the data with the graph store protocol "
            "(PUT /store?graph=IRI) and query it here.")


def _leading_word(text: str) -> str:
    """The letters a word starts with ("SERVICE" for "SERVICE-x"): refused conservatively."""
    end = 0
    while end < len(text) and text[end].isalpha():
        end += 1
    return text[:end].upper()
