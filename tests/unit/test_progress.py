"""The progress model (harness/common/progress.py), mmdebstrap's phase table, and the views:
plain lines with a shortened interval, and rich's live display on a forced terminal."""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli import options, progress_view
from harness.cli.progress_view import Mode, PlainView
from harness.common import progress
from harness.common.progress import (
    CellFinished,
    Event,
    StageAdvanced,
    StageEnded,
    StageKind,
    StageStarted,
)
from harness.errors import InputError, InvalidInputFile
from harness.images.bootstrap_phases import Phases, load_phases


@pytest.fixture
def events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    with progress.reporting(seen.append):
        yield seen


# The model ---------------------------------------------------------------------------------


def test_a_stage_reports_its_start_steps_and_one_end(events: list[Event]) -> None:
    with progress.stage(StageKind.BUILD, "a: healthy with gcc", total=2) as step:
        step.advance(1, note="auditing")
        step.end()
        step.end()  # a second end, and the block's, report nothing
    started, advanced, ended = events
    assert isinstance(started, StageStarted) and started.stage.label == "a: healthy with gcc"
    assert isinstance(advanced, StageAdvanced)
    assert (advanced.done, advanced.total, advanced.note) == (1, 2, "auditing")
    assert isinstance(ended, StageEnded) and ended.ok and ended.seconds >= 0
    assert started.stage == advanced.stage == ended.stage


def test_a_block_that_raises_ends_its_stage_failed(events: list[Event]) -> None:
    with pytest.raises(RuntimeError), progress.stage(StageKind.OPEN, "venv"):
        raise RuntimeError("pip failed")
    assert isinstance(events[-1], StageEnded) and not events[-1].ok


def test_cells_count_failures_by_verdict_most_frequent_first(events: list[Event]) -> None:
    with progress.stage(StageKind.CELLS, "call-once", total=5, done=1) as step:
        for number, verdict in enumerate(["segfault", "pass", "abort", "segfault"]):
            step.cell(f"c#{number}", verdict)
    cells = [e for e in events if isinstance(e, CellFinished)]
    assert [c.done for c in cells] == [2, 3, 4, 5]  # counted on from the cells done before
    assert cells[-1].failures == (("segfault", 2), ("abort", 1))
    assert cells[-1].failed == 3 and cells[-1].total == 5
    assert cells[1].failures == (("segfault", 1),)
    # A resumed stage says first how far it already is.
    assert isinstance(events[1], StageAdvanced) and events[1].done == 1


def test_without_a_view_reports_go_nowhere_and_a_view_is_put_back() -> None:
    with progress.stage(StageKind.DOWNLOAD, "numpy") as step:  # nobody listens: no error
        step.advance(1, 1)
    outer: list[Event] = []
    inner: list[Event] = []
    with progress.reporting(outer.append):
        with progress.reporting(inner.append):
            progress.stage(StageKind.BUILD, "x").end()
        progress.stage(StageKind.BUILD, "y").end()
    assert [e.stage.label for e in inner] == ["x", "x"]
    assert [e.stage.label for e in outer] == ["y", "y"]


def test_labels_name_a_few() -> None:
    assert progress.few(["a", "b"]) == "a, b"
    assert progress.few(["a", "b", "c", "d", "e"]) == "a, b, c and 2 more"


def test_stages_get_distinct_numbers(events: list[Event]) -> None:
    first = progress.stage(StageKind.OPEN, "same")
    second = progress.stage(StageKind.OPEN, "same")
    assert first.stage.number != second.stage.number


# mmdebstrap's phases -----------------------------------------------------------------------

# What mmdebstrap 1.3.5 printed (stdout and stderr) bootstrapping bookworm with
# `--variant=essential --customize-hook=true --format=tar`, less apt's Get/Hit lines.
MMDEBSTRAP_OUTPUT = """\
I: automatically chosen mode: root
I: chroot architecture amd64 is equal to the host's architecture
I: finding correct signed-by value...
I: using /tmp/mmdebstrap.ANolYNx4_Z as tempdir
I: running apt-get update...
I: downloading packages with apt...
I: extracting archives...
I: installing essential packages...
I: running --customize-hook directly: true /tmp/mmdebstrap.ANolYNx4_Z
I: cleaning package lists and apt cache...
I: creating tarball...
I: done
I: removing tempdir /tmp/mmdebstrap.ANolYNx4_Z...
I: success in 50.9034 seconds
"""


