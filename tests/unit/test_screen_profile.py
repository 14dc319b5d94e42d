"""Screening runs each wheel alone once, first (`profile`): which victims' modules its import
loads itself, so that the global modes' searches know the wheels that load one between a
pair's two, where it mends a pair that breaks that victim (scikit-learn imports ssl, and
mends numpy then rasterio, which break `_ssl` in global-all). Driven by scripted runs of the
real search code (harness/run/screen.py); the real cells are the atlas's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.common.ids import GLOBAL_ALL, LOCAL
from harness.common.verdicts import Verdict
from harness.run.screen import Screening, _Known, expose, profile, screen_mode
from harness.run.trials import Trial
from harness.scenario.plan import Cell
from harness.scenario.screen_groups import Group
from tests.unit.helpers import file_wheel

# sklearn imports ssl; ctypes_user imports ctypes; lightgbm imports sklearn when it is
# installed (in a cell: when it is in the cell); lightgbm then rasterio break _ssl (globally)
IMPORTS = {"sklearn": ("_ssl", "_hashlib"), "ctypes_user": ("_ctypes",)}
PULLS = {"lightgbm": "sklearn"}
BROKEN = {("lightgbm", "rasterio"): "_ssl"}
WHEELS = ("lightgbm", "rasterio", "sklearn", "ctypes_user", "pandas", "numpy", "lxml")
STEPS = {f"import {w}": w for w in WHEELS}


@dataclass
class Scripted:
    """A `Runs` whose cells behave as the module's tables say."""

    dlopen: str
    trials: list[Trial] = field(default_factory=list)

    def run(self, order: tuple[str, ...]) -> Trial:
        loaded: list[tuple[str, tuple[str, ...]]] = []
        present: set[str] = set()
        for wheel in order:
            mine = IMPORTS.get(wheel, ())
            if PULLS.get(wheel) in order:
                mine += IMPORTS[PULLS[wheel]]
            new = tuple(m for m in mine if m not in present)
            if new:
                loaded.append((f"import {wheel}", new))
                present.update(new)
        verdict, step = Verdict.PASS, "victim _decimal"
        for (a, b), victim in BROKEN.items():
            if self.dlopen == GLOBAL_ALL and {a, b} <= set(order):
                before = order[: order.index(b)]
                mended = any(victim in m for step, m in loaded if step[7:] in before)
                if order.index(a) < order.index(b) and not mended:
                    verdict, step = Verdict.SEGFAULT, f"victim {victim}"
        cell = Cell(scenario="screen-1", target="t", arch="x86_64", dlopen=self.dlopen,
                    host="plain", order=order, repeat=len(self.trials) + 1)  # fmt: skip
        trial = Trial(cell=cell, verdict=verdict, subkind=None, detail="", step=step,
                      loaded=tuple(loaded))  # fmt: skip
        self.trials.append(trial)
        return trial


GROUP = Group(name="screen-1", wheels=("lightgbm", "sklearn", "ctypes_user", "rasterio", "pandas"))


def test_each_wheel_runs_alone_once_and_its_victims_are_known() -> None:
    known = _Known()
    runs = Scripted(LOCAL)
    assert profile(GROUP, LOCAL, runs, known, STEPS) == GROUP.wheels
    assert [t.order for t in runs.trials] == [(w,) for w in GROUP.wheels]
    assert known.victims().loads == {
        "lightgbm": frozenset(),  # alone: no sklearn to import
        "sklearn": frozenset({"_ssl", "_hashlib"}),
        "ctypes_user": frozenset({"_ctypes"}),
        "rasterio": frozenset(),
        "pandas": frozenset(),
    }
    # each passed alone locally: no run alone again in the local search
    assert known.ledger(LOCAL).passed == frozenset(GROUP.wheels)
    # a group sharing wheels with it runs only its own new ones alone
    other = Group(name="screen-2", wheels=("lightgbm", "lxml"))
    more = Scripted(LOCAL)
    assert profile(other, LOCAL, more, known, STEPS) == ("lxml",)
    assert [t.order for t in more.trials] == [("lxml",)]


def test_a_pair_mended_by_a_wheel_importing_ssl_is_found_in_global_all() -> None:
    known = _Known(exposed={"rasterio": frozenset({"_ssl", "_hashlib"})})
    profile(GROUP, LOCAL, Scripted(LOCAL), known, STEPS)
    mode = screen_mode(GROUP, GLOBAL_ALL, Scripted(GLOBAL_ALL), known, STEPS)
    assert mode.pairs == (("lightgbm", "rasterio"),)
    # lightgbm's first cell held sklearn, which lightgbm's import then imported: it passed
    # and said nothing of rasterio; the next lightgbm cell, without sklearn, failed
    first = [t for t in mode.own if t.order[0] == "lightgbm"]
    assert "sklearn" in first[0].order and first[0].verdict == Verdict.PASS
    assert "sklearn" not in first[1].order and first[1].verdict == Verdict.SEGFAULT


def test_not_knowing_what_rasterio_exposes_the_pair_passes_as_clean() -> None:
    # what screening did before: lightgbm's cell imports sklearn, which mends the pair
    known = _Known()
    profile(GROUP, LOCAL, Scripted(LOCAL), known, STEPS)
    mode = screen_mode(GROUP, GLOBAL_ALL, Scripted(GLOBAL_ALL), known, STEPS)
    assert mode.pairs == ()


def test_the_record_lists_each_wheels_victims() -> None:
    known = _Known()
    profile(GROUP, LOCAL, Scripted(LOCAL), known, STEPS)
    record = Screening(
        group_size=5, wheels=GROUP.wheels, groups=(), wall_s=0.0, loads=known.victims().loads
    ).to_json()
    assert record["victims_loaded"]["sklearn"] == ["_hashlib", "_ssl"]
    assert record["victims_loaded"]["lightgbm"] == []


def test_a_wheel_whose_file_cannot_be_read_exposes_nothing_and_stops_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip file")
    known = _Known()
    expose([file_wheel(broken, "broken", "broken")], ["broken"], known)
    assert known.exposed == {"broken": frozenset()}
