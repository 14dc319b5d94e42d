"""Screening by group testing (`wheelclash atlas --screen`): which pairs of a corpus to run,
found by importing many wheels in one cell and bisecting only the cells that fail.

Each group (harness/scenario/screen_groups.py) is installed once, as one environment, and
searched in every dlopen mode of the atlas, one fresh interpreter per cell
(harness/run/trials.py), by harness/analysis/cover.py: sequences of its wheels that cover
the ordered pairs not yet shown clean, each failing one bisected down to its failing pair
or singleton. In global-first, where only a cell's first wheel is RTLD_GLOBAL, each wheel is
first in sequences of its own, local mode's failures kept out of the wheels behind it. The
search's knowledge of each mode (pairs shown clean, pairs and wheels found failing) is shared
by the groups, so a pair shown in one group is never covered again in another. Each wheel
runs alone first, once (`profile`): which of CPython's modules its import loads; and its
file tells which of them its bundled libraries can break (`expose`): a pair that can break a
module is not shown clean by a cell that loaded it before the pair's second wheel. A wheel
found failing alone has its pairs searched by how it fails alone (`partners`). A group that
pip cannot install is screened as smaller groups; one whose runs the harness could not make
is not screened: its pairs that no screened group holds are run as pairs, as the exhaustive
atlas runs them.

What comes out are the pairs to run for real as the atlas's pair scenarios (with repeats and
attribution, by the ordinary runner), and a record for results.json (`screen`).
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Final

from harness.analysis.attribution import Signature, signature
from harness.analysis.cover import (
    Answer,
    Ledger,
    Part,
    Split,
    Victims,
    cover,
    cover_first,
    partners,
)
from harness.analysis.explain import load_predictors
from harness.analysis.exposure import exposed
from harness.build.prebuilt import provided_names, with_modules
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Backend
from harness.common import progress
from harness.common.ids import GLOBAL_ALL, GLOBAL_FIRST, LOCAL
from harness.common.progress import StageKind
from harness.common.verdicts import Verdict
from harness.errors import InfrastructureError
from harness.evidence.results import CellResult
from harness.run.pools import hidden
from harness.run.runner import Backends, wheels_for
from harness.run.trials import Runs, Tester, Trial
from harness.scenario.atlas_pairs import AtlasOptions, group_scenario
from harness.scenario.corpus import Corpus, pair_name
from harness.scenario.load import HOST_TARGET, Scenario
from harness.scenario.plan import Cell
from harness.scenario.screen_groups import Group, groups, regroup, uncovered

logger = logging.getLogger(__name__)

SCREEN_KEY: Final = "screen"


@dataclass(frozen=True, kw_only=True)
class Partners:
    """The search for the pairs of one wheel that fails alone in a mode: the group's other
    wheels loaded with it, judged by how it fails alone."""

    wheel: str
    alone: frozenset[Signature]  # how it fails alone in the mode
    split: Split  # its pairs, (wheel, x) or (x, wheel) as loaded

    def to_json(self) -> dict[str, Any]:
        return {
            "wheel": self.wheel,
            "alone": sorted(str(s) for s in self.alone),
            "tests": len(self.split.tests),
            "pairs": [list(p) for p in self.split.pairs],
            "unexplained": [list(p) for p in self.split.unexplained],
        }


@dataclass(frozen=True, kw_only=True)
class ModeScreen:
    """One group in one dlopen mode: its covering search, the searches for the partners of
    the wheels found failing alone, and its cells."""

    dlopen: str
    split: Split
    cells: int
    # the covering sequences' cells: where a failing one stopped tells which wheels it said
    # nothing about (those after the step)
    own: tuple[Trial, ...] = ()
    partners: tuple[Partners, ...] = ()

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """The failing pairs isolated: the split's, then the partner searches'."""
        return (*self.split.pairs, *(p for s in self.partners for p in s.split.pairs))

    @property
    def unexplained(self) -> tuple[Part, ...]:
        return (*self.split.unexplained, *(u for s in self.partners for u in s.split.unexplained))

    def to_json(self) -> dict[str, Any]:
        return {
            "dlopen": self.dlopen,
            "failed": self.split.failed,
            "group_cells": [
                {"order": list(t.order), "verdict": str(t.verdict), "step": t.step}
                for t in self.own
            ],
            "cells": self.cells,
            "tests": len(self.split.tests),
            "splits": self.split.splits,
            "singletons": list(self.split.singletons),
            "pairs": [list(p) for p in self.split.pairs],
            "unexplained": [list(p) for p in self.split.unexplained],
            "partners": [s.to_json() for s in self.partners],
        }


@dataclass(frozen=True, kw_only=True)
class GroupScreen:
    group: Group
    modes: tuple[ModeScreen, ...] = ()
    not_screened: str = ""  # why the group was not screened (pip, the harness), or ''
    refused: bool = False  # pip cannot install it together: smaller groups take its place
    cells: int = 0  # every cell run for the group (also those before it was given up)
    wall_s: float = 0.0
    profiled: tuple[str, ...] = ()  # its wheels it ran alone first (`profile`)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.group.name,
            "wheels": list(self.group.wheels),
            "cells": self.cells,
            "wall_s": round(self.wall_s, 3),
            "not_screened": self.not_screened,
            "profiled": list(self.profiled),
            "modes": [m.to_json() for m in self.modes],
        }


@dataclass(frozen=True, kw_only=True)
class Screening:
    """What screening ran and found, and the pairs the run then runs as pair scenarios."""

    group_size: int
    wheels: tuple[str, ...]  # the corpus's ids, in corpus order
    groups: tuple[GroupScreen, ...]
    wall_s: float
    # the victims' modules each wheel's import loads, for the wheels run alone first
    loads: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # the victims' modules each wheel's bundled libraries can break
    exposed: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def cells(self) -> int:
        return sum(g.cells for g in self.groups)

    @property
    def found(self) -> tuple[tuple[str, str], ...]:
        """The failing pairs isolated, in corpus order, each once."""
        return self._in_order({frozenset(p) for g in self.groups for m in g.modes
                               for p in m.pairs})  # fmt: skip

    @property
    def uncovered(self) -> tuple[tuple[str, str], ...]:
        """Pairs no screened group held: they run as pairs, unscreened."""
        return uncovered(self.wheels, [g.group for g in self.groups if not g.not_screened])

    @property
    def unexplained(self) -> tuple[tuple[str, str], ...]:
        """Every pair inside a part that failed with no failing wheel or pair in it: the
        failure may need three wheels or more, so its pairs run as pairs too."""
        parts = [u for g in self.groups for m in g.modes for u in m.unexplained]
        return self._in_order({frozenset((a, b)) for u in parts for a in u for b in u if a != b})

    def to_run(self) -> tuple[tuple[str, str], ...]:
        """The pairs to run as pair scenarios: found, unexplained and uncovered."""
        return self._in_order({frozenset(p) for p in (*self.found, *self.unexplained,
                                                       *self.uncovered)})  # fmt: skip

    def _in_order(self, pairs: set[frozenset[str]]) -> tuple[tuple[str, str], ...]:
        at = {w: i for i, w in enumerate(self.wheels)}
        ordered = (tuple(sorted(p, key=at.__getitem__)) for p in pairs)
        return tuple(sorted(((a, b) for a, b in ordered), key=lambda p: (at[p[0]], at[p[1]])))

    def annotate(self, results: Sequence[CellResult]) -> dict[str, Any]:
        """results.json's key for this screening (see `RunRequest.annotate`)."""
        return {SCREEN_KEY: self.to_json(results)}

    def to_json(self, results: Sequence[CellResult] = ()) -> dict[str, Any]:
        """results.json's `screen`: the groups, cells and splits, and which pairs the run's
        pair cells confirmed (some cell of the pair did not pass)."""
        failing = {r.cell.scenario for r in results if r.outcome.verdict != Verdict.PASS}
        alone = {
            (r.cell.dlopen, r.cell.order[0])
            for r in results
            if len(r.cell.order) == 1 and r.outcome.verdict != Verdict.PASS
        }
        ran = self.to_run()
        singletons = self.singletons
        return {
            "group_size": self.group_size,
            "cells": self.cells,
            "wall_s": round(self.wall_s, 3),
            "groups": [g.to_json() for g in self.groups],
            "victims_loaded": {w: sorted(self.loads[w]) for w in self.wheels if w in self.loads},
            "victims_exposed": {
                w: sorted(self.exposed[w]) for w in self.wheels if w in self.exposed
            },
            "found": [list(p) for p in self.found],
            "unexplained": [list(p) for p in self.unexplained],
            "uncovered": [list(p) for p in self.uncovered],
            "pairs_run": [list(p) for p in ran],
            "confirmed": [list(p) for p in ran if pair_name(*p) in failing],
            "not_confirmed": [list(p) for p in self.found if pair_name(*p) not in failing],
            "singletons": [{"dlopen": m, "wheel": w} for m, w in singletons],
            "singletons_not_confirmed": [
                {"dlopen": m, "wheel": w} for m, w in singletons if (m, w) not in alone
            ],
        }

    @property
    def singletons(self) -> tuple[tuple[str, str], ...]:
        """(mode, wheel) of every wheel isolated as failing alone in a group's environment,
        each once, in the order found."""
        found = (
            (m.dlopen, wheel) for g in self.groups for m in g.modes for wheel in m.split.singletons
        )
        return tuple(dict.fromkeys(found))


