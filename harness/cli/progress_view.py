"""How progress is shown (the view of `harness/common/progress.py`'s events), always on stderr.

- `tty`: a live display made with rich: one row per stage under way, with its count, elapsed
  time and ETA, and the cells (screening's and the run's) with their failures so far by
  verdict; a line stays behind for each stage that ended.
- `plain` (CI logs): a line when a stage starts, one when it ends with its duration, and a
  line on the cells of screening and of the run every `[plain] interval` seconds
  (resources/progress.toml; WHEELCLASH_PROGRESS_INTERVAL overrides it).
- `none` (`-q`): nothing.
- `auto`: `tty` when stderr is a terminal, else `plain`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness import paths
from harness.common import progress
from harness.common.progress import (
    COUNTED,
    CellFinished,
    Event,
    Stage,
    StageAdvanced,
    StageEnded,
    StageKind,
    StageStarted,
)
from harness.errors import InputError
from harness.scenario.tomlload import Checker, read_toml

INTERVAL_VARIABLE: Final = "WHEELCLASH_PROGRESS_INTERVAL"
PREFIX: Final = "wheelclash: "


class Mode(StrEnum):
    AUTO = "auto"
    TTY = "tty"
    PLAIN = "plain"
    NONE = "none"


def resolve(mode: Mode, stream: IO[str]) -> Mode:
    """`auto` made concrete: a live display on a terminal, plain lines elsewhere."""
    if mode is Mode.AUTO:
        return Mode.TTY if stream.isatty() else Mode.PLAIN
    return mode


def plain_interval(path: Path = paths.PROGRESS_TOML) -> float:
    """Seconds between two plain cell lines: WHEELCLASH_PROGRESS_INTERVAL, else the table's."""
    given = os.environ.get(INTERVAL_VARIABLE)
    if given is not None:
        try:
            seconds = float(given)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < float("inf"):
            raise InputError(
                f"{INTERVAL_VARIABLE}={given!r} is not a number of seconds; give one, e.g. 30 "
                "(0: a line after every cell), or unset it"
            )
        return seconds
    check = Checker(path)
    section = check.table(read_toml(path), "plain", "plain")
    seconds = check.number(section, "interval", "plain.interval", 30.0)
    check.raise_if_any()
    return seconds


def duration(seconds: float) -> str:
    """`4.2 s`, `4 min 20 s`, `1 h 2 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def failures_text(failures: tuple[tuple[str, int], ...]) -> str:
    """`no failures` or `3 failed (2 segfault, 1 abort)`."""
    if not failures:
        return "no failures"
    total = sum(count for _, count in failures)
    return f"{total} failed ({', '.join(f'{count} {verdict}' for verdict, count in failures)})"


# What a counted stage's start line says of its total.
_STARTED: Final = {
    StageKind.CELLS: " ({} cells)",
    StageKind.SCREEN: " ({} group cells before any split)",
}


def _name(stage: Stage) -> str:
    return f"{stage.kind} {stage.label}"


@dataclass(kw_only=True)
class _Watched:
    """A cells stage the plain view is following (its own, mutable, bookkeeping)."""

    stage: Stage
    began: float  # by the view's clock
    last_line: float
    total: int | None  # as last reported (screening's grows as splits are found)
    done: int = 0
    resumed: int = 0  # done before this run: not counted in its pace
    failures: tuple[tuple[str, int], ...] = ()


class PlainView:
    """Lines for a log: a stage's start and end, and a line on the cells every `interval`
    seconds, as cells finish or, when none does, as `tick()` is called (by `shown`)."""

    def __init__(
        self,
        stream: IO[str],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._cells: dict[int, _Watched] = {}  # stage number -> the cells stage under way

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._print(self._line(event))

    def tick(self) -> None:
        """A line on each cells stage that has had none for `interval` seconds."""
        with self._lock:
            now = self.clock()
            for watched in self._cells.values():
                self._print(self._due(watched, now))

    def _print(self, line: str | None) -> None:
        if line is not None:
            print(PREFIX + line, file=self.stream, flush=True)

    def _line(self, event: Event) -> str | None:
        now = self.clock()
        match event:
            case StageStarted(stage=stage):
                if stage.kind in COUNTED:
                    self._cells[stage.number] = _Watched(
                        stage=stage, began=now, last_line=now, total=stage.total
                    )
                return f"{_name(stage)}: started{_STARTED.get(stage.kind, '').format(stage.total)}"
            case StageAdvanced(stage=stage, done=done, total=total):
                watched = self._cells.get(stage.number)
                if watched is not None:
                    watched.total = total
                    if not watched.done:  # a resumed run's cells
                        watched.done = watched.resumed = done
                return None
            case CellFinished(stage=stage, done=done, total=total, failures=failures):
                watched = self._cells.get(stage.number)
                if watched is None:
                    return None
                watched.done, watched.total, watched.failures = done, total, failures
                return self._due(watched, now)
            case StageEnded(stage=stage, seconds=seconds, ok=ok):
                how = f"done in {duration(seconds)}" if ok else f"failed after {duration(seconds)}"
                ended = self._cells.pop(stage.number, None)
                more = ""
                if ended is not None:
                    more = f" ({ended.done}/{ended.total}, {failures_text(ended.failures)})"
                return f"{_name(stage)}: {how}{more}"
        return None

    def _due(self, watched: _Watched, now: float) -> str | None:
        """The cells line, when `interval` has passed since the stage's last line."""
        if now - watched.last_line < self.interval:
            return None
        watched.last_line = now
        done = watched.done
        total = max(watched.total or done, done)
        share = done / total if total else 0.0
        elapsed = now - watched.began
        text = f"{done}/{total} ({share:.0%}), {failures_text(watched.failures)}"
        text += f", {duration(elapsed)} elapsed"
        ran = done - watched.resumed
        if ran > 0 and done < total:
            text += f", about {duration(elapsed / ran * (total - done))} left"
        return f"{watched.stage.kind}: {text}"


