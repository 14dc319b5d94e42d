"""Orchestration: scenarios → wheels → cells → backend sessions → verdicts → results on disk."""

from __future__ import annotations

import fnmatch
import logging
import platform
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from harness.analysis import agreement, borrowed, reproducer
from harness.build.prebuilt import (
    given_wheels,
    provided_names,
    require_dependencies,
    with_modules,
)
from harness.build.runtime_requires import with_runtime_wheelhouse
from harness.build.toolchains import load_catalogue
from harness.build.wheelhouse import TargetPython
from harness.build.wheels import BuiltWheel, build_wheels
from harness.cells.backends import BACKENDS, Backend, Session, TargetFacts, target_python
from harness.cells.capture_request import CaptureSettings, CaptureSpec
from harness.cells.jobs import CellJob, job_for
from harness.cells.outcome import Outcome
from harness.common import progress
from harness.common.ids import CellId
from harness.common.progress import StageKind
from harness.common.stopping import Stopped, never
from harness.common.verdicts import Verdict
from harness.errors import InfrastructureError, InputError, InvalidInputFile, Problem
from harness.evidence import capture as crash_capture
from harness.evidence.classify import classify
from harness.evidence.results import CellResult, Provenance, new_run_id
from harness.images.catalogue import timeout_scale
from harness.run import attribute, prepare, repeats, reuse
from harness.run.parallel import dealt, run_units, split
from harness.run.pools import Seat, WheelSet, plan_pools
from harness.run.shards import Shard, shard_of
from harness.run.sharing import Pools, chunks
from harness.run.state import (
    CellIndex,
    Manifest,
    Stream,
    iter_cells,
    read_facts,
    record_facts,
    slim_results,
    write_results,
)
from harness.scenario.covering import Coverage
from harness.scenario.load import HOST_TARGET, Scenario, load_scenario
from harness.scenario.plan import Cell, coverage, expected_for, plan

logger = logging.getLogger(__name__)

AUTO: Final = "auto"
EXIT_OK: Final = 0
EXIT_UNEXPECTED: Final = 1
EXIT_INFRA: Final = 3


def load_all(paths: Sequence[Path], cover: int | None = None) -> tuple[Scenario, ...]:
    """Every scenario, or one error listing the problems of every bad file."""
    problems: list[Problem] = []
    scenarios: list[Scenario] = []
    for path in paths:
        try:
            scenarios.append(load_scenario(path, load_catalogue(), cover=cover))
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
        self._making = threading.Lock()  # groups screened at once (-j) ask from threads

    def _get(self, name: str) -> tuple[Backend, str | None]:
        with self._making:
            if name not in self._made:
                made = BACKENDS[name](self.engines)
                self._unavailable[name] = made.unavailable_reason()
                self._made[name] = made
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
    capture: CaptureSettings | None = None,
    batches: int = 1,
    stopped: Stopped = never,
) -> Iterator[CellResult]:
    """Run cells that share a target and arch in one session, dealt into `batches` supervisor
    batches that run at once there; infra failures become verdicts. With `capture`, failing
    cells leave their evidence under the capture's run folder. Results come as cells end."""
    first = cells[0]
    member = Member(scenario=scenario, cells=tuple(cells), wheels=tuple(wheels))
    return run_members(
        [member],
        backend,
        lambda: backend.open(first.target, first.arch, wheels, batches),
        facts_seen,
        capture,
        batches,
        stopped,
    )


@dataclass(frozen=True, kw_only=True)
class Member:
    """One wheel set's cells, among those run in one session."""

    scenario: Scenario
    cells: tuple[Cell, ...]
    wheels: tuple[BuiltWheel, ...]