@dataclass
class _Known:
    """What screening knows of each dlopen mode so far (`Ledger`: pairs clean and failing,
    singletons), and how each wheel that fails alone fails (its signatures). Groups screened
    at once share it: each starts from what the others had found when it started."""

    ledgers: dict[str, Ledger] = field(default_factory=dict)
    alone: dict[tuple[str, str], frozenset[Signature]] = field(default_factory=dict)
    # each wheel run alone first (`profile`): the victims' modules its import loads
    loads: dict[str, frozenset[str]] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)  # wheels a group is profiling or has
    # the victims' modules each wheel's bundled libraries can break (`expose`)
    exposed: dict[str, frozenset[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, wheels: Sequence[str]) -> list[str]:
        """Those of `wheels` no group has profiled or is profiling, now this caller's."""
        with self.lock:
            mine = [w for w in wheels if w not in self.claimed]
            self.claimed.update(mine)
            return mine

    def profiled(self, wheel: str, modules: frozenset[str]) -> None:
        with self.lock:
            self.loads[wheel] = modules

    def victims(self) -> Victims:
        with self.lock:
            return Victims(loads=dict(self.loads), exposed=dict(self.exposed))

    def ledger(self, dlopen: str) -> Ledger:
        with self.lock:
            return self.ledgers.get(dlopen, Ledger())

    def add(self, dlopen: str, learned: Ledger, alone: Sequence[Partners] = ()) -> None:
        with self.lock:
            self.ledgers[dlopen] = self.ledgers.get(dlopen, Ledger()) | learned
            for search in alone:
                key = (dlopen, search.wheel)
                self.alone[key] = self.alone.get(key, frozenset()) | search.alone

    def alone_of(self, dlopen: str, wheel: str) -> frozenset[Signature]:
        with self.lock:
            return self.alone.get((dlopen, wheel), frozenset())


def _place(scenario: Scenario, backend: Backend) -> tuple[str, str]:
    """The target and arch a group's cells run on (the local backend: this machine)."""
    if backend.name == "local":
        return HOST_TARGET, platform.machine()
    return scenario.matrix.targets[0], scenario.matrix.arch[0]


def owners(scenario: Scenario) -> dict[str, str]:
    """The wheel id each probe step of the scenario's wheels names: their imports (`import
    numpy`) and exercises (`exercise numpy`, the atlas's step; `exercise mod.fn`)."""
    found = {}
    for wheel in scenario.wheels:
        found[f"exercise {wheel.id}"] = wheel.id
        for module in wheel.imports:
            found[f"import {module}"] = wheel.id
            if wheel.exercise:
                found[f"exercise {module}.{wheel.exercise}"] = wheel.id
    return found


def _hider(wheels: Sequence[BuiltWheel]) -> Callable[[Part], tuple[Part, Part]]:
    """What a cell of some of a group's wheels hides of the group's environment: the
    distributions only its other wheels install, so that the cell sees what the pair's own
    environment would hold (pandas finds no pyarrow to import unless pyarrow is in the
    cell). Each part's answer is worked out once."""
    known: dict[frozenset[str], tuple[Part, Part]] = {}

    def hide(part: Part) -> tuple[Part, Part]:
        key = frozenset(part)
        if key not in known:
            found = hidden(wheels, part)
            known[key] = (found.modules, found.dists)
        return known[key]

    return hide


def _signatures(trials: Sequence[Trial]) -> frozenset[Signature]:
    """How the failing ones of `trials` failed."""
    return frozenset(
        signature(t.verdict, t.subkind, t.step) for t in trials if t.verdict != Verdict.PASS
    )


def profile(
    group: Group, dlopen: str, tester: Runs, known: _Known, steps: Mapping[str, str]
) -> tuple[str, ...]:
    """Run alone each wheel of the group that no group has run alone yet, in `tester`'s mode:
    which victims' modules its import loads (the probe's "loaded"), for the searches'
    order (harness/analysis/cover.py); one that passes is, in that mode, no singleton. The
    wheels run, in order."""
    mine = known.claim(group.wheels)
    passed = set()
    for wheel in mine:
        trial = tester.run((wheel,))
        modules = {m for step, names in trial.loaded if steps.get(step) == wheel for m in names}
        known.profiled(wheel, frozenset(modules))
        if trial.verdict == Verdict.PASS:
            passed.add(wheel)
    known.add(dlopen, Ledger(passed=frozenset(passed)))
    return tuple(mine)


def _loaded(trial: Trial, steps: Mapping[str, str]) -> tuple[tuple[str, frozenset[str]], ...]:
    """The probe's "loaded" of a trial, by wheel: the CPython modules each wheel's import
    steps loaded first."""
    by: dict[str, frozenset[str]] = {}
    for step, modules in trial.loaded:
        wheel = steps.get(step)
        if wheel is not None:
            by[wheel] = by.get(wheel, frozenset()) | frozenset(modules)
    return tuple(by.items())


def expose(wheels: Sequence[BuiltWheel], ids: Sequence[str], known: _Known) -> None:
    """Which CPython modules each of the wheels `ids` can break (harness/analysis/
    exposure.py), for those not known yet: read from the wheel files' scans."""
    with known.lock:
        todo = [w for w in ids if w not in known.exposed]
    families = load_predictors().bundled
    by_id = {w.wheel_id: w for w in wheels}
    for wheel_id in todo:
        built = by_id.get(wheel_id)
        if built is None:
            continue
        try:
            modules = exposed(built.path, built.sha256, families)
        except Exception as exc:  # an aid to the search: one wheel's scan never stops it
            logger.warning("%s: its bundled libraries were not read: %s", wheel_id, exc)
            modules = frozenset()
        with known.lock:
            known.exposed[wheel_id] = modules


def screen_mode(
    group: Group, dlopen: str, tester: Runs, known: _Known, steps: Mapping[str, str]
) -> ModeScreen:
    """One group in one dlopen mode, its cells run by `tester`: the covering search of its
    pairs (`cover` in local mode; in the global modes `cover_first`, each pair with its first
    wheel first, in global-first with local mode's failures kept out of the wheels behind
    it), then for each wheel found failing alone the search of its partners by how it fails.
    `steps` names the wheel of each probe step. What it learned is added to `known`."""
    first = dlopen == GLOBAL_FIRST
    victims = known.victims()
    ledger = known.ledger(dlopen)
    local = known.ledger(LOCAL) if first else Ledger()
    if first:
        # a wheel alone and first is a wheel alone and global: global-all's singletons
        ledger = ledger | Ledger(singles=known.ledger(GLOBAL_ALL).singles)

    def failed(part: Part) -> Answer:
        trial = tester.run(part)
        return Answer(trial.verdict != Verdict.PASS, steps.get(trial.step), _loaded(trial, steps))

    if first:
        split = cover_first(group.wheels, failed, ledger, local=local, victims=victims)
    elif dlopen == GLOBAL_ALL:
        # the first wheel loaded RTLD_GLOBAL binds the symbols every later one looks up:
        # one loaded before a pair can mend it, so each pair is covered with nothing before it
        split = cover_first(group.wheels, failed, ledger, same=True, victims=victims)
    else:
        split = cover(group.wheels, failed, ledger)
    now = ledger | split.learned
    searches = []
    for wheel in (w for w in group.wheels if w in now.singles):
        alone = known.alone_of(dlopen, wheel) | _signatures([tester.run((wheel,))])

        def otherwise(part: Part, alone: frozenset[Signature] = alone) -> Answer:
            trial = tester.run(part)
            failed = bool(_signatures([trial]) - alone)
            return Answer(failed, steps.get(trial.step), _loaded(trial, steps))

        others = [w for w in group.wheels if w not in now.singles | local.singles]
        found = partners(
            wheel, others, otherwise, now, first=dlopen != LOCAL, avoid=local.bad, victims=victims
        )
        now = now | found.learned
        searches.append(Partners(wheel=wheel, alone=alone, split=found))
    covering = set(split.covering)
    own = tuple(t for t in tester.trials if t.order in covering)
    mode = ModeScreen(
        dlopen=dlopen, split=split, cells=len(tester.trials), own=own, partners=tuple(searches)
    )
    known.add(dlopen, now, searches)
    return mode


def screen_group(
    group: Group,
    scenario: Scenario,
    backend: Backend,
    known: _Known,
    modes: Sequence[str],
    ran: Callable[[Trial], None] = lambda _: None,
) -> GroupScreen:
    """Run one group's search in every mode (`screen_mode`); `ran` is told of each cell as
    it ends."""
    started = time.monotonic()
    target, arch = _place(scenario, backend)
    template = Cell(
        scenario=group.name,
        target=target,
        arch=arch,
        dlopen=modes[0],
        host="plain",
        order=group.wheels,
        repeat=1,
    )
    testers: list[Tester] = []
    done: list[ModeScreen] = []
    profiled: tuple[str, ...] = ()

    def finished(why: str = "", refused: bool = False) -> GroupScreen:
        cells = sum(len(t.trials) for t in testers)
        wall = time.monotonic() - started
        return GroupScreen(
            group=group,
            modes=tuple(done),
            not_screened=why,
            refused=refused,
            cells=cells,
            wall_s=wall,
            profiled=profiled,
        )

    try:
        wheels = wheels_for(scenario, template, backend)
        scenario = with_modules(scenario, wheels)
        expose(wheels, group.wheels, known)
        with backend.open(target, arch, wheels) as session:
            if session.not_installable:
                why = f"pip cannot install the group: {session.not_installable}"
                return finished(why, refused=True)
            steps = owners(scenario)
            hide = _hider(wheels)
            for dlopen in modes:
                tester = Tester(
                    scenario,
                    replace(template, dlopen=dlopen),
                    session,
                    log_runs=False,
                    provided=provided_names(wheels),
                    ran=ran,
                    hide=hide,
                )
                testers.append(tester)
                if dlopen == modes[0]:
                    profiled = profile(group, dlopen, tester, known, steps)
                done.append(screen_mode(group, dlopen, tester, known, steps))
    except InfrastructureError as exc:
        logger.warning("%s: not screened: %s", group.name, exc.message)
        return finished(f"the harness could not run it: {exc.message}")
    return finished()


def screen(
    corpus: Corpus,
    options: AtlasOptions,
    backends: Backends,
    group_size: int,
    said: Callable[[str], None] = lambda _: None,
    jobs: int = 1,
) -> Screening:
    """Screen every group of the corpus, `jobs` groups at once (each in its own environment);
    `said` gets a line per group as it ends. Groups share what they found as they end, so
    which parts run depends on timing, not what is found. When the caller leaves early (an
    interrupt: SIGTERM and SIGHUP unwind as Ctrl-C does), groups not started are dropped and
    each running one ends after its cell in flight, its environment removed."""
    started = time.monotonic()
    ids = tuple(w.id for w in corpus.wheels)
    made = list(groups(ids, group_size))
    known = _Known()
    label = f"{corpus.name}, groups of up to {group_size} wheels"
    counted = _Counted(
        progress.stage(StageKind.SCREEN, label, total=_planned(made, options.dlopen)),
        options.dlopen,
    )

    stop = threading.Event()

    def ran(group: Group, trial: Trial) -> None:
        counted.ran(group, trial)
        if stop.is_set():
            raise _GivenUp

    def one(group: Group) -> GroupScreen:
        scenario = group_scenario(corpus, group.name, group.wheels, options)
        backend = backends.for_scenario(scenario)
        return screen_group(group, scenario, backend, known, options.dlopen, partial(ran, group))

    screened: dict[str, GroupScreen] = {}
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="screen")
    try:
        with counted.step:
            running = {pool.submit(one, group) for group in made}
            while running:
                ended, running = wait(running, return_when=FIRST_COMPLETED)
                for future in ended:
                    result = future.result()
                    screened[result.group.name] = result
                    said(f"screen {len(screened)}/{len(made)}: {line(result)}")
                    smaller = regroup(result.group) if result.refused else ()
                    counted.ended(result.group, smaller)
                    made += smaller
                    running |= {pool.submit(one, group) for group in smaller}
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    victims = known.victims()
    return Screening(
        group_size=group_size,
        wheels=ids,
        groups=tuple(screened[g.name] for g in made),  # in the order made
        wall_s=time.monotonic() - started,
        loads=victims.loads,
        exposed=victims.exposed,
    )


