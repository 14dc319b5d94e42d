"""Orchestration: scenarios → wheels → cells → backend sessions → verdicts → results on disk."""

from __future__ import annotations

import fnmatch
import logging
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from harness.backends import BACKENDS, Backend, Session, TargetFacts
from harness.errors import InfrastructureError, InputError, InvalidInputFile, Problem
from harness.image_catalogue import timeout_scale
from harness.jobs import CellJob, job_for
from harness.outcome import Outcome
from harness.plan import Cell, expected_for, plan
from harness.results import CellResult, Provenance, ResultsWriter, new_run_id
from harness.scenario import HOST_TARGET, Scenario, load_scenario
from harness.toolchains import load_catalogue
from harness.verdict import Verdict, classify
from harness.wheels import BuiltWheel, build_wheels

logger = logging.getLogger(__name__)

AUTO: Final = "auto"
EXIT_OK: Final = 0
EXIT_UNEXPECTED: Final = 1
EXIT_INFRA: Final = 3


def load_all(paths: Sequence[Path]) -> tuple[Scenario, ...]:
    """Every scenario, or one error listing the problems of every bad file."""
    problems: list[Problem] = []
    scenarios: list[Scenario] = []
    for path in paths:
        try:
            scenarios.append(load_scenario(path))
        except InvalidInputFile as exc:
            problems += exc.problems
    names = [s.name for s in scenarios]
    for scenario in scenarios:
        if names.count(scenario.name) > 1:
            problems.append(
                Problem(
                    scenario.path,
                    "name",
                    f"{scenario.name!r} is used by another scenario of this run",
                )
            )
    if problems:
        raise InvalidInputFile(problems)
    if not scenarios:
        raise InputError("no scenario files given; pass one or more scenario .toml files")
    return tuple(scenarios)


class Backends:
    """Backends by name, made once per run; `auto` is resolved for each scenario."""

    def __init__(
        self,
        name: str,
        targets: Sequence[str] | None = None,
        engines: Mapping[str, str] | None = None,
    ) -> None:
        if name != AUTO and name not in BACKENDS:
            raise InputError(f"unknown backend {name!r}; valid: {AUTO}, {', '.join(BACKENDS)}")
        self.name = name
        self.targets = targets
        self.engines: Mapping[str, str] = dict(engines or {})  # arch -> Docker engine
        self._made: dict[str, Backend] = {}
        self._unavailable: dict[str, str | None] = {}

    def _get(self, name: str) -> tuple[Backend, str | None]:
        if name not in self._made:
            self._made[name] = BACKENDS[name](self.engines)
            self._unavailable[name] = self._made[name].unavailable_reason()
        return self._made[name], self._unavailable[name]

    def for_scenario(self, scenario: Scenario) -> Backend:
        """Docker for container targets when an engine answers, local otherwise (logged)."""
        if self.name != AUTO:
            backend, reason = self._get(self.name)
            if reason:
                raise InputError(f"backend {self.name!r} cannot run here: {reason}")
            return backend
        wanted = self.targets or scenario.matrix.targets
        if all(t == HOST_TARGET for t in wanted):
            logger.warning("%s: backend local (it names no container targets)", scenario.name)
            return self._get("local")[0]
        backend, reason = self._get("docker")
        if reason is None:
            logger.warning("%s: backend docker (an engine answers)", scenario.name)
            return backend
        logger.warning("%s: backend local (%s)", scenario.name, reason.splitlines()[0])
        return self._get("local")[0]

    def used(self) -> dict[str, Backend]:
        return {name: b for name, b in self._made.items() if self._unavailable[name] is None}


def cells_for(
    scenario: Scenario,
    backend: Backend,
    targets: Sequence[str] | None,
    arches: Sequence[str] | None = None,
) -> tuple[Cell, ...]:
    if backend.name == "local":
        foreign = [a for a in arches or () if a != platform.machine()]
        if foreign:
            raise InputError(
                f"--arch {','.join(foreign)}: the local backend runs only this machine's arch "
                f"({platform.machine()}); other arches need container targets (--backend docker "
                "--target debian:bookworm)"
            )
        return plan(scenario, targets=[HOST_TARGET], arches=[platform.machine()])
    chosen = targets or scenario.matrix.targets
    if HOST_TARGET in chosen:
        raise InputError(
            f"{scenario.path}: matrix.targets: the target {HOST_TARGET!r} runs only on the local "
            "backend; name container targets (e.g. debian:bookworm) with --target or in the "
            "scenario, or use --backend local"
        )
    return plan(scenario, targets=chosen, arches=arches)


def selected(cells: Sequence[Cell], patterns: Sequence[str]) -> tuple[Cell, ...]:
    if not patterns:
        return tuple(cells)
    return tuple(c for c in cells if any(fnmatch.fnmatchcase(c.id, p) for p in patterns))


