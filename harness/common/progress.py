"""What the pipeline is doing, as events a view can show: the progress *model*.

The stages that take long (downloading wheels, bootstrapping an image, building a wheel,
opening a container with its wheel set, screening groups of wheels, running the cells)
report here and know nothing of how it is shown. A view (`harness/cli/progress_view.py`)
subscribes with `reporting(...)`; without one every report goes nowhere, so library use and
tests print nothing.

    with progress.stage(StageKind.BUILD, "a: call_once with gcc-12") as step:
        step.advance(1, 3, "compiling")
    # ended here (failed, when the block raised)

Events are frozen values; a view may get them from several threads at once (`-j N`), so a
view that keeps state locks it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Final

from harness.common.verdicts import Verdict


class StageKind(StrEnum):
    """The long steps of a run, in pipeline order."""

    DOWNLOAD = "download"  # pip download of requirements into a wheelhouse
    BOOTSTRAP = "bootstrap"  # an image from the Debian mirror with mmdebstrap
    BUILD = "build"  # one wheel in its builder
    OPEN = "open"  # a container or venv with the wheel set installed
    SCREEN = "screen"  # screening's group and split cells (`atlas --screen`)
    CELLS = "cells"  # the run's cells


# Stages that count cells as they end (`Step.cell`): views show their counts and pace.
COUNTED: Final = frozenset({StageKind.SCREEN, StageKind.CELLS})


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage as it started: `number` tells apart stages of one kind and label."""

    number: int
    kind: StageKind
    label: str
    total: int | None  # how many steps, when known, as it started (`Step.grow` changes it)
    started: float  # time.monotonic()


@dataclass(frozen=True, kw_only=True)
class StageStarted:
    stage: Stage


@dataclass(frozen=True, kw_only=True)
class StageAdvanced:
    stage: Stage
    done: int
    total: int | None
    note: str  # what it is doing now ("downloading packages"), or ''


@dataclass(frozen=True, kw_only=True)
class StageEnded:
    stage: Stage
    seconds: float
    ok: bool


@dataclass(frozen=True, kw_only=True)
class CellFinished:
    """A cell of a CELLS stage ended; `failures` counts the cells so far by verdict, every
    verdict but pass, most frequent first."""

    stage: Stage
    cell: str
    verdict: str
    done: int
    total: int
    failures: tuple[tuple[str, int], ...]

    @property
    def failed(self) -> int:
        return sum(count for _, count in self.failures)


Event = StageStarted | StageAdvanced | StageEnded | CellFinished
Reporter = Callable[[Event], None]


def _ignore(event: Event) -> None:
    """The default reporter: nobody is watching."""


_reporter: Reporter = _ignore
_numbers = itertools.count(1)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send every event to `reporter` while the block runs (one view per process)."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = previous


def report(event: Event) -> None:
    _reporter(event)


class Step:
    """A stage under way. It reports its start when made and its end once: at `end()`, or
    when the `with` block it heads ends (failed, when the block raised)."""

    def __init__(self, kind: StageKind, label: str, total: int | None, done: int = 0) -> None:
        self.stage = Stage(
            number=next(_numbers), kind=kind, label=label, total=total, started=time.monotonic()
        )
        self.done = done
        self.total = total
        self._ended = False
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        report(StageStarted(stage=self.stage))
        if done:
            report(StageAdvanced(stage=self.stage, done=done, total=total, note=""))

    def advance(self, done: int, total: int | None = None, note: str = "") -> None:
        """`done` of `total` steps (the stage's own total when not given)."""
        with self._lock:
            self.done = done
            shown = self.total if total is None else total
        report(StageAdvanced(stage=self.stage, done=done, total=shown, note=note))

    def grow(self, by: int) -> None:
        """The stage's total changed by `by` steps (more when a stage finds work as it goes,
        as screening's splits do; fewer for steps it no longer needs)."""
        with self._lock:
            self.total = max((self.total or 0) + by, self.done)
            done, total = self.done, self.total
        report(StageAdvanced(stage=self.stage, done=done, total=total, note=""))

    def cell(self, cell: str, verdict: str) -> None:
        """One more cell of this stage ended with `verdict`."""
        with self._lock:
            self.done += 1
            if verdict != Verdict.PASS:
                self._failures[verdict] = self._failures.get(verdict, 0) + 1
            failures = tuple(sorted(self._failures.items(), key=lambda item: (-item[1], item[0])))
            done = self.done
            total = max(self.total or done, done)
        report(
            CellFinished(
                stage=self.stage,
                cell=cell,
                verdict=verdict,
                done=done,
                total=total,
                failures=failures,
            )
        )

    def end(self, ok: bool = True) -> None:
        """Report the stage's end; later calls do nothing."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
        seconds = time.monotonic() - self.stage.started
        report(StageEnded(stage=self.stage, seconds=seconds, ok=ok))

    def __enter__(self) -> Step:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end(ok=kind is None)


def few(names: Sequence[str], most: int = 3) -> str:
    """Names for a label: `a, b, c`, or `a, b, c and 7 more`."""
    shown = ", ".join(names[:most])
    return f"{shown} and {len(names) - most} more" if len(names) > most else shown


def stage(kind: StageKind, label: str, total: int | None = None, done: int = 0) -> Step:
    """Start a stage now; use it as a context manager, or call `end()`."""
    return Step(kind, label, total, done)
