"""Query evaluation in worker threads, with a time limit answered as a clear 503.

pyoxigraph releases the GIL while it evaluates and serialises, so a worker thread runs a heavy
query while the server keeps answering others. pyoxigraph 0.5 cannot cancel a running query:
when the limit passes, the client gets its 503 at once and the worker finishes in the
background, holding one of the ``workers`` slots until it does. Queries that wait for a slot
count that wait against their own limit; and while every slot is held by such an abandoned
query, new queries are refused at once (503, ``Retry-After``) instead of queueing behind them.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from yokuryu.server.errors import ProtocolError

log = logging.getLogger(__name__)
T = TypeVar("T")


class QueryExecutor:
    """A fixed pool of evaluation threads shared by all requests of one app."""

    def __init__(self, workers: int, timeout: float):
        self.timeout = timeout
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="yokuryu-query")
        self._abandoned = 0
        self._lock = threading.Lock()

    def run(self, evaluate: Callable[[], T]) -> T:
        """``evaluate()`` in a worker; its result, or a 503 once the time limit has passed."""
        with self._lock:
            if self._abandoned >= self.workers:
                raise ProtocolError(
                    f"503 Service Unavailable: all {self.workers} query workers are still finishing queries "
                    "that ran past the time limit; try again in a few seconds (or start the server with "
                    "more --workers).", 503, headers={"Retry-After": "5"})
        future = self._pool.submit(evaluate)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            if not future.cancel():
                self._abandon(future)
            raise ProtocolError(
                f"503 Service Unavailable: the query did not finish within the {self.timeout:g} s limit "
                "and was abandoned. Narrow it (LIMIT, more specific patterns), or raise the limit "
                "with 'yokuryu serve --timeout SECONDS' or YOKURYU_QUERY_TIMEOUT.",
                503, headers={"Retry-After": "5"}) from None

    def _abandon(self, future: Future) -> None:
        """Count a running query nobody waits for until its worker is free again."""
        log.warning("a query exceeded the %s s limit; it keeps a worker busy until it ends", self.timeout)
        with self._lock:
            self._abandoned += 1

        def released(_: Future) -> None:
            with self._lock:
                self._abandoned -= 1

        future.add_done_callback(released)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