def test_the_shipped_phases_follow_mmdebstraps_lines_in_order() -> None:
    phases = load_phases()
    found = [m for line in MMDEBSTRAP_OUTPUT.splitlines() if (m := phases.match(line))]
    numbers = [number for number, _ in found]
    assert numbers == sorted(numbers) and len(numbers) == 7
    assert found[0][1].name == "updating package lists"
    assert found[-1][0] == len(phases.phases)  # the tarball is the last phase
    remaining = phases.match("I: installing remaining packages inside the chroot...")
    assert remaining is not None and remaining[0] == 5  # with --include, after the essential
    assert phases.match("Get:1 http://deb.debian.org/debian bookworm InRelease") is None


def test_a_bad_phase_table_names_the_file_and_the_keys(tmp_path: Path) -> None:
    table = tmp_path / "progress.toml"
    table.write_text(
        '[[mmdebstrap.phases]]\npattern = "(unclosed"\nname = "x"\n'
        '[[mmdebstrap.phases]]\nname = "y"\ncolour = "red"\n'
    )
    with pytest.raises(InvalidInputFile) as raised:
        Phases.from_file(table)
    text = str(raised.value)
    assert str(table) in text
    assert "mmdebstrap.phases[0].pattern" in text and "regular expression" in text
    assert "mmdebstrap.phases[1].pattern" in text and "mmdebstrap.phases[1].colour" in text
    table.write_text("[mmdebstrap]\n")
    with pytest.raises(InvalidInputFile, match=r"mmdebstrap\.phases"):
        Phases.from_file(table)


# The plain view ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_for_stages_and_cells_every_interval() -> None:
    out = io.StringIO()
    clock = Clock()
    with progress.reporting(PlainView(out, interval=30, clock=clock)):
        with progress.stage(StageKind.BOOTSTRAP, "wheelclash/target:debian-bookworm", 8) as b:
            b.advance(3, note="extracting archives")  # no line: only starts and ends
        with progress.stage(StageKind.CELLS, "call-once", total=4) as cells:
            cells.cell("c1", "pass")  # within 30 s of the start: no line
            clock.now += 31
            cells.cell("c2", "segfault")  # a line
            clock.now += 10
            cells.cell("c3", "pass")  # 10 s after the last line: none
            clock.now += 30
            cells.cell("c4", "abort")  # a line
    lines = out.getvalue().splitlines()
    assert all(line.startswith("wheelclash: ") for line in lines)
    text = [line.removeprefix("wheelclash: ") for line in lines]
    assert text[0] == "bootstrap wheelclash/target:debian-bookworm: started"
    assert text[1].startswith("bootstrap wheelclash/target:debian-bookworm: done in ")
    assert text[1].endswith(" s")
    assert text[2] == "cells call-once: started (4 cells)"
    assert text[3].startswith("cells: 2/4 (50%), 1 failed (1 segfault), ")
    assert text[4].startswith("cells: 4/4 (100%), 2 failed (1 abort, 1 segfault), ")
    assert text[5].startswith("cells call-once: done in ")
    assert text[5].endswith("(4/4, 2 failed (1 abort, 1 segfault))")
    assert len(text) == 6


def test_a_tick_gives_a_cells_line_when_no_cell_has_finished_for_an_interval() -> None:
    """Cells that take long (a hang runs to its timeout) still get a line every interval."""
    out = io.StringIO()
    clock = Clock()
    view = PlainView(out, interval=30, clock=clock)
    with progress.reporting(view):
        cells = progress.stage(StageKind.CELLS, "slow", total=3, done=1)  # resumed: 1 done
        progress.stage(StageKind.BUILD, "a").end()  # other stages get no ticks
        view.tick()  # nothing yet: the stage started under 30 s ago
        clock.now += 31
        view.tick()
        view.tick()  # the line just came: not again
        clock.now += 30
        cells.cell("c2", "hang")
        clock.now += 30
        view.tick()
        cells.end()
        clock.now += 60
        view.tick()  # ended: no more lines
    lines = [line.removeprefix("wheelclash: ") for line in out.getvalue().splitlines()]
    assert lines[3:] == [
        # No pace yet: the cell done was done before this run.
        "cells: 1/3 (33%), no failures, 31.0 s elapsed",
        "cells: 2/3 (67%), 1 failed (1 hang), 1 min 1 s elapsed, about 1 min 1 s left",
        "cells: 2/3 (67%), 1 failed (1 hang), 1 min 31 s elapsed, about 1 min 31 s left",
        lines[-1],
    ]
    assert lines[-1].startswith("cells slow: done in ") and lines[-1].endswith(
        "(2/3, 1 failed (1 hang))"
    )


