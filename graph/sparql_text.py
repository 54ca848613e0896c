"""Reading SPARQL text without evaluating it: keywords that must not run, and update datasets.

The endpoint needs two things the engine does not offer: refusing ``SERVICE`` and ``LOAD``
(pyoxigraph would fetch from the network) and applying the protocol's ``using-graph-uri`` /
``using-named-graph-uri`` to an update (pyoxigraph's ``update`` has no dataset argument).
Both work on tokens — comments, strings and IRIs are skipped as wholes, so a ``WHERE`` inside a
string or a ``# LOAD`` comment never counts — and on brace depth, which is all the SPARQL 1.1
Update grammar needs to find each operation's ``WITH``, ``USING`` and ``WHERE``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n\r]*)
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
              |'(?:[^'\\\n\r]|\\.)*'|"(?:[^"\\\n\r]|\\.)*")
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<var>[?$]\w+)
  | (?P<pname>(?:[A-Za-z][\w.\-]*)?:[^\s{}()\[\];,<>"'\#]*|_:[^\s{}()\[\];,<>"'\#]*)
  | (?P<word>[A-Za-z_]\w*)
  | (?P<open>\{)
  | (?P<close>\})
  | (?P<semicolon>;)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    depth: int  # brace depth at the token (an opening brace has the depth outside it)

    @property
    def keyword(self) -> str | None:
        return self.text.upper() if self.kind == "word" else None


def tokens(text: str) -> list[Token]:
    """The significant tokens of SPARQL ``text`` (no spaces, no comments), with brace depths."""
    found, depth = [], 0
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind in ("space", "comment"):
            continue
        if kind == "close":
            depth = max(0, depth - 1)
        found.append(Token(kind, match.group(), match.start(), depth))
        if kind == "open":
            depth += 1
    return found


def keywords_used(text: str, *names: str) -> list[str]:
    """Which of the keywords ``names`` appear in ``text`` as keywords (not in strings, IRIs, comments)."""
    wanted = {n.upper() for n in names}
    return sorted({t.keyword for t in tokens(text) if t.keyword in wanted})


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