def run_members(
    members: Sequence[Member],
    backend: Backend,
    opened: Callable[[], AbstractContextManager[Session]],
    facts_seen: Callable[[TargetFacts], None] = lambda _: None,
    capture: CaptureSettings | None = None,
    batches: int = 1,
    stopped: Stopped = never,
) -> Iterator[CellResult]:
    """`run_group` for the cells of several wheel sets in the one session `opened` gives (a
    pool's, whose session hides the rest of the pool from each set's cells): their jobs run
    together, dealt into `batches` batches."""
    first = members[0].cells[0]
    run_dir = capture.run_dir if capture else None
    members = [replace(m, scenario=with_modules(m.scenario, m.wheels)) for m in members]
    of = {cell.id: (cell, m) for m in members for cell in m.cells}
    done: set[str] = set()
    try:
        with opened() as session:
            facts_seen(session.facts)
            emulated = session.facts.emulated
            scale = timeout_scale(first.arch, emulated)
            jobs: list[CellJob] = []
            repro: dict[str, str] = {}
            for member in members:
                provided = provided_names(member.wheels)
                mine = [job_for(member.scenario, cell, scale, provided) for cell in member.cells]
                if capture is not None:
                    planned = member.scenario.matrix.repeat  # runs past it are extra runs
                    mine = [
                        replace(job, capture=capture.spec_for(job.cell_id, keep_core=keep))
                        for job, keep in zip(
                            mine, [c.repeat <= planned for c in member.cells], strict=True
                        )
                    ]
                for job in mine:
                    facts = session.facts
                    repro[job.cell_id] = reproducer.for_cell(
                        backend.name, job, facts, member.wheels
                    )
                jobs += mine
            specs = {job.cell_id: job.capture for job in jobs}

            def run_batch(batch: Sequence[CellJob], halted: Stopped) -> Iterator[Outcome]:
                return batch_outcomes(session, batch, halted)

            parts = dealt(jobs, batches)
            with closing(run_units(parts, run_batch, len(parts), stopped)) as outcomes:
                for outcome in outcomes:
                    done.add(outcome.cell_id)
                    cell, member = of[outcome.cell_id]
                    result = _result(
                        cell, member.scenario, backend, outcome, repro[cell.id], emulated
                    )
                    yield _with_evidence(result, outcome, specs[outcome.cell_id], run_dir)
    except InfrastructureError as exc:
        logger.error("%s: %s", first.group, exc)
        for cell, member in of.values():
            if cell.id not in done:
                yield _result(cell, member.scenario, backend, Outcome.infra(cell.id, str(exc)))


def session_outcomes(
    session: Session, jobs: Sequence[CellJob], stopped: Stopped = never
) -> Iterator[Outcome]:
    """The session's outcomes; every cell is `not-installable` when the set cannot install."""
    if session.not_installable:
        return (Outcome(cell_id=j.cell_id, not_installable=session.not_installable) for j in jobs)
    return session.run(jobs, stopped)


def batch_outcomes(
    session: Session, jobs: Sequence[CellJob], stopped: Stopped
) -> Iterator[Outcome]:
    """One batch's outcomes. When the batch fails (the engine would not take it in), its
    cells not done yet are infra-errors, and the session's other batches go on."""
    done: set[str] = set()
    try:
        for outcome in session_outcomes(session, jobs, stopped):
            done.add(outcome.cell_id)
            yield outcome
    except InfrastructureError as exc:
        logger.error("a batch of %d cells: %s", len(jobs), exc)
        yield from (Outcome.infra(j.cell_id, str(exc)) for j in jobs if j.cell_id not in done)