class _GivenUp(Exception):
    """Raised in a group's thread after a cell once the caller has left: the group ends
    there (its session closed on the way out)."""


def _planned(made: Sequence[Group], modes: Sequence[str]) -> int:
    """The groups' own cells in every mode: screening's cells before any split."""
    return sum(len(group.orders_in(dlopen)) for group in made for dlopen in modes)


class _Counted:
    """Screening's progress stage: a step per cell run. Its total is the groups' planned own
    cells (`_planned`); a group's cells beyond those add one each as they run, a group's end
    takes off its planned cells that did not run, a regroup adds the smaller groups'."""

    def __init__(self, step: progress.Step, modes: Sequence[str]) -> None:
        self.step = step
        self.modes = modes
        self._lock = threading.Lock()
        self._ran: dict[str, int] = {}  # group name -> its cells run

    def ran(self, group: Group, trial: Trial) -> None:
        with self._lock:
            self._ran[group.name] = self._ran.get(group.name, 0) + 1
            beyond = self._ran[group.name] > _planned((group,), self.modes)
        if beyond:
            self.step.grow(1)
        order = ",".join(trial.order)
        self.step.cell(f"{group.name} {trial.cell.dlopen} {order}", trial.verdict)

    def ended(self, group: Group, smaller: Sequence[Group]) -> None:
        with self._lock:
            unrun = max(_planned((group,), self.modes) - self._ran.get(group.name, 0), 0)
        self.step.grow(_planned(smaller, self.modes) - unrun)


