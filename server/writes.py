"""Writes over HTTP: translate a request into :func:`yokuryu.graph.transaction.update` and its
errors into answers. The transaction itself (what is checked, derived and committed) lives in
``graph/transaction.py`` and is the same for ``yokuryu update`` and the Python API.
"""
from __future__ import annotations

import json
import logging

import pyoxigraph as ox
from flask import current_app, has_app_context

from yokuryu.graph import transaction
from yokuryu.graph.journal import JournalError
from yokuryu.graph.query_guard import SparqlLimits
from yokuryu.graph.store import KnowledgeStore
from yokuryu.graph.transaction import RefusedWrite, WriteError, WriteOutcome, ntriples
from yokuryu.server.config import ServerConfig
from yokuryu.server.errors import ProtocolError
from yokuryu.server.negotiation import choose_report

__all__ = ["WriteOutcome", "apply_update", "drop", "insert_data"]

log = logging.getLogger(__name__)

_STATUS_TEXT = {400: "400 Bad Request", 403: "403 Forbidden", 413: "413 Content Too Large",
                422: "422 Unprocessable Content",
                500: "500 Internal Server Error"}


def apply_update(store: KnowledgeStore, config: ServerConfig, update: str, *,
                 base_iri: str | None = None) -> WriteOutcome:
    """Run ``update`` as one transaction; a refused write becomes its HTTP answer."""
    try:
        outcome = transaction.update(
            store, update, plain=config.empty, union_default_graph=config.union_default_graph,
            base_iri=base_iri, on_commit=_whoever_must_know(store), max_added=config.max_write_quads,
            engine=config.engine, limits=SparqlLimits(config.max_query_nesting, config.max_query_clauses))
        store.touch()  # pages answer Last-Modified from it
        store.count_change(outcome.removed, outcome.added)  # /health's count, without walking the store
        return outcome
    except RefusedWrite as error:
        raise refusal(error) from error
    except JournalError as error:
        raise ProtocolError(f"500 Internal Server Error: nothing was applied, because the write could not be "
                            f"recorded: {error}", 500) from error
    except WriteError as error:
        raise ProtocolError(f"{_STATUS_TEXT[error.status]}: {error.message}", error.status) from error


def _never_failing(committed):
    """``committed``, except that its failure cannot turn a committed write into an error answer.

    Once the store has committed, the client must hear so (issue #10 saw a 500 for a committed
    write): a failure to pass the change on to the query processes is logged for the operator.
    """
    def tell(removed, added) -> None:
        try:
            committed(removed, added)
        except Exception:  # noqa: BLE001 - anything: the write is committed whatever happens here
            log.exception("a write of %d removed and %d added quads was committed, but the query processes "
                          "could not take it", len(removed), len(added))
    return tell


def refusal(error: RefusedWrite) -> ProtocolError:
    """A 422 carrying the validation report as text, or as Turtle/JSON when the client asks."""
    head = "422 Unprocessable Content: the write was refused and nothing was applied.\n\n"
    report = error.report
    if report is None:  # an inconsistent closure: the message names the contradiction
        return ProtocolError(f"422 Unprocessable Content: {error.message}", 422)
    # Plain text unless the client names Turtle or JSON itself (a bare */* gets the text).
    best = choose_report(("text/plain", "text/turtle", "application/json"))
    if best == "text/turtle":
        return ProtocolError(head, 422, body=report.graph.serialize(format="turtle").encode(),
                             media_type="text/turtle")
    if best == "application/json":
        body = json.dumps({"conforms": False, "applied": False,
                           "results": [v.as_dict() for v in report.violations]}, indent=2)
        return ProtocolError(head, 422, body=body.encode(), media_type="application/json")
    return ProtocolError(head + report.as_text(), 422)


# --- graph store writes, as SPARQL Update text ---------------------------------------------


def insert_data(graph: str | None, triples: list[ox.Triple]) -> str:
    """``INSERT DATA`` for ``triples`` into ``graph`` (``None``: the default graph)."""
    if not triples:
        return ""
    body = ntriples(triples)
    return f"INSERT DATA {{ GRAPH <{graph}> {{\n{body}}} }}" if graph else f"INSERT DATA {{\n{body}}}"


def drop(graph: str | None) -> str:
    return f"DROP SILENT GRAPH <{graph}>" if graph else "DROP SILENT DEFAULT"


def memory_only_note(store: KnowledgeStore) -> str:
    """Said after every write that will not survive a restart (in memory, no journal)."""
    if store.is_persistent or current_app.extensions.get("yokuryu.journal") is not None:
        return ""
    return (" The store is in memory only: this change is lost when the server stops "
            "(serve with --journal FILE or --store PATH to keep writes).")


def _whoever_must_know(store: KnowledgeStore):
    """The commit hook: the journal first (fsynced), then the query processes' copy.

    Called under the write lock and before the write is answered. If the journal cannot be
    written, the commit is undone (the store holds the only other copy), so an answer of
    "applied" always means "recorded on disk".
    """
    executor = _executor_to_tell()
    tell_executor = _never_failing(executor.committed) if executor else None
    journal = current_app.extensions.get("yokuryu.journal") if has_app_context() else None
    if journal is None:
        return tell_executor

    def committed(removed, added) -> None:
        try:
            journal.append(removed, added)
        except JournalError:
            transaction.apply_in_one_transaction(store, added, removed)
            raise
        if tell_executor:
            tell_executor(removed, added)

    return committed


def _executor_to_tell():
    """The query executor when it holds its own copy of the store and must get every committed change.

    The transaction calls it under the write lock, so the copy receives changes in commit order,
    and before the write is answered, so a client that reads after its write sees it.
    """
    if not has_app_context():
        return None
    executor = current_app.extensions.get("yokuryu.executor")
    return executor if getattr(executor, "holds_a_copy", False) else None