@contextmanager
def _ticking(view: PlainView) -> Iterator[None]:
    """Call `view.tick()` every interval while the block runs (no thread for interval 0,
    when every cell gets its line anyway)."""
    if view.interval <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(view.interval):
            view.tick()

    ticker = threading.Thread(target=beat, name="wheelclash-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()


class LiveView:
    """A rich live display: a row per stage under way; a line left behind as each ends."""

    def __init__(self, console: Console, *, stdout_too: bool = False) -> None:
        """`stdout_too`: what is printed on stdout goes above the display, as log lines do
        (for a stdout on the same terminal, where it would break the display; never for a
        stdout that is a file or pipe, which stays the program's output alone)."""
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[kind]:<9}"),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            redirect_stdout=stdout_too,
            redirect_stderr=True,
            refresh_per_second=4,
        )
        self._lock = threading.Lock()
        self._tasks: dict[int, TaskID] = {}

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._show(event)

    def _show(self, event: Event) -> None:
        match event:
            case StageStarted(stage=stage):
                self._tasks[stage.number] = self.progress.add_task(
                    stage.label, total=stage.total, kind=str(stage.kind), note=""
                )
            case StageAdvanced(stage=stage, done=done, total=total, note=note):
                if stage.number in self._tasks:
                    under_way = self._tasks[stage.number]
                    self.progress.update(under_way, completed=done, total=total)
                    if note or stage.kind not in COUNTED:  # a counted stage's note: failures
                        self.progress.update(under_way, note=note)
            case CellFinished(stage=stage, done=done, total=total, failures=failures):
                if stage.number in self._tasks:
                    self.progress.update(
                        self._tasks[stage.number],
                        completed=done,
                        total=total,
                        note=failures_text(failures),
                    )
            case StageEnded(stage=stage, seconds=seconds, ok=ok):
                task = self._tasks.pop(stage.number, None)
                note = ""
                if task is not None:
                    found = [t for t in self.progress.tasks if t.id == task]
                    if found and stage.kind in COUNTED:
                        done, size = int(found[0].completed), found[0].total
                        shown = stage.total if size is None else int(size)
                        note = f" ({done}/{shown}, {found[0].fields['note']})"
                    self.progress.remove_task(task)
                mark = "[green]✓[/]" if ok else "[red]✗[/]"
                how = "done in" if ok else "failed after"
                self.progress.console.print(
                    f"{mark} [bold]{stage.kind}[/] {stage.label}: {how} {duration(seconds)}{note}",
                    highlight=False,
                )

    @contextmanager
    def live(self) -> Iterator[None]:
        """The display, running while the block does; log lines go above it meanwhile."""
        before = sys.stderr
        with self.progress:
            moved = _log_to(before, sys.stderr) if sys.stderr is not before else []
            try:
                yield
            finally:
                for handler, stream in moved:
                    handler.setStream(stream)


def _log_to(
    original: IO[str], stream: IO[str]
) -> list[tuple[logging.StreamHandler[IO[str]], IO[str]]]:
    """Point the root logger's handlers that write to `original` at `stream` (rich's proxy,
    which prints above the live display); what each wrote to before, to put back."""
    moved = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is original:
            previous = handler.setStream(stream)
            if previous is not None:
                moved.append((handler, previous))
    return moved


@contextmanager
def shown(mode: Mode, console: Console | None = None) -> Iterator[None]:
    """Show the pipeline's progress in `mode` on stderr (or on `console`) while the block runs."""
    stream = console.file if console is not None else sys.stderr
    match resolve(mode, stream):
        case Mode.NONE:
            yield
        case Mode.PLAIN:
            plain = PlainView(stream, plain_interval())
            with progress.reporting(plain), _ticking(plain):
                yield
        case Mode.TTY:
            view = LiveView(console or Console(stderr=True), stdout_too=sys.stdout.isatty())
            with view.live(), progress.reporting(view):
                yield
        case Mode.AUTO:  # resolved above
            raise AssertionError(mode)