def run_group(
    scenario: Scenario,
    cells: Sequence[Cell],
    backend: Backend,
    wheels: Sequence[BuiltWheel],
    facts_seen: Callable[[TargetFacts], None] = lambda _: None,
) -> Iterator[CellResult]:
    """Run cells that share a target and arch in one session; infra failures become verdicts."""
    first = cells[0]
    by_id = {cell.id: cell for cell in cells}
    done: set[str] = set()
    try:
        with backend.open(first.target, first.arch, wheels) as session:
            facts_seen(session.facts)
            emulated = session.facts.emulated
            scale = timeout_scale(first.arch, emulated)
            jobs = [job_for(scenario, cell, timeout_scale=scale) for cell in cells]
            for outcome in session_outcomes(session, jobs):
                done.add(outcome.cell_id)
                yield _result(by_id[outcome.cell_id], scenario, backend, outcome, emulated)
    except InfrastructureError as exc:
        logger.error("%s: %s", first.group, exc)
        for cell in cells:
            if cell.id not in done:
                yield _result(cell, scenario, backend, Outcome.infra(cell.id, str(exc)))


def session_outcomes(session: Session, jobs: Sequence[CellJob]) -> Iterator[Outcome]:
    """The session's outcomes; every cell is `not-installable` when the set cannot install."""
    if session.not_installable:
        return (Outcome(cell_id=j.cell_id, not_installable=session.not_installable) for j in jobs)
    return session.run(jobs)


def group_cells(cells: Sequence[Cell]) -> list[list[Cell]]:
    """Cells that share one environment, in plan order."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.group, []).append(cell)
    return list(groups.values())


def wheels_for(scenario: Scenario, cell: Cell, backend: Backend) -> tuple[BuiltWheel, ...]:
    """The scenario's wheels, built where the backend builds for this cell's target."""
    native = backend.builder(cell.target, cell.arch)
    wheels = scenario.variant(cell.variant).wheels
    return build_wheels(wheels, load_catalogue(), native, cell.arch)


def _result(
    cell: Cell, scenario: Scenario, backend: Backend, outcome: Outcome, emulated: bool = False
) -> CellResult:
    return CellResult.make(
        cell,
        backend.name,
        outcome,
        classify(outcome),
        expected_for(scenario.expectations, cell),
        emulated=emulated,
    )


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    scenarios: tuple[Path, ...]
    backend: str = AUTO
    results_root: Path = Path("results")
    select: tuple[str, ...] = ()
    targets: tuple[str, ...] | None = None
    command: tuple[str, ...] = ()
    arches: tuple[str, ...] | None = None  # replace the scenarios' matrix.arch
    engines: Mapping[str, str] = field(default_factory=dict)  # arch -> Docker engine


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    run_dir: Path
    results: tuple[CellResult, ...]
    results_path: Path

    @property
    def exit_code(self) -> int:
        if any(r.verdict == Verdict.INFRA_ERROR for r in self.results):
            return EXIT_INFRA
        if any(not r.matches_expectation for r in self.results):
            return EXIT_UNEXPECTED
        return EXIT_OK


def execute(
    request: RunRequest, progress: Callable[[CellResult, int, int], None] = lambda *_: None
) -> RunSummary:
    scenarios = load_all(request.scenarios)
    backends = Backends(request.backend, request.targets, request.engines)
    chosen = {s.name: backends.for_scenario(s) for s in scenarios}
    planned = [
        (
            s,
            selected(
                cells_for(s, chosen[s.name], request.targets, request.arches), request.select
            ),
        )
        for s in scenarios
    ]
    total = sum(len(cells) for _, cells in planned)
    if total == 0:
        first = scenarios[0]
        example = cells_for(first, chosen[first.name], request.targets, request.arches)[0].id
        raise InputError(
            f"--select {' '.join(request.select)!r} matches no cell; cell ids look like {example!r}"
        )
    work = [(s, group) for s, cells in planned for group in group_cells(cells) if cells]
    # Every wheel is built (or found in the cache) before the first cell runs.
    built = {group[0].group: wheels_for(s, group[0], chosen[s.name]) for s, group in work}
    run_dir = request.results_root / new_run_id()
    writer = ResultsWriter(run_dir)
    results: list[CellResult] = []
    facts: dict[str, TargetFacts] = {}

    def remember(seen: TargetFacts) -> None:
        facts.setdefault(f"{seen.target}/{seen.arch}", seen)

    provenance = Provenance(
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        command=request.command,
        backends={name: dict(b.describe()) for name, b in backends.used().items()},
        compilers={f"{w.toolchain} @ {w.builder}": w.compiler for ws in built.values() for w in ws},
        wheels=tuple({w.sha256: w for ws in built.values() for w in ws}.values()),
    )
    try:
        for scenario, group in work:
            backend = chosen[scenario.name]
            for result in run_group(scenario, group, backend, built[group[0].group], remember):
                writer.add(result)
                results.append(result)
                progress(result, len(results), total)
    finally:
        path = writer.finish(replace(provenance, targets=tuple(facts.values())), results)
    return RunSummary(run_dir=run_dir, results=tuple(results), results_path=path)