def group_cells(cells: Sequence[Cell]) -> list[list[Cell]]:
    """Cells that share one environment, in plan order."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.group, []).append(cell)
    return list(groups.values())


def wheels_for(scenario: Scenario, cell: Cell, backend: Backend) -> tuple[BuiltWheel, ...]:
    """The scenario's wheels, built where the backend builds for this cell's target."""
    wheels = scenario.variant(cell.variant).wheels
    fixtures = [w for w in wheels if not w.prebuilt]

    def python() -> TargetPython:
        return target_python(backend, cell.target, cell.arch)

    made = {w.wheel_id: w for w in given_wheels(wheels, python).values()}
    if fixtures:
        native = backend.builder(cell.target, cell.arch)
        built = build_wheels(fixtures, load_catalogue(), native, cell.arch)
        built = with_runtime_wheelhouse(fixtures, built, python)
        made |= {w.wheel_id: w for w in built}
    out = tuple(made[w.id] for w in wheels)
    require_dependencies(out, python)
    return out


def _with_evidence(
    result: CellResult,
    outcome: Outcome,
    spec: CaptureSpec | None,
    run_dir: Path | None,
) -> CellResult:
    return replace(result, evidence=crash_capture.gather(outcome, spec, run_dir))


def _result(
    cell: Cell,
    scenario: Scenario,
    backend: Backend,
    outcome: Outcome,
    repro: str = "",
    emulated: bool = False,
) -> CellResult:
    expected = expected_for(scenario.expectations, cell)
    return CellResult.make(
        cell, backend.name, outcome, classify(outcome), expected, repro, emulated=emulated
    )


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    scenarios: tuple[Path, ...]
    backend: str = AUTO
    results_root: Path = Path("results")
    select: tuple[str, ...] = ()
    targets: tuple[str, ...] | None = None
    command: tuple[str, ...] = ()
    jobs: int = 1
    shard: Shard | None = None
    cover: int | None = None
    resume: Path | None = None
    capture: bool = True
    debug_bindings: bool = False
    loaded: tuple[Scenario, ...] = ()  # scenarios made in memory (`check`), run as they are
    arches: tuple[str, ...] | None = None  # replace the scenarios' matrix.arch
    engines: Mapping[str, str] = field(default_factory=dict)  # arch -> Docker engine
    repeat_failures: int = 1  # runs in all of every failing logical cell (harness/run/repeats.py)
    attribution_budget: int = attribute.DEFAULT_BUDGET  # real runs attribution may make
    # Take unchanged environments' cells from a previous run (harness/run/reuse.py): this
    # results.json, edition or run folder, else the latest edition of the target under
    # `editions`; neither: every cell runs, and results.json records the keys all the same.
    incremental: bool = False
    previous: Path | None = None
    editions: Path | None = None
    # More top-level keys for results.json, made from the finished cells (the atlas's
    # screening record, which says which of its pairs the cells confirmed).
    annotate: Callable[[Sequence[CellResult]], Mapping[str, Any]] | None = None
    # Run the cells of wheel sets that can share an environment in one (harness/run/pools.py):
    # one install per pool instead of one per set, each cell hiding what its set lacks.
    share_environments: bool = False

    def resumed(self, manifest: Manifest) -> RunRequest:
        """This request with the scenarios and choices of the run it resumes."""
        return replace(
            self,
            scenarios=tuple(Path(p) for p in manifest.scenarios),
            backend=manifest.backend,
            targets=manifest.targets,
            select=manifest.select,
            cover=manifest.cover,
            shard=Shard.parse(manifest.shard) if manifest.shard else None,
            repeat_failures=manifest.repeat_failures,
        )


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    run_dir: Path
    results: tuple[CellResult, ...]
    results_path: Path
    coverage: tuple[tuple[str, Coverage], ...] = ()

    @property
    def exit_code(self) -> int:
        if any(r.outcome.verdict == Verdict.INFRA_ERROR for r in self.results):
            return EXIT_INFRA
        if any(not r.outcome.matches_expectation for r in self.results):
            return EXIT_UNEXPECTED
        return EXIT_OK


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """What a run sets out to do: its request (a resumed run's own choices), scenarios,
    backends, and this shard's groups of cells."""

    request: RunRequest
    resumed: Manifest | None
    scenarios: tuple[Scenario, ...]
    backends: Backends
    chosen: Mapping[str, Backend]  # scenario name -> its backend
    units: tuple[tuple[Cell, ...], ...]  # this shard's groups, one session each
    position: Mapping[str, int]  # cell id -> its place in the whole run's plan (all shards)
    mine: tuple[str, ...]  # this shard's cell ids, in plan order

    def scenario(self, cell: Cell) -> Scenario:
        return next(s for s in self.scenarios if s.name == cell.scenario)


@dataclass(frozen=True, kw_only=True)
class PreparedRun:
    """A planned run with its wheels built and its folder ready: `run.json` written (or
    read back), and the index of the cells already finished there."""

    plan: RunPlan
    run_dir: Path
    manifest: Manifest
    index: CellIndex  # grows as cells finish: `run_cells` streams into it
    built: Mapping[str, tuple[BuiltWheel, ...]]  # cell group -> its wheels
    todo: tuple[tuple[Cell, ...], ...]  # the groups' cells not finished yet
    # Each backend's provenance, read while its engine is known to answer (the engine may be
    # gone by the time results are written).
    described: Mapping[str, Mapping[str, str]]
    reused: reuse.Reused | None = None  # what was taken from a previous run (incremental)
    seats: Mapping[str, Seat] = field(default_factory=dict)  # cell group -> its pool seat


def plan_run(request: RunRequest) -> RunPlan:
    """Load the scenarios (a resumed run's), pick their backends, and plan this shard's cells."""
    resumed = Manifest.read(request.resume) if request.resume is not None else None
    if resumed is not None:
        request = request.resumed(resumed)
    scenarios = request.loaded or load_all(request.scenarios, request.cover)
    backends = Backends(request.backend, request.targets, request.engines)
    chosen = {s.name: backends.for_scenario(s) for s in scenarios}
    planned = [
        selected(cells_for(s, chosen[s.name], request.targets, request.arches), request.select)
        for s in scenarios
    ]
    if not any(planned):
        first = scenarios[0]
        example = cells_for(first, chosen[first.name], request.targets, request.arches)[0].id
        raise InputError(
            f"--select {' '.join(request.select)!r} matches no cell; cell ids look like {example!r}"
        )
    position = {cell.id: i for i, cell in enumerate(c for cells in planned for c in cells)}
    units = shard_of([g for cells in planned for g in group_cells(cells)], request.shard)
    return RunPlan(
        request=request,
        resumed=resumed,
        scenarios=scenarios,
        backends=backends,
        chosen=chosen,
        units=tuple(tuple(u) for u in units),
        position=position,
        mine=tuple(sorted((c.id for u in units for c in u), key=position.__getitem__)),
    )


def prepare_run(plan: RunPlan) -> PreparedRun:
    """Build every wheel (or find it in the cache) before the first cell runs, then make the
    run folder, or check that the resumed one was made with the same wheels."""
    request = plan.request
    # Images and wheels are made several at a time first (harness/run/prepare.py).
    built = prepare.prepare_groups(
        plan.units, plan.scenario, lambda cell: plan.chosen[cell.scenario], wheels_for
    )
    hashes = tuple(sorted({w.sha256 for ws in built.values() for w in ws}))
    if plan.resumed is not None and request.resume is not None:
        run_dir = request.resume
        plan.resumed.check_resumable(run_dir, hashes)
        index = CellIndex.scan(run_dir)
        manifest = plan.resumed
    else:
        run_dir = request.results_root / new_run_id()
        index = CellIndex()
        manifest = Manifest(
            scenarios=tuple(str(p.resolve()) for p in request.scenarios),
            backend=request.backend,
            targets=request.targets,
            select=request.select,
            cover=request.cover,
            shard=str(request.shard) if request.shard else None,
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            command=request.command,
            planned=len(plan.mine),
            wheels=hashes,
            repeat_failures=request.repeat_failures,
        )
        manifest.write(run_dir)
    todo = tuple(left for u in plan.units if (left := tuple(c for c in u if c.id not in index)))
    if plan.resumed is not None:
        waiting = sum(map(len, todo))
        logger.warning(
            "resuming %s: %d of %d cells done, %d to run",
            run_dir,
            len(plan.mine) - waiting,
            len(plan.mine),
            waiting,
        )
    return PreparedRun(
        plan=plan,
        run_dir=run_dir,
        manifest=manifest,
        index=index,
        built=built,
        todo=todo,
        described={name: dict(b.describe()) for name, b in plan.backends.used().items()},
        # From every set of the shard, not only those left: a resumed run opens the pools
        # the whole run would, and results.json records them all.
        seats=seats_for(plan.units, built) if request.share_environments else {},
    )


def seats_for(
    units: Sequence[Sequence[Cell]], built: Mapping[str, Sequence[BuiltWheel]]
) -> dict[str, Seat]:
    """The pools the units' wheel sets can share, by cell group (harness/run/pools.py)."""
    sets = [
        WheelSet(
            key=u[0].group, target=u[0].target, arch=u[0].arch, wheels=tuple(built[u[0].group])
        )
        for u in units
        if u
    ]
    seats = plan_pools(sets)
    pooled = {seat.pool.name: seat.pool for seat in seats.values()}
    for pool in pooled.values():
        logger.warning(
            "%s: %d wheel sets share one environment of %d wheels",
            pool.name,
            len(pool.members),
            len(pool.wheels),
        )
    return seats


def pools_info(seats: Mapping[str, Seat]) -> list[dict[str, Any]]:
    """results.json's record of the pools: which sets shared which environment."""
    pools = {seat.pool.name: seat.pool for seat in seats.values()}
    return [
        {
            "name": pool.name,
            "target": pool.target,
            "arch": pool.arch,
            "wheels": [w.path.name for w in pool.wheels],
            "groups": list(pool.members),
        }
        for pool in pools.values()
    ]


def run_cells(prepared: PreparedRun) -> None:
    """Run the cells not finished yet, streaming each to cells.jsonl as it ends: `-j` groups
    at once, and with fewer groups than that, a group's cells in several batches at once
    (`harness/run/parallel.py` splits the work)."""
    plan = prepared.plan
    run_dir = prepared.run_dir
    facts_lock = threading.Lock()
    facts_seen: set[str] = set()
    capture = (
        CaptureSettings(run_dir=run_dir, debug_bindings=plan.request.debug_bindings)
        if plan.request.capture
        else None
    )

    def remember(seen: TargetFacts) -> None:
        with facts_lock:
            if f"{seen.target}/{seen.arch}" not in facts_seen:
                facts_seen.add(f"{seen.target}/{seen.arch}")
                record_facts(run_dir, seen)

    pools = Pools(prepared.seats, plan.request.jobs)

    def run_one(cells: Sequence[Cell], batches: int, stopped: Stopped) -> Iterator[CellResult]:
        scenario = plan.scenario(cells[0])
        backend = pools.backend(cells[0].group, plan.chosen[scenario.name])
        wheels = prepared.built[cells[0].group]
        return run_group(scenario, cells, backend, wheels, remember, capture, batches, stopped)

    def run_unit(
        unit: tuple[tuple[Sequence[Cell], ...], int], stopped: Stopped
    ) -> Iterator[CellResult]:
        """A chunk's cells: one set's, or several sets' of one pool in one session."""
        sets, batches = unit
        if len(sets) == 1:
            yield from run_one(sets[0], batches, stopped)
            return
        backend = plan.chosen[sets[0][0].scenario]
        session = pools.shared(backend, prepared.seats[sets[0][0].group].pool)
        if session is None:  # its sets run on their own
            for cells in sets:
                yield from run_one(cells, batches, stopped)
            return
        members = [
            Member(
                scenario=plan.scenario(cells[0]),
                cells=tuple(cells),
                wheels=tuple(prepared.built[cells[0].group]),
            )
            for cells in sets
        ]
        shared: Session = session

        def opened() -> AbstractContextManager[Session]:
            return nullcontext(shared)  # the pool stays open for its other sets

        yield from run_members(members, backend, opened, remember, capture, batches, stopped)

    def dealt_units(
        todo: Sequence[Sequence[Cell]],
    ) -> list[tuple[tuple[Sequence[Cell], ...], int]]:
        grouped = chunks(todo, prepared.seats, plan.request.jobs)
        sizes = [sum(len(cells) for cells in sets) for sets in grouped]
        return list(zip(grouped, split(sizes, plan.request.jobs), strict=True))

    def position(result: CellResult) -> int:
        """The cell's place in the plan; an extra run of a failing cell takes its first's."""
        first = replace(result.cell.as_cell(), repeat=1).id
        return plan.position.get(result.id, plan.position.get(first, len(plan.position)))

    jobs = plan.request.jobs
    units = dealt_units(prepared.todo)
    count = len(plan.mine) - sum(map(len, prepared.todo))
    stream = Stream(run_dir, prepared.index)
    try:
        with pools:
            label = progress.few([s.name for s in plan.scenarios])
            with progress.stage(StageKind.CELLS, label, total=len(plan.mine), done=count) as step:
                for result in run_units(units, run_unit, jobs):
                    stream.add(replace(result, cell=replace(result.cell, index=position(result))))
                    step.cell(result.id, result.outcome.verdict)
            again = repeats.extra_runs(plan.units, prepared.index, plan.request.repeat_failures)
            if again:
                total = sum(map(len, again))
                logger.warning(
                    "running %d failing cell(s) again: %d run(s) to give each %d in all",
                    len({str(c.cell_id.logical) for unit in again for c in unit}),
                    total,
                    plan.request.repeat_failures,
                )
                extra = dealt_units(again)
                again_label = f"{label}, failing cells again"
                with progress.stage(StageKind.CELLS, again_label, total=total) as step:
                    for result in run_units(extra, run_unit, jobs):
                        stream.add(
                            replace(result, cell=replace(result.cell, index=position(result)))
                        )
                        step.cell(result.id, result.outcome.verdict)
    finally:
        stream.close()


def finish_run(
    prepared: PreparedRun,
    *,
    attribution_runs: bool = True,
    findings: Future[agreement.SetFindings] | None = None,
) -> RunSummary:
    """Attribute the failing cells (`attribute_failures`), then write results.json in plan
    order from what cells.jsonl holds (all of this shard's cells, or, after a failure, those
    that finished; then attribution makes no runs of its own). `findings`: the wheel sets'
    static findings, being worked out since the cells started (`early_findings`)."""
    plan = prepared.plan
    built = prepared.built
    order = repeats.results_order(plan.mine, prepared.index)
    attributed, amended = attribute_failures(prepared, runs=attribution_runs)
    run_info = {
        "shard": prepared.manifest.shard,
        "repeat_failures": plan.request.repeat_failures,
        "planned": len(plan.mine),
        "complete": all(cell_id in prepared.index for cell_id in plan.mine),
        "orders": [{"scenario": s.name, **coverage(s).to_json()} for s in plan.scenarios],
        **({"pools": pools_info(prepared.seats)} if prepared.seats else {}),
    }
    provenance = Provenance(
        started=prepared.manifest.started,
        command=prepared.manifest.command,
        backends={name: dict(found) for name, found in prepared.described.items()},
        compilers={f"{w.toolchain} @ {w.builder}": w.compiler for ws in built.values() for w in ws},
        wheels=tuple({w.sha256: w for ws in built.values() for w in ws}.values()),
        targets=read_facts(prepared.run_dir),
    )
    results = slim_results(prepared.run_dir, prepared.index, order, amended)
    ran: dict[str, list[str]] = {}
    for cell_id in order:
        ran.setdefault(CellId.parse(cell_id).group, []).append(cell_id)
    wheel_sets = [(built[group], ids) for group, ids in ran.items()]
    known = _findings_from(findings)
    path = write_results(
        prepared.run_dir,
        provenance,
        prepared.index,
        order,
        run_info,
        {
            **agreement.document_keys(wheel_sets, results, prepared.run_dir, known),
            "attribution": attributed.to_json(),
            **({reuse.REUSE_KEY: prepared.reused.to_json()} if prepared.reused else {}),
            **(plan.request.annotate(results) if plan.request.annotate else {}),
        },
        amended,
    )
    return RunSummary(
        run_dir=prepared.run_dir,
        results=results,
        results_path=path,
        coverage=tuple((s.name, coverage(s)) for s in plan.scenarios),
    )


def reuse_previous(prepared: PreparedRun) -> PreparedRun:
    """The prepared run with the cells of its unchanged environments taken from a previous
    run (harness/run/reuse.py), or, resumed, with what its start took."""
    plan = prepared.plan
    request = plan.request
    recorded = reuse.Reused.read(prepared.run_dir)
    if recorded is None:
        keys = {
            u[0].group: reuse.environment_key(plan.scenario(u[0]), prepared.built[u[0].group])
            for u in plan.units
        }
        places = {(c.target, c.arch) for u in plan.units for c in u}
        previous = reuse.given(request.previous) if request.previous else None
        if previous is None and request.editions is not None and len(places) == 1:
            ((target, arch),) = places
            previous = reuse.latest_edition(request.editions, target, arch)
        recorded = reuse.take(
            previous, keys, plan.mine, prepared.index, prepared.run_dir, plan.position
        )
    todo = tuple(
        left for u in prepared.todo if (left := tuple(c for c in u if c.id not in prepared.index))
    )
    return replace(prepared, todo=todo, reused=recorded)


# The finish step's attribution (harness/run/attribute.py) -----------------------------------


def attribute_failures(
    prepared: PreparedRun, *, runs: bool = True
) -> tuple[attribute.Record, dict[str, CellResult]]:
    """Give every failing cell of this shard, its extra runs too, its culprits and failure
    kind (one per logical cell, by the failure most of its runs showed) and judge its
    expectation again with that kind: what attribution did, and those cells by id (for
    results.json, in the place of their lines in cells.jsonl, which stays one line per
    cell run). Real runs (within the request's budget) use each group's backend and wheels;
    none when `runs` is false."""
    plan = prepared.plan
    places = {
        unit[0].group: attribute.Place(
            scenario=plan.scenario(unit[0]),
            backend=plan.chosen[unit[0].scenario],
            wheels=prepared.built[unit[0].group],
            cell=unit[0],
        )
        for unit in plan.units
    }
    everything = [
        CellResult.from_json(data)
        for data in iter_cells(
            prepared.run_dir, prepared.index, repeats.results_order(plan.mine, prepared.index)
        )
    ]
    # Cells taken from a previous run keep the attribution they came with.
    results = [r for r in everything if r.attribution is None]
    known = [r for r in everything if r.attribution is not None]
    known += borrowed.singletons(everything, prepared.built)
    budget = attribute.Budget(limit=plan.request.attribution_budget)
    if not runs:
        budget = attribute.Budget(limit=0, why="the run stopped early, so attribution ran nothing")
    amended, record = attribute.attribute_cells(results, places, budget, known)
    return record, {result.id: result for result in amended}


# ------------------------------------------------------------------------------------------


def _findings_from(findings: Future[agreement.SetFindings] | None) -> agreement.SetFindings:
    """What the early findings found; nothing when there were none or they failed (then
    document_keys works them out itself, and logs what it cannot read)."""
    if findings is None:
        return {}
    try:
        return findings.result()
    except Exception as exc:  # the same work is done again, where its failure is handled
        logger.debug("the early findings failed: %s", exc)
        return {}


def execute(request: RunRequest) -> RunSummary:
    """Plan, build, run this shard's cells not yet finished (all of them unless resuming),
    streaming each to cells.jsonl, then write results.json in plan order. When the run
    fails, results.json still gets the cells that finished; the failure is what is raised,
    with a note when that write failed too. The wheel sets' static findings are worked out
    in a thread of their own while the cells run: they need the wheels only, and the cores
    wait on the engine while the first containers open."""
    prepared = prepare_run(plan_run(request))
    if request.incremental:
        prepared = reuse_previous(prepared)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="findings") as early:
        findings = early.submit(agreement.set_findings, list(prepared.built.values()))
        try:
            run_cells(prepared)
        except BaseException as failure:
            try:
                finish_run(prepared, attribution_runs=False, findings=findings)
            except BaseException as also:  # never in the place of the failure that stopped it
                failure.add_note(f"then writing the results failed too: {also}")
            raise
        return finish_run(prepared, findings=findings)
