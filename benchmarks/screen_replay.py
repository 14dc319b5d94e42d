"""Screening (`wheelclash atlas --screen`) replayed on an exhaustive edition: what it would run
and find on that corpus, in seconds, with nothing run.

    .venv/bin/python benchmarks/screen_replay.py EXHAUSTIVE [--group-size K]
        [--loads SCREENED [--blind]]

EXHAUSTIVE is an edition (or results.json) made by `wheelclash atlas` without --screen. The
screening code itself (`screen_mode` of harness/run/screen.py, with its splits and partner
searches) runs on the corpus's groups one after the other, every cell it asks for answered
from the edition instead of run:

- a wheel loaded alone, or a pair, answers as its cell of the edition did (its first run);
- a cell of more wheels fails as the first failure among its wheels and its ordered pairs,
  placed by the step that failed (the import or exercise of a wheel: that wheel's place in
  the cell; a victim: after every wheel; an exit-crash: last). In global-first only the
  first wheel is global: the others, and the pairs of two of them, answer as in local mode.

So the replay knows no failure of three wheels, no masking by a wheel that mends another,
and no flake but those the edition's first runs show. With --loads (the results.json of a
screened run, whose `victims_loaded` says which victims' modules each wheel's import loads)
it knows one kind of mending: a pair failing at a victim passes when a wheel that loads that
victim's module is loaded before the pair's second wheel; the searches are told the loads and
which modules each wheel exposes (`victims_exposed`) as the real run tells them (--blind:
they are not, as before). It does not know a wheel whose import imports another of the cell
(lightgbm imports scikit-learn when it is there): each wheel loads what it loads alone.
It is a model, for trying screening's choices on a real corpus without its hour of runs; a
real `--screen` run and benchmarks/screen.py --compare measure the real thing.

Printed: screening's cells by kind (the groups' own cells, splits, the searches for the pairs
of wheels left out), the pair and singleton cells the atlas would then run (counted from the
edition's cells of those pairs, with their repeats and attribution runs), the total against
the edition's, and the edition's cross-wheel failures whose pair screening would not run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from harness.common.ids import GLOBAL_FIRST, LOCAL
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.evidence.results import CellResult, load_results
from harness.report.culprits import cross_wheel_pairs
from harness.run.screen import GroupScreen, ModeScreen, Screening, _Known, profile, screen_mode
from harness.run.trials import Trial
from harness.scenario.corpus import pair_name
from harness.scenario.plan import Cell
from harness.scenario.screen_groups import groups

MODES: Final = ("local", "global-all", "global-first")
VICTIM: Final = 0.5  # a victim step runs after every import and exercise, in this order
VICTIMS: Final = (
    "hashlib",
    "ssl",
    "sqlite3",
    "ctypes",
    "lzma",
    "bz2",
    "zlib",
    "pyexpat",
    "decimal",
)
EXIT: Final = 1.0  # an exit-crash, after the victims


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    subkind: ImportErrorKind | None
    step: str


@dataclass
class Oracle:
    """The edition's first run of each singleton and pair cell, by (mode, order), and each
    wheel's steps (its imports and exercise)."""

    first: dict[tuple[str, tuple[str, ...]], Answer]
    owner: dict[str, str]  # step -> the wheel whose step it is
    loads: dict[str, frozenset[str]] = field(default_factory=dict)  # --loads
    exposed: dict[str, frozenset[str]] = field(default_factory=dict)  # --loads

    def mended(self, answer: Answer, order: Sequence[str], late: str) -> bool:
        """Whether a failure at a victim is mended by a wheel loading its module before
        `late` (the pair's second wheel)."""
        module = answer.step.removeprefix("victim ")
        if module == answer.step:
            return False
        before = order[: list(order).index(late)]
        return any(module in self.loads.get(w, ()) for w in before)

    def place(self, answer: Answer, order: Sequence[str]) -> float:
        """Where in `order` a failure at `answer.step` happens."""
        if answer.verdict == Verdict.EXIT_CRASH:
            return len(order) + EXIT
        wheel = self.owner.get(answer.step)
        if wheel in order:
            return float(list(order).index(wheel))
        if answer.step.startswith("victim"):
            rank = next((i for i, v in enumerate(VICTIMS) if answer.step.endswith(v)), 0)
            return len(order) + VICTIM + rank / 100
        return -1.0

    def answer(self, dlopen: str, order: tuple[str, ...]) -> Answer:
        if len(order) <= 2:
            return self.first[(dlopen, order)]
        events: list[tuple[float, Answer]] = []
        for i, late in enumerate(order):
            single = GLOBAL_FIRST if dlopen == GLOBAL_FIRST and i == 0 else (
                LOCAL if dlopen == GLOBAL_FIRST else dlopen)  # fmt: skip
            events.append((0.0, self.first[(single, (late,))]))
            for j, early in enumerate(order[:i]):
                mode = LOCAL if dlopen == GLOBAL_FIRST and j > 0 else dlopen
                pair = self.first[(mode, (early, late))]
                if not self.mended(pair, order[j + 1 :], late):
                    events.append((0.0, pair))
        failed = [(self.place(a, order), a) for _, a in events if a.verdict != Verdict.PASS]
        if not failed:
            return Answer(Verdict.PASS, None, "")
        return min(failed, key=lambda e: e[0])[1]


