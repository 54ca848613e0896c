"""Progress of a long build: each stage with its count, time and rate, on a terminal only.

``yokuryu build`` passes :func:`terminal_progress`; everything else (tests, the server, a build
whose output goes to a file or a pipe, ``-q``) gets a silent :class:`Progress`, which only keeps
the timings (``bench/build.py`` reads them).

On a terminal each stage is a tqdm line: while the stage runs its clock ticks (the work itself
happens inside pyoxigraph, which cannot report as it goes, so a ticking clock is what tells a
person that a long validation is alive); when it ends the line shows the count and the rate.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
# What each stage does, for `yokuryu -v` (whichever engine runs it).
STEPS = {
    "parse": "parsing the ontology, shapes, source documents and data",
    "load": "loading the asserted triples into the engine",
    "validate": "validating against the shapes (SHACL)",
    "reason": "reasoning: the OWL 2 RL closure",
    "rules": "running the treaty-violation rules",
    "describe": "describing the dataset (VoID) and naming blank nodes",
    "store": "storing the build",
}
# How often a running stage's clock is redrawn on a terminal.
TICK_SECONDS = 0.5


@dataclass
class Stage:
    """One running stage; set ``count`` (or call ``advance``) as work is done."""

    name: str
    unit: str
    count: int = 0
    started: float = field(default_factory=time.monotonic)

    def advance(self, n: int = 1) -> None:
        self.count += n

    def done(self, count: int) -> None:
        """The stage's final count (for steps that cannot report as they go)."""
        self.advance(count - self.count)


@dataclass
class Timing:
    """A finished stage: its count, wall-clock seconds, CPU seconds (this process, all threads)
    and the process's peak resident memory so far (MiB; 0 where the platform does not say)."""

    name: str
    count: int
    unit: str
    seconds: float
    cpu_seconds: float
    peak_mib: float = 0.0


class Progress:
    """Stages as they run; ``timings`` keeps a :class:`Timing` per stage, for benchmarks."""

    def __init__(self, show: bool = False, stream=None):
        self.show = show
        self.stream = stream or sys.stderr
        self.timings: list[Timing] = []

    @contextmanager
    def stage(self, name: str, unit: str = "triples"):
        stage = Stage(name, unit)
        cpu_started = time.process_time()
        log.info("%s", STEPS.get(name, name))
        display = _Line(name, unit, self.stream) if self.show else None
        failed = True
        try:
            yield stage
            failed = False
        finally:
            seconds = time.monotonic() - stage.started
            self.timings.append(Timing(name, stage.count, unit, seconds, time.process_time() - cpu_started, _peak_mib()))
            log.info("%s: %d %s in %.2f s%s", name, stage.count, unit, seconds, " (stopped)" if failed else "")
            if display is not None:
                display.close(stage.count, failed=failed)


class _Line:
    """A stage's line on the terminal: tqdm draws it, a small thread keeps its clock ticking."""

    def __init__(self, name: str, unit: str, stream):
        from tqdm import tqdm

        # Running: the stage and its clock; ended: its count, time and rate.
        self.bar = tqdm(desc=f"{name:<9}", unit=f" {unit}", unit_scale=True, file=stream, leave=True,
                        bar_format="{desc}" + " " * 17 + " {elapsed_s:6.1f} s …", mininterval=0,
                        **({} if _width(stream) else {"ncols": 80, "nrows": 24}))
        self.stopped = threading.Event()
        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def _tick(self) -> None:
        while not self.stopped.wait(TICK_SECONDS):
            self.bar.refresh()

    def close(self, count: int, failed: bool = False) -> None:
        self.stopped.set()
        self.ticker.join()
        # A stage that raised (a file that does not parse…) says so; the error follows on its own line.
        self.bar.bar_format = ("{desc}" + " " * 17 + " {elapsed_s:6.1f} s  stopped" if failed
                               else "{desc}{n_fmt:>8}{unit:<9} {elapsed_s:6.1f} s  {rate_fmt}")
        self.bar.n = count
        self.bar.refresh()
        self.bar.close()


def _peak_mib() -> float:
    try:
        import resource
    except ImportError:  # not on Windows
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _width(stream) -> int:
    """The terminal's width, 0 when it does not say (a fresh pseudo-terminal reports 0 columns and
    0 rows, and tqdm hides a line on a screen 0 rows high)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def terminal_progress(quiet: bool = False, stream=None) -> Progress:
    """Visible progress when ``stream`` (standard error) is a terminal and not ``quiet``."""
    stream = stream or sys.stderr
    return Progress(show=not quiet and stream.isatty(), stream=stream)