def line(result: GroupScreen) -> str:
    """One group's screening in a line."""
    head = f"{result.group.name} ({len(result.group.wheels)} wheels), {result.cells} cells"
    if result.refused and len(result.group.wheels) > 2:
        return f"{head}: not screened ({result.not_screened}); smaller groups take its place"
    if result.not_screened:
        return f"{head}: not screened ({result.not_screened}); its pairs run as pairs"
    said = []
    for mode in result.modes:
        searches = list(dict.fromkeys(s.wheel for s in mode.partners))
        if not mode.split.failed and not searches:
            said.append(f"{mode.dlopen} pass")
            continue
        found = [*mode.split.singletons, *("+".join(p) for p in mode.pairs)]
        found += [f"unexplained {','.join(u)}" for u in mode.unexplained]
        tests = len(mode.split.tests) + sum(len(s.split.tests) for s in mode.partners)
        also = f" (pairs of {', '.join(searches)} searched on their own)" if searches else ""
        said.append(f"{mode.dlopen} split in {tests} tests{also}: {', '.join(found) or 'none'}")
    return f"{head}: {'; '.join(said)}"


def screening_line(screening: Screening, results: Sequence[CellResult]) -> str:
    """What screening cost and found, in a line."""
    record = screening.to_json(results)
    return (
        f"screening: {len(screening.groups)} groups of up to {screening.group_size} wheels, "
        f"{screening.cells} cells in {screening.wall_s:.0f}s; {len(record['found'])} pairs "
        f"isolated, {len(record['pairs_run'])} run as pairs ({len(record['uncovered'])} "
        f"unscreened, {len(record['unexplained'])} from unexplained failures), "
        f"{len(record['confirmed'])} confirmed"
    )
