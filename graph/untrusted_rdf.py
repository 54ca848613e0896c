"""Parse RDF sent by a client, so that no body can crash the server, fill its memory or make it fetch.

Measured against pyoxigraph 0.5.13: JSON-LD 4,000 objects deep overflows the parser's stack and
kills the process (SIGSEGV); an RDF/XML entity bomb of 525 bytes becomes a 100 MB literal
(issue #10); an 800 KB Turtle list becomes 800,000 quads. Turtle's parser survived 10,000
nested lists and blank nodes here, but nesting is bounded in every syntax alike: a parser
upgrade must not reopen the hole. So :func:`parse_untrusted`, before any parser sees the body,

1. scans it for what no parser should be asked to read: nesting deeper than ``max_depth``
   (brackets, quoted triples, XML elements, JSON arrays and objects), a DTD or entity
   declaration in RDF/XML, a JSON-LD context to fetch from the network (``"@context": "URL"``,
   ``@import``);

and then

2. parses it in a child process (``rdf_parser_process.py``, only pyoxigraph imported; ~20 ms
   to start on an idle machine) under a memory and CPU limit, which stops as soon as the quads
   exceed ``max_quads`` or their N-Quads exceed ``max_expansion`` times the body's size. If the scan
   ever misses a way to crash the parser, the child dies, not the server.

The child sends the quads back as N-Quads (flat: nothing to nest) and they are read here.
"""
from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

log = logging.getLogger(__name__)

CHILD = Path(__file__).with_name("rdf_parser_process.py")
_PYOXIGRAPH_PATH = str(Path(ox.__file__).resolve().parent.parent)
# Bodies this small cannot expand into much, whatever their ratio: a floor for the expansion limit.
EXPANSION_FLOOR_BYTES = 1024


@dataclass(frozen=True)
class RdfLimits:
    max_quads: int = 100_000
    max_expansion: int = 64  # bytes of the parsed quads as N-Quads, per byte of body
    max_depth: int = 64
    timeout: float = 30.0  # seconds of parsing
    memory_bytes: int = 2 * 1024 ** 3  # address space of the parsing process


