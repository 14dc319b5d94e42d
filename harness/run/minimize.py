"""Delta debugging of a failing cell: the smallest wheel set, and the orders of it, that still
fail with the same verdict. Each test is a real cell run through the backend; the whole set is
installed once and every test imports only its subset, in its order."""

from __future__ import annotations

import fnmatch
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from harness.analysis.ddmin import ddmin
from harness.build.prebuilt import provided_names, with_modules
from harness.build.toolchains import load_catalogue
from harness.cells.backends import Backend
from harness.common.ids import GLOBAL_FIRST, GLOBAL_PREFIX, Variant
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.errors import InputError
from harness.evidence.results import load_results
from harness.run.runner import Backends, cells_for, wheels_for
from harness.run.trials import Tester, Trial
from harness.scenario.load import HostMode, Matrix, Scenario, WheelSpec, load_scenario
from harness.scenario.plan import Cell

logger = logging.getLogger(__name__)

MAX_PERMUTED: Final = 4  # every order of the minimal set up to this size, else the reverse only


@dataclass(frozen=True, kw_only=True)
class Minimized:
    cell_id: str
    verdict: Verdict
    subkind: ImportErrorKind | None
    original: tuple[str, ...]
    minimal: tuple[str, ...]
    failing_orders: tuple[tuple[str, ...], ...]
    passing_orders: tuple[tuple[str, ...], ...]
    trials: tuple[Trial, ...]

    @property
    def runs(self) -> int:
        return len(self.trials)

    def to_json(self) -> dict[str, object]:
        return {
            "cell": self.cell_id,
            "verdict": str(self.verdict),
            "subkind": str(self.subkind) if self.subkind else None,
            "original_order": list(self.original),
            "minimal_order": list(self.minimal),
            "failing_orders": [list(o) for o in self.failing_orders],
            "other_orders": [list(o) for o in self.passing_orders],
            "runs": self.runs,
            "trials": [
                {
                    "order": list(t.order),
                    "verdict": str(t.verdict),
                    "subkind": str(t.subkind) if t.subkind else None,
                }
                for t in self.trials
            ],
        }


def minimize_cell(
    scenario: Scenario, cell: Cell, backend: Backend, verdict: Verdict | None = None
) -> Minimized:
    """Reduce the cell's wheel set and order to a minimal one failing with the same verdict
    (the cell's own verdict when not given, found by running it first)."""
    wheels = wheels_for(scenario, cell, backend)
    scenario = with_modules(scenario, wheels)
    with backend.open(cell.target, cell.arch, wheels) as session:
        if session.not_installable:
            raise InputError(f"the wheel set cannot be installed there: {session.not_installable}")
        # global-first makes the first wheel of whichever order runs RTLD_GLOBAL; the wheel
        # that was first in the cell stays the global one in every subset and order tried.
        tried = (
            replace(cell, dlopen=f"{GLOBAL_PREFIX}{cell.order[0]}")
            if cell.dlopen == GLOBAL_FIRST
            else cell
        )
        tester = Tester(scenario, tried, session, provided=provided_names(wheels))
        first = tester.run(cell.order)
        goal = verdict or first.verdict
        if goal == Verdict.PASS or first.verdict != goal:
            raise InputError(
                f"{cell.id}: ran {first.verdict}"
                + (f" now, not {goal} as recorded" if first.verdict != goal else "")
                + "; minimize needs a cell that fails and keeps failing the same way"
            )

        def fails(order: tuple[str, ...]) -> bool:
            found = tester.run(order)
            return found.verdict == goal and found.subkind == first.subkind

        minimal = ddmin(cell.order, fails)
        if len(minimal) <= MAX_PERMUTED:
            others = [p for p in itertools.permutations(minimal) if p != minimal]
        else:
            others = [tuple(reversed(minimal))]
        failing = [minimal] + [o for o in others if fails(o)]
        passing = [o for o in others if o not in failing]
    return Minimized(
        cell_id=cell.id,
        verdict=goal,
        subkind=first.subkind,
        original=cell.order,
        minimal=minimal,
        failing_orders=tuple(failing),
        passing_orders=tuple(passing),
        trials=tuple(tester.trials),
    )


def _pick(cells: Sequence[Cell], pattern: str) -> Cell:
    exact = [c for c in cells if c.id == pattern]
    found = exact or [c for c in cells if fnmatch.fnmatchcase(c.id, pattern)]
    if len(found) != 1:
        example = cells[0].id if cells else "none"
        raise InputError(
            f"{pattern!r} matches {len(found)} cells; give one cell id, e.g. {example!r}"
        )
    return found[0]


def from_scenario(
    path: Path, pattern: str, backend_name: str, targets: tuple[str, ...] | None
) -> tuple[Scenario, Cell, Backend, Verdict | None]:
    scenario = load_scenario(path, load_catalogue())
    backend = Backends(backend_name, targets).for_scenario(scenario)
    return scenario, _pick(cells_for(scenario, backend, targets), pattern), backend, None


def from_results(
    path: Path, pattern: str, backend_name: str
) -> tuple[Scenario, Cell, Backend, Verdict | None]:
    """The cell of a results.json, with its wheels as they were (from the provenance); the
    wheels' exercises are not in the results, so only imports and victims run."""
    document, results = load_results(path)
    result = next((r for r in results if r.id == pattern), None)
    if result is None:
        matches = [r for r in results if fnmatch.fnmatchcase(r.id, pattern)]
        if len(matches) != 1:
            raise InputError(f"{path}: {pattern!r} matches {len(matches)} cells; give one cell id")
        result = matches[0]
    by_id: dict[str, dict[str, str]] = {}
    planned = result.cell
    for wheel in document["provenance"]["wheels"]:
        if wheel["wheel_id"] in planned.order and Path(wheel["path"]).is_file():
            by_id.setdefault(wheel["wheel_id"], wheel)
    missing = [w for w in planned.order if w not in by_id]
    if missing:
        raise InputError(
            f"{path}: the wheels of {', '.join(missing)} are no longer in the cache; "
            "minimize from the scenario file instead"
        )
    specs = tuple(
        WheelSpec(
            id=w,
            fixture="",
            fixture_dir=Path(),
            toolchain="",
            link=(),
            module=by_id[w]["module"].split(",")[0],
            modules=tuple(by_id[w]["module"].split(",")),
            exercise=None,
            wheel=Path(by_id[w]["path"]),
        )
        for w in planned.order
    )
    scenario = Scenario(
        path=path,
        name=planned.scenario,
        description="",
        requirement="",
        wheels=specs,
        matrix=_matrix_of(planned.target, planned.arch, planned.dlopen, planned.host),
        expectations=(),
    )
    # One repeat of the cell, with one wheel set and no exercises (so no first-use order).
    cell = replace(planned.as_cell(), repeat=1, variant=Variant(), use=())
    backend = Backends(backend_name or planned.backend).for_scenario(scenario)
    return scenario, cell, backend, result.outcome.verdict


def _matrix_of(target: str, arch: str, dlopen: str, host: str) -> Matrix:
    return Matrix(
        targets=(target,),
        arch=(arch,),
        dlopen=(dlopen,),
        host=(HostMode(host),),
        repeat=1,
        timeout_s=60.0,
        victims=True,
    )
