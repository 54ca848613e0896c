"""What pages show of the whole store (topics, counts per class, the VoID statistics): worked out
where queries run, once per state of the store, and never waited for long.

Each of these walks a class or every quad: at a million quads, seconds of CPU (VoID's distinct
counts ~6 s). Worked out in the server process, that CPU would be the server's (under the GIL
every other request needs), and in memory the walk would make the server copy the store pages it
shares with the query processes. So the work is a :class:`WorkOut` request to the query executor
(``executor.run``), evaluated in a killable query process like a query, under the same time limit
(``--timeout``) and memory limit; a thread of the server waits for it, not a request.

One value is kept per figure and state of the store (the state as ``store.changed_at`` names it,
read before the work starts, so a write meanwhile makes the value stale, never wrongly current;
one value per name: no client can grow the memory by varying the Host). A page asks for it and
waits at most ``YOKURYU_FIGURES_WAIT`` seconds (default 2); if the work for the present state
is not done by then, the page is answered with the figures of the previous state, marked as such,
or marked "being worked out" when there are none; the work goes on, and a later view shows it.
A work that failed (past the time limit, say) is tried again after ``RETRY_AFTER`` seconds.

A remote store (``--remote-query``) has no query processes, and others may write to it: its
figures are worked out by the remote server at every view.
"""
from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from flask import current_app

log = logging.getLogger(__name__)

RETRY_AFTER = 10.0  # seconds before a failed work is tried again for the same state


def works_out(function):
    """Mark ``function(store, *args)`` as one that a :class:`WorkOut` may name (and nothing else)."""
    function.works_out_figures = True
    return function


@dataclass(frozen=True)
class WorkOut:
    """A figure to work out over the whole store: ``module:function`` (marked :func:`works_out`) and its
    arguments; plain values, so it crosses to a query process like a :class:`QueryRequest`."""

    function: str
    args: tuple

    def __call__(self, store):
        module, _, name = self.function.partition(":")
        if not module.startswith("yokuryu."):
            raise ValueError(f"not a figure of Yokuryū's: {self.function}")
        function = getattr(importlib.import_module(module), name, None)
        if not getattr(function, "works_out_figures", False):
            raise ValueError(f"not a figure function: {self.function}")
        return function(store, *self.args)

    @classmethod
    def of(cls, function, *args) -> WorkOut:
        return cls(f"{function.__module__}:{function.__name__}", args)


@dataclass(frozen=True)
class Figures:
    """A figure as a page shows it: the value (None: none yet), and whether it is the present state's."""

    value: Any
    current: bool
    as_of: float | None = None  # store.changed_at of the state the value belongs to
    problem: str = ""  # why the present state's value is missing: "being worked out", or a failure

    @property
    def note(self) -> str:
        """One sentence for the page when the value is not the present state's ("" when it is)."""
        if self.current:
            return ""
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.as_of)) if self.as_of else ""
        shown = f"These figures are of the data as it was at {when}, before the latest change; " if when else \
            "These figures are not available yet; "
        if self.problem == "being worked out":
            return shown + "the figures of the latest data are being worked out: reload in a moment."
        return shown + f"the figures of the latest data could not be worked out ({self.problem}); " \
            f"they are tried again on a view after {RETRY_AFTER:g} s."


class FigureKeeper:
    """The figures of one store, each worked out by ``executor`` once per state of the store."""

    def __init__(self, store, executor, wait: float):
        self.store = store
        self.executor = executor
        self.wait = wait
        self._lock = threading.Lock()
        self._kept: dict[str, tuple] = {}  # name → (key, value): the latest value worked out
        self._work: dict[str, tuple] = {}  # name → (key, Future): the work under way or last done
        self._failed: dict[str, tuple] = {}  # name → (key, message, monotonic time)
        # Threads that wait for the query processes (one per figure at most: there are three).
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="yokuryu-figures")

    def get(self, name: str, depends_on: tuple, work: WorkOut) -> Figures:
        key = (self.store.changed_at, depends_on)  # read before the work starts: a write meanwhile moves it
        with self._lock:
            kept = self._kept.get(name)
            if kept is not None and kept[0] == key:
                return Figures(kept[1], True, key[0])
            failed = self._failed.get(name)
            if failed is not None and failed[0] == key and time.monotonic() - failed[2] < RETRY_AFTER:
                return self._previous(kept, depends_on, failed[1])
            under_way = self._work.get(name)
            if under_way is None or under_way[0] != key or under_way[1].done():
                future = self._threads.submit(self._work_out, name, key, work)
                self._work[name] = (key, future)
            else:
                future = under_way[1]
        try:
            return Figures(future.result(timeout=self.wait), True, key[0])
        except FutureTimeout:
            problem = "being worked out"
        except Exception as error:  # noqa: BLE001 - recorded by _work_out; the page shows the previous figures
            problem = _short(error)
        with self._lock:
            return self._previous(self._kept.get(name), depends_on, problem)

    @staticmethod
    def _previous(kept, depends_on: tuple, problem: str) -> Figures:
        if kept is not None and kept[0][1] == depends_on:  # another base or server URL: not shown
            return Figures(kept[1], False, kept[0][0], problem)
        return Figures(None, False, None, problem)

    def _work_out(self, name: str, key: tuple, work: WorkOut):
        try:
            value = self.executor.run(work)
        except Exception as error:
            log.warning("the figures %r could not be worked out: %s", name, _short(error))
            with self._lock:
                self._failed[name] = (key, _short(error), time.monotonic())
            raise
        with self._lock:
            kept = self._kept.get(name)
            if kept is None or kept[0][0] <= key[0] or kept[0][1] != key[1]:  # never replace a newer state's
                self._kept[name] = (key, value)
            self._failed.pop(name, None)
        return value

    def shutdown(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def _short(error: Exception) -> str:
    text = str(getattr(error, "description", "") or error) or type(error).__name__
    text = text.split(": ", 1)[1] if text[:3].isdigit() and ": " in text else text  # "503 Service …: why"
    return text.split(". ", 1)[0].rstrip(".")


def figures(name: str, depends_on: tuple, function, *args) -> Figures:
    """``function(store, *args)`` (marked :func:`works_out`) for the app's store, as a page shows it."""
    app = current_app
    store = app.extensions["yokuryu.store"]
    executor = app.extensions["yokuryu.executor"]
    if not getattr(executor, "runs_work_outs", False):  # a remote store: asked every time
        return Figures(function(store, *args), True, store.changed_at)
    keeper = app.extensions.get("yokuryu.figures")
    if keeper is None:
        with _creating:
            keeper = app.extensions.get("yokuryu.figures")
            if keeper is None:
                keeper = app.extensions["yokuryu.figures"] = FigureKeeper(store, executor, _wait())
    return keeper.get(name, depends_on, WorkOut.of(function, *args))


_creating = threading.Lock()


def _wait() -> float:
    raw = os.environ.get("YOKURYU_FIGURES_WAIT", "2")
    try:
        return max(0.0, float(raw))
    except ValueError:
        log.warning("YOKURYU_FIGURES_WAIT=%r is not a number of seconds; waiting 2 s", raw)
        return 2.0
