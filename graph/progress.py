"""Progress of a long build: each stage with its count, time and rate, on a terminal only.

``yokuryu build`` passes :func:`terminal_progress`; everything else (tests, the server, a build
whose output goes to a file or a pipe, ``-q``) gets a silent :class:`Progress`, which only keeps
the timings (``bench/build.py`` reads them).
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field


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


class Progress:
    """Stages as they run; ``timings`` keeps (name, count, unit, seconds) for benchmarks."""

    def __init__(self, show: bool = False, stream=None):
        self.show = show
        self.stream = stream or sys.stderr
        self.timings: list[tuple[str, int, str, float]] = []

    @contextmanager
    def stage(self, name: str, unit: str = "triples"):
        stage = Stage(name, unit)
        if self.show:
            # The stage's line while it runs, rewritten in place with its result when it ends.
            self.stream.write(f"\r{name:<9} …")
            self.stream.flush()
        try:
            yield stage
        finally:
            seconds = time.monotonic() - stage.started
            self.timings.append((name, stage.count, unit, seconds))
            if self.show:
                rate = f"{stage.count / seconds:>12,.0f} {unit}/s" if seconds > 0 else ""
                self.stream.write(f"\r{name:<9}{stage.count:>12,} {unit:<8}{seconds:>8.2f} s{rate}\n")
                self.stream.flush()


def terminal_progress(quiet: bool = False, stream=None) -> Progress:
    """Visible progress when ``stream`` (standard error) is a terminal and not ``quiet``."""
    stream = stream or sys.stderr
    return Progress(show=not quiet and stream.isatty(), stream=stream)