class UntrustedRdfError(ValueError):
    """A body refused before or while parsing; ``status`` is the HTTP status it deserves."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def parse_untrusted(data: bytes, format: ox.RdfFormat, limits: RdfLimits = RdfLimits(), *,
                    base_iri: str | None = None, what: str = "the body") -> list[ox.Quad]:
    """The quads of ``data``, or :class:`UntrustedRdfError` saying which limit it broke."""
    prescan(data, format, limits, what=what)
    return _parse_in_child(data, format, limits, base_iri, what)


def prescan(data: bytes, format: ox.RdfFormat, limits: RdfLimits, *, what: str = "the body") -> None:
    """Refuse what must never reach a parser; cheap (regular expressions, no recursion)."""
    text = data.decode("utf-8", errors="replace")
    if format == ox.RdfFormat.RDF_XML:
        _refuse_declarations(text, what)
        depth, line = _xml_depth(text, limits.max_depth)
    elif format == ox.RdfFormat.JSON_LD:
        depth, line = _nesting(text, _JSON_TOKENS, limits.max_depth)
        if depth <= limits.max_depth:
            _refuse_remote_contexts(text, what)
    else:  # Turtle, TriG, N-Triples, N-Quads, N3: brackets, lists, quoted triples, graphs
        depth, line = _nesting(text, _TURTLE_TOKENS, limits.max_depth)
    if depth > limits.max_depth:
        raise UntrustedRdfError(
            f"{what} nests more than {limits.max_depth} levels deep (line {line}); deeper nesting could crash the "
            f"parser, so it is refused and nothing was applied. The limit is set with --max-rdf-depth or "
            f"YOKURYU_MAX_RDF_DEPTH.", 400)


# --- the scan ------------------------------------------------------------------------------------

# Turtle family: strings, IRIs and comments are skipped whole (a bracket inside them is text);
# a backslash escape outside them (``ex:a\#x``) is one token, so ``#`` after it starts no comment.
# Each pattern is an unrolled loop, and the lookahead skips plain text at once: the scan stays fast.
_TURTLE_TOKENS = re.compile(r'''(?=["'<\#\\\[\](){}>])(?:
    """[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""
  | '\'\'[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'\'\'
  | "[^"\\\n\r]*(?:\\.[^"\\\n\r]*)*"
  | '[^'\\\n\r]*(?:\\.[^'\\\n\r]*)*'
  | <[^<>"{}|^`\\\x00-\x20]*(?:\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})[^<>"{}|^`\\\x00-\x20]*)*>
  | \#[^\n\r]*
  | \\.
  | (?P<open><<|[\[({])
  | (?P<close>>>|[\])}]))
''', re.VERBOSE)

_JSON_TOKENS = re.compile(r'''(?=["\[\]{}])(?:
    "[^"\\]*(?:\\[\s\S][^"\\]*)*"
  | (?P<open>[\[{])
  | (?P<close>[\]}]))
''', re.VERBOSE)


def _nesting(text: str, tokens: re.Pattern, limit: int) -> tuple[int, int]:
    """The deepest nesting, stopping at the first level over ``limit``; and the line of that level."""
    depth = deepest = 0
    for match in tokens.finditer(text):
        kind = match.lastgroup
        if kind == "open":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest, _line(text, match.start())
        elif kind == "close":
            depth = max(0, depth - 1)
    return deepest, 1


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


_XML_TOKENS = re.compile(r'''
    <!--[\s\S]*?-->
  | <!\[CDATA\[[\s\S]*?\]\]>
  | <\?[\s\S]*?\?>
  | (?P<close></[^>]*>)
  | (?P<open><[^!?/](?:[^>"']|"[^"]*"|'[^']*')*>)
''', re.VERBOSE)


def _xml_depth(text: str, limit: int) -> tuple[int, int]:
    depth = deepest = 0
    for match in _XML_TOKENS.finditer(text):
        if match.lastgroup == "open":
            if match.group().endswith("/>"):
                continue
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest, _line(text, match.start())
        elif match.lastgroup == "close":
            depth = max(0, depth - 1)
    return deepest, 1


_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _refuse_declarations(text: str, what: str) -> None:
    found = _DECLARATION.search(text)
    if found:
        raise UntrustedRdfError(
            f"{what} declares a {found.group(1).upper()} (line {_line(text, found.start())}): RDF/XML with a DTD or "
            "entity declarations is refused, because entities can expand a few hundred bytes into gigabytes. "
            "Expand the entities before sending. Nothing was applied.", 400)


def _refuse_remote_contexts(text: str, what: str) -> None:
    try:
        document = json.loads(text)
    except ValueError:
        return  # not JSON: the parser reports where
    stack = [document]
    while stack:  # iterative: the depth is already bounded, but no recursion is needed
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "@import" or (key == "@context" and _names_a_document(value)):
                    shown = value if isinstance(value, str) else json.dumps(value)[:200]
                    raise UntrustedRdfError(
                        f"{what} refers to a JSON-LD context by URL ({key}: {shown}); this server never fetches "
                        "from the network, so the context must be given inline, as a JSON object. "
                        "Nothing was applied.", 400)
                stack.append(value)


def _names_a_document(context) -> bool:
    if isinstance(context, str):
        return True
    if isinstance(context, list):
        return any(isinstance(c, str) for c in context)
    return False


# --- the parse, in a child process -----------------------------------------------------------------


def _parse_in_child(data: bytes, format: ox.RdfFormat, limits: RdfLimits, base_iri: str | None,
                    what: str) -> list[ox.Quad]:
    max_chars = limits.max_expansion * max(len(data), EXPANSION_FLOOR_BYTES)
    header = json.dumps({"format": format.media_type, "base_iri": base_iri, "max_quads": limits.max_quads,
                         "max_chars": max_chars, "memory_bytes": limits.memory_bytes,
                         "cpu_seconds": max(1, int(limits.timeout) + 1)})
    # -I -S: no environment, no site initialisation (a third of the start-up time); pyoxigraph's
    # own directory is the child's only import path beyond the standard library.
    child = subprocess.Popen([sys.executable, "-I", "-S", str(CHILD), _PYOXIGRAPH_PATH],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = child.communicate(header.encode() + b"\n" + data, timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise UntrustedRdfError(
            f"parsing {what} took longer than {limits.timeout:g} s and was stopped; "
            "nothing was applied. Send it in smaller parts.", 503) from None
    if child.returncode == 0:
        return list(ox.parse(out, format=ox.RdfFormat.N_QUADS))
    message = err.decode("utf-8", errors="replace").strip()
    if child.returncode == 2:  # the body is not valid in its syntax
        raise UntrustedRdfError(f"{what} {message}", 400)
    if child.returncode == 3:  # over the quad limit
        raise UntrustedRdfError(
            f"{what} holds more than {limits.max_quads} quads, the most one write may send; split it into "
            "several writes, or raise the limit with --max-write-quads or YOKURYU_MAX_WRITE_QUADS. "
            "Nothing was applied.", 413)
    if child.returncode == 4:  # over the expansion limit
        raise UntrustedRdfError(
            f"{what} expands to more than {limits.max_expansion} times its size once parsed ({len(data)} bytes "
            f"sent, over {max_chars} bytes as N-Quads); such bodies are refused because a small body could "
            "otherwise fill the server's memory. Raise the limit with --max-write-expansion or "
            "YOKURYU_MAX_WRITE_EXPANSION. Nothing was applied.", 413)
    how = (f"signal {signal.Signals(-child.returncode).name}" if child.returncode < 0
           else f"exit status {child.returncode}")
    log.error("the RDF parsing process failed (%s) on a %d-byte %s body: %s", how, len(data),
              format.name, message[-500:])
    if "MemoryError" in message or child.returncode == -signal.SIGKILL or "memory allocation" in message:
        raise UntrustedRdfError(
            f"{what} needs more memory to parse than a write may use ({limits.memory_bytes} bytes); send it in "
            "smaller parts. Nothing was applied.", 413)
    raise UntrustedRdfError(
        f"{what} could not be parsed: the parser stopped ({how}) and was contained; nothing was applied. "
        "If the body is valid RDF, please report this (see SECURITY.md).", 400)