def oracle(document: dict, cells: Sequence[CellResult]) -> Oracle:
    first: dict[tuple[str, tuple[str, ...]], tuple[int, Answer]] = {}
    for r in cells:
        key = (r.cell.dlopen, r.cell.order)
        answer = Answer(r.outcome.verdict, r.outcome.subkind, r.outcome.last_step)
        if key not in first or r.cell.repeat < first[key][0]:
            first[key] = (r.cell.repeat, answer)
    owner = {}
    for wheel in document["provenance"]["wheels"]:
        owner[f"exercise {wheel['wheel_id']}"] = wheel["wheel_id"]
        for module in str(wheel["module"]).split(","):
            owner[f"import {module}"] = wheel["wheel_id"]
    return Oracle(first={k: a for k, (_, a) in first.items()}, owner=owner)


@dataclass
class Replay:
    """A `Runs` answering from the oracle."""

    oracle: Oracle
    template: Cell
    blind: bool = False  # tell the search nothing of the victims' modules loaded
    trials: list[Trial] = field(default_factory=list)
    seen: dict[tuple[str, ...], Trial] = field(default_factory=dict)

    def run(self, order: tuple[str, ...]) -> Trial:
        if order not in self.seen:
            a = self.oracle.answer(self.template.dlopen, order)
            cell = replace(self.template, order=order, repeat=len(self.trials) + 1)
            trial = Trial(cell=cell, verdict=a.verdict, subkind=a.subkind, detail="", step=a.step,
                          loaded=() if self.blind else self.loaded(order))  # fmt: skip
            self.seen[order] = trial
            self.trials.append(trial)
        return self.seen[order]

    def loaded(self, order: Sequence[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The probe's "loaded" for `order`: each wheel's first import step, with the
        victims' modules it loads that no wheel before it did."""
        steps = {w: s for s, w in reversed(self.oracle.owner.items()) if s.startswith("import ")}
        present: set[str] = set()
        found = []
        for wheel in order:
            new = tuple(sorted(self.oracle.loads.get(wheel, frozenset()) - present))
            if new:
                found.append((steps[wheel], new))
                present.update(new)
        return tuple(found)


def replayed(ids: Sequence[str], the: Oracle, size: int, blind: bool = False) -> Screening:
    known = _Known(exposed={} if blind else dict(the.exposed))
    done = []
    for group in groups(ids, size):
        modes: list[ModeScreen] = []
        profiled: tuple[str, ...] = ()
        for dlopen in MODES:
            template = Cell(scenario=group.name, target="replay", arch="x86_64",
                            dlopen=dlopen, host="plain", order=group.wheels, repeat=1)  # fmt: skip
            runs = Replay(the, template, blind)
            if dlopen == MODES[0]:
                profiled = profile(group, dlopen, runs, known, the.owner)
            modes.append(screen_mode(group, dlopen, runs, known, the.owner))
        done.append(GroupScreen(group=group, modes=tuple(modes), cells=sum(m.cells for m in modes),
                                profiled=profiled))  # fmt: skip
    return Screening(group_size=size, wheels=tuple(ids), groups=tuple(done), wall_s=0.0)


def breakdown(screening: Screening) -> dict[str, int]:
    """Screening's cells by kind, per mode: the covering sequences, their bisections, and
    the partner searches of wheels failing alone (with their runs alone); in the first mode,
    the wheels run alone first (`profile`; a search asking for one again is answered from
    it)."""
    kinds: dict[str, int] = {}
    for g in screening.groups:
        for number, m in enumerate(g.modes):
            alone = len(g.profiled) if number == 0 else 0
            searches = m.cells - len(m.split.tests) - alone
            for kind, n in (("alone first", alone), ("covering", len(m.split.covering)),
                            ("bisection", m.split.splits), ("partners", searches)):  # fmt: skip
                if kind == "alone first" and not n:
                    continue
                key = f"{m.dlopen} {kind}"
                kinds[key] = kinds.get(key, 0) + n
    return kinds


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exhaustive", type=Path)
    parser.add_argument("--group-size", type=int, default=20)
    parser.add_argument("--loads", type=Path, help="a screened run's results.json")
    parser.add_argument("--blind", action="store_true")
    args = parser.parse_args(argv)
    document, cells = load_results(args.exhaustive)
    ids = [w["wheel_id"] for w in document["provenance"]["wheels"]]
    the = oracle(document, cells)
    if args.loads:
        screened, _ = load_results(args.loads)
        loaded = screened.get("screen", {}).get("victims_loaded", {})
        the.loads = {w: frozenset(m) for w, m in loaded.items()}
        exposed = screened.get("screen", {}).get("victims_exposed", {})
        the.exposed = {w: frozenset(m) for w, m in exposed.items()}
    screening = replayed(ids, the, args.group_size, args.blind)
    for kind, n in breakdown(screening).items():
        print(f"  {kind:30} {n:5}")
    run = {pair_name(*p) for p in screening.to_run()}
    pair_cells = [r for r in cells if r.cell.scenario in run]
    singles = [r for r in cells if len(r.cell.order) == 1]
    trials = document.get("attribution", {}).get("trials", [])
    names = run | {r.cell.scenario for r in singles}
    attribution = sum(1 for t in trials if t["cell"].split("/")[0] in names)
    total = screening.cells + len(pair_cells) + len(singles) + attribution
    reference = len(cells) + document.get("attribution", {}).get("runs", 0)
    print(
        f"screening cells {screening.cells}; pairs run {len(screening.to_run())}, their cells "
        f"{len(pair_cells)}; singleton cells {len(singles)}; attribution runs {attribution}"
    )
    print(f"total {total} of {reference}: {total / reference:.3f} (1/{reference / total:.1f})")
    failing = cross_wheel_pairs(cells)
    chosen = {frozenset(p) for p in screening.to_run()}
    missed = sorted(f"{m} {'+'.join(sorted(p))}" for m, p in failing if p not in chosen)
    print(f"cross-wheel failures {len(failing)}, missed {len(missed)}: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
