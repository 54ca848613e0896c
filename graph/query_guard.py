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
that slips past the lexer still fetches nothing. Over a remote server (``--remote-query``) the
text is the remote server's to evaluate, and this check is all there is between a client and
that server's SERVICE: so a text is also checked as the SPARQL grammar reads it, with its
``\\u``/``\\U`` escapes decoded first (SPARQL 1.1 §19.2), which pyoxigraph does not do
(``"\\u0022) } SERVICE … #"`` is a string to pyoxigraph and a SERVICE call to Jena).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from yokuryu.graph.sparql_text import TOKEN_PATTERN, line_and_column

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
_DATASET_KEYWORDS = frozenset({"FROM", "USING", "WITH"})
# Tokens that neither nest, nor count as a clause, nor name anything the check looks for.
_PLAIN = frozenset({"string", "iri", "var", "pname", "number", "langtag", "semicolon", "sep"})


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


class _Unclosed(SparqlRefused):
    """A string that is never closed."""


def check_sparql(text: str, kind: str = "query", limits: SparqlLimits = SparqlLimits()) -> SparqlFacts:
    """The facts of ``text`` (a ``kind`` of "query" or "update"), or :class:`SparqlRefused`.

    A text with codepoint escapes is refused when either reading of it is: pyoxigraph's (escapes
    only inside strings and names) or the grammar's (escapes decoded before parsing). A string
    the decoding leaves unclosed (``"\\u0022"``) is no refusal: the engine reads the text its way,
    and a server that decodes first finds a syntax error, not a SERVICE.
    """
    facts = _check(text, kind, limits)
    if "\\u" in text or "\\U" in text:
        decoded = _CODEPOINT_ESCAPE.sub(_decoded, text)
        if decoded != text:
            try:
                _check(decoded, kind, limits)
            except _Unclosed:
                pass
            except SparqlRefused as refusal:
                raise SparqlRefused(f"{refusal.message} (read with its \\u escapes decoded, as SPARQL 1.1 reads "
                                    "them before parsing)", refusal.status) from None
    return facts


# SPARQL 1.1 §19.2: \uXXXX and \UXXXXXXXX anywhere in the text stand for their code points.
_CODEPOINT_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def _decoded(match: re.Match) -> str:
    code = int(match.group(1) or match.group(2), 16)
    return chr(code) if code <= 0x10FFFF else match.group()


def _check(text: str, kind: str, limits: SparqlLimits) -> SparqlFacts:
    """:func:`check_sparql` on one reading of the text.

    Reading stops at the first token past a limit, so refusing costs no more than accepting.
    The loop works on the lexer's matches directly (no token objects): it runs once per token
    of every query the server receives.
    """
    nesting = deepest = clauses = bangs = 0
    names_dataset = False
    sign_end = -1  # where a '+' or '-' ended: an operator unless a number starts right there
    max_nesting, max_clauses = limits.max_nesting, limits.max_clauses
    for match in TOKEN_PATTERN.finditer(text):  # its last alternative takes any character: nothing is skipped
        group = match.lastgroup
        if group == "space":
            continue
        if sign_end >= 0:
            if group != "number" or match.start() != sign_end:
                clauses += 1
            sign_end = -1
        if group in _PLAIN:
            bangs = 0
        elif group == "word":
            bangs = 0
            keyword = match.group().upper()
            if keyword in _CLAUSE_KEYWORDS:
                clauses += 1
            elif keyword in _DATASET_KEYWORDS:
                names_dataset = True
            if _leading_word(keyword) in _REMOTE:
                raise SparqlRefused(_remote_message(_leading_word(keyword), kind), 403)
        elif group == "unclosed":
            line, column = line_and_column(text, match.start())
            raise _Unclosed(f"SPARQL syntax error: a string is never closed (it starts at line {line}, "
                                f"column {column})")
        else:  # brackets, braces and operators
            word = match.group()
            if word in _OPENERS:
                nesting += 1
            elif word in _CLOSERS:
                nesting = nesting - 1 if nesting else 0
            bangs = bangs + 1 if word == "!" else 0
            if nesting + bangs > deepest:
                deepest = nesting + bangs
                if deepest > max_nesting:
                    raise _too_deep(text, match.start(), kind, limits)
            if word in _OPERATORS:
                if word == "+" or word == "-":
                    sign_end = match.end()
                else:
                    clauses += 1
        if clauses > max_clauses:
            raise _too_long(kind, limits)
    if sign_end >= 0:
        clauses += 1
    if clauses > max_clauses:
        raise _too_long(kind, limits)
    return SparqlFacts(nesting=deepest, clauses=clauses, names_dataset=names_dataset)


def _too_deep(text: str, position: int, kind: str, limits: SparqlLimits) -> SparqlRefused:
    line, column = line_and_column(text, position)
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