def test_the_plain_view_ticks_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(progress_view.INTERVAL_VARIABLE, "0.05")
    out = io.StringIO()
    with (
        progress_view.shown(Mode.PLAIN, console=Console(file=out)),
        progress.stage(StageKind.CELLS, "stuck", total=2),
    ):
        deadline = time.monotonic() + 10
        while "cells: 0/2" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "wheelclash: cells: 0/2 (0%), no failures, " in out.getvalue()


def test_a_zero_interval_gives_a_line_per_cell_and_a_failed_stage_says_so() -> None:
    out = io.StringIO()
    with progress.reporting(PlainView(out, interval=0)):
        with progress.stage(StageKind.CELLS, "x", total=2) as cells:
            cells.cell("c1", "pass")
            cells.cell("c2", "pass")
        progress.stage(StageKind.OPEN, "container debian:trixie").end(ok=False)
    lines = out.getvalue().splitlines()
    assert sum(line.startswith("wheelclash: cells: ") for line in lines) == 2
    assert lines[-1].startswith("wheelclash: open container debian:trixie: failed after ")


def test_the_interval_comes_from_the_environment_or_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(progress_view.INTERVAL_VARIABLE, raising=False)
    assert progress_view.plain_interval() == 30.0
    monkeypatch.setenv(progress_view.INTERVAL_VARIABLE, "0.5")
    assert progress_view.plain_interval() == 0.5
    for bad in ("soon", "-1", "inf"):
        monkeypatch.setenv(progress_view.INTERVAL_VARIABLE, bad)
        with pytest.raises(InputError, match=progress_view.INTERVAL_VARIABLE):
            progress_view.plain_interval()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.04, "0.0 s"), (4.25, "4.2 s"), (59.9, "59.9 s"), (260, "4 min 20 s"), (3720, "1 h 2 min")],
)
def test_durations(seconds: float, shown: str) -> None:
    assert progress_view.duration(seconds) == shown


def test_auto_is_tty_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_view.resolve(Mode.AUTO, Terminal()) is Mode.TTY
    assert progress_view.resolve(Mode.AUTO, io.StringIO()) is Mode.PLAIN
    assert progress_view.resolve(Mode.NONE, Terminal()) is Mode.NONE


# The live view -----------------------------------------------------------------------------


def test_the_live_view_on_a_forced_terminal_shows_each_stage() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with progress_view.shown(Mode.TTY, console=console):
        with progress.stage(StageKind.BOOTSTRAP, "wheelclash/target:debian-trixie", 8) as b:
            b.advance(2, note="downloading packages")
        with progress.stage(StageKind.BUILD, "a: call_once with gcc-14 on trixie", 2):
            pass
        with progress.stage(StageKind.CELLS, "call-once", total=3) as cells:
            cells.cell("c1", "segfault")
            cells.cell("c2", "pass")
            cells.cell("c3", "pass")
    shown = out.getvalue()
    assert "\x1b[" in shown  # a terminal's escapes: rich drew it live
    for text in (
        "bootstrap",
        "wheelclash/target:debian-trixie",
        "build",
        "a: call_once with gcc-14 on trixie",
        "cells",
    ):
        assert text in shown
    # Each ended stage leaves a line, the cells with their failures.
    assert "call-once: done in" in shown
    assert "(3/3, 1 failed (1 segfault))" in shown


def test_none_shows_nothing() -> None:
    out = io.StringIO()
    with progress_view.shown(Mode.NONE, console=Console(file=out, force_terminal=True)):
        progress.stage(StageKind.BUILD, "a").end()
    assert out.getvalue() == ""


# The options -------------------------------------------------------------------------------


def _parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_progress(parser)
    return parser.parse_args(argv)


