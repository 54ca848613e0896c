"""Writing SPARQL results for people (a text table) and machines (the standard formats)."""
from __future__ import annotations

from typing import BinaryIO

import pyoxigraph as ox

from yokuryu.graph.formats import UnknownFormat, rdf_syntax, results_syntax
from yokuryu.ontology import PREFIXES

_RDF_FORMATS = {"turtle", "ntriples", "nquads", "trig", "jsonld", "rdfxml"}
_RESULT_FORMATS = {"json", "xml", "csv", "tsv"}


def write_results(results, fmt: str | None, out: BinaryIO) -> None:
    """Serialise pyoxigraph query results in ``fmt`` (None: the natural default).

    The output always ends with a newline, so a shell prompt never lands on its last line, and
    Turtle and TriG use the predeclared prefixes (yk:, res:, rdfs: …) that the query could use.
    """
    if isinstance(results, ox.QueryTriples):
        fmt = fmt or "turtle"
        if fmt not in _RDF_FORMATS:
            raise UnknownFormat(f"a CONSTRUCT or DESCRIBE result is RDF; use --format turtle, ntriples, nquads or trig, not {fmt}")
        syntax = rdf_syntax(fmt)
        prefixes = PREFIXES if fmt in ("turtle", "trig") else None
        _ending_with_newline(out, lambda o: ox.serialize(results, o, syntax.oxigraph, prefixes=prefixes))
        return
    fmt = fmt or "table"
    if fmt == "table":
        out.write(render_table(results).encode("utf-8"))
        return
    if fmt not in _RESULT_FORMATS:
        raise UnknownFormat(f"a SELECT or ASK result is a table; use --format table, json, xml, csv or tsv, not {fmt}")
    _ending_with_newline(out, lambda o: results.serialize(o, format=results_syntax(fmt).oxigraph))


class _LastByte:
    """A write-through wrapper that remembers the last byte written."""

    def __init__(self, out: BinaryIO):
        self.out, self.last = out, b""

    def write(self, data) -> int:
        if data:
            self.last = bytes(data[-1:])
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def _ending_with_newline(out: BinaryIO, write) -> None:
    tracked = _LastByte(out)
    write(tracked)
    if tracked.last not in (b"", b"\n"):
        out.write(b"\n")


def render_table(results) -> str:
    """A plain-text table of SELECT solutions, or 'true'/'false' for ASK."""
    if isinstance(results, ox.QueryBoolean):
        return ("true" if bool(results) else "false") + "\n"
    variables = [v.value for v in results.variables]
    rows = [[_cell(solution[v]) for v in variables] for solution in results]
    widths = [max([len(v)] + [len(r[i]) for r in rows]) for i, v in enumerate(variables)]
    line = "+".join("-" * (w + 2) for w in widths)
    def fmt_row(cells):
        return "|".join(f" {c.ljust(w)} " for c, w in zip(cells, widths))
    lines = [fmt_row(variables), line, *(fmt_row(r) for r in rows)]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"


def _cell(term) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return f"<{term.value}>"
    if isinstance(term, ox.Literal):
        if term.language:
            return f"{term.value}@{term.language}"
        return term.value
    return str(term)