def test_progress_options() -> None:
    assert options.progress_mode(_parsed()) is Mode.AUTO
    assert options.progress_mode(_parsed("--progress", "plain")) is Mode.PLAIN
    assert options.progress_mode(_parsed("-q")) is Mode.NONE
    assert options.progress_mode(_parsed("--quiet", "--progress", "tty")) is Mode.NONE
    with pytest.raises(SystemExit):
        _parsed("--progress", "loud")


# Screening's stage -------------------------------------------------------------------------


def test_a_stage_that_finds_more_work_grows_its_total(events: list[Event]) -> None:
    with progress.stage(StageKind.SCREEN, "corpus, groups of up to 4", total=3) as step:
        step.cell("screen-1 local a,b,c,d", "segfault")
        step.grow(1)  # a split's cell
        step.cell("screen-1 local a,b", "segfault")
        step.grow(-1)  # the reverse of the failing sequence will not run
        step.cell("screen-2 local a,b,e,f", "pass")
    finished = [e for e in events if isinstance(e, CellFinished)]
    assert [(e.done, e.total) for e in finished] == [(1, 3), (2, 4), (3, 3)]
    grown = [e for e in events if isinstance(e, StageAdvanced)]
    assert [(e.done, e.total) for e in grown] == [(1, 4), (2, 3)]
    assert finished[-1].failures == (("segfault", 2),)
    # a total never falls below what is done
    with progress.stage(StageKind.SCREEN, "x", total=1) as step:
        step.cell("c", "pass")
        step.grow(-5)
    last = [e for e in events if isinstance(e, StageAdvanced)][-1]
    assert (last.done, last.total) == (1, 1)


def test_plain_lines_for_screening_follow_its_grown_total() -> None:
    out = io.StringIO()
    clock = Clock()
    with (
        progress.reporting(PlainView(out, interval=30, clock=clock)),
        progress.stage(StageKind.SCREEN, "fixtures, groups of up to 4", total=8) as step,
    ):
        step.cell("g1", "pass")
        clock.now += 31
        step.cell("g2", "segfault")  # a line: 2 of 8
        step.grow(2)
        step.cell("g3", "segfault")
        clock.now += 31
        step.cell("g4", "pass")  # a line: 4 of 10
        step.grow(-6)
    text = [line.removeprefix("wheelclash: ") for line in out.getvalue().splitlines()]
    assert text[0] == (
        "screen fixtures, groups of up to 4: started (8 group cells before any split)"
    )
    assert text[1].startswith("screen: 2/8 (25%), 1 failed (1 segfault), 31.0 s elapsed, ")
    assert "about 1 min 33 s left" in text[1]
    assert text[2].startswith("screen: 4/10 (40%), 2 failed (2 segfault), 1 min 2 s elapsed")
    assert text[3].startswith("screen fixtures, groups of up to 4: done in ")
    assert text[3].endswith("(4/4, 2 failed (2 segfault))")
    assert len(text) == 4


def test_the_live_view_shows_screening_with_its_count() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with (
        progress_view.shown(Mode.TTY, console=console),
        progress.stage(StageKind.SCREEN, "fixtures, groups of up to 4", total=3) as step,
    ):
        step.cell("g1", "segfault")
        step.grow(1)  # a split's cell
        step.cell("g2", "pass")
        step.cell("g3", "pass")
        step.grow(-1)  # a group's own cell that did not run: the failures stay shown
    shown = out.getvalue()
    assert "\x1b[" in shown and "screen" in shown
    assert "fixtures, groups of up to 4: done in" in shown
    assert "(3/3, 1 failed (1 segfault))" in shown


def test_lines_on_a_terminals_stdout_go_above_the_live_display(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Screening prints a line per group on stdout while its stage is live: on a terminal
    they go above the display; a stdout that is no terminal (--json into a pipe) is left
    alone."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stdout, moved in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr("sys.stdout", stdout)
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=160)
        with (
            progress_view.shown(Mode.TTY, console=console),
            progress.stage(StageKind.SCREEN, "fixtures", total=1) as step,
        ):
            sys.stdout.write("screen 1/1: screen-1 (4 wheels), 8 cells: local pass\n")
            step.cell("g1", "pass")
        said = "screen 1/1: screen-1 (4 wheels)"
        assert (said in out.getvalue()) is moved
        assert (said in stdout.getvalue()) is not moved
