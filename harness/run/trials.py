"""Runs of some of a cell's wheels, one fresh interpreter each, in an open backend session:
what `wheelclash minimize` (harness/run/minimize.py) and attribution
(harness/run/attribute.py) test a set of wheels with."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from harness.analysis.attribution import sub_cell
from harness.cells.backends import Session
from harness.cells.jobs import job_for
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.errors import InfrastructureError
from harness.evidence.classify import classify
from harness.images.catalogue import timeout_scale
from harness.scenario.atlas_pairs import exercise_for
from harness.scenario.load import Scenario
from harness.scenario.plan import Cell

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Trial:
    """One run of a set of wheels: its cell, and what came of it."""

    cell: Cell
    verdict: Verdict
    subkind: ImportErrorKind | None
    detail: str
    step: str  # the probe's last step (harness/cells/outcome.py)
    # the import steps that first loaded victims' modules, with those modules (`Outcome`)
    loaded: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def order(self) -> tuple[str, ...]:
        return self.cell.order


def subset_cell(cell: Cell, order: tuple[str, ...], repeat: int) -> Cell:
    """`cell` importing only `order`, with its exercises in the same relative first-use
    order (harness/analysis/attribution.py `sub_cell`)."""
    use = sub_cell(cell.cell_id.logical, order).use
    return replace(cell, order=order, use=use, repeat=repeat)


# what a run hides of its session: module names and distribution names
Hidden = tuple[tuple[str, ...], tuple[str, ...]]


class Runs(Protocol):
    """What runs sets of wheels for a search: a `Tester`, or a replay of an earlier run's
    answers (benchmarks/screen_replay.py)."""

    trials: list[Trial]  # every trial made, in order (a part asked again is not run again)

    def run(self, order: tuple[str, ...]) -> Trial: ...


class Tester:
    """Runs one cell per order in an open session, remembering every answer."""

    def __init__(
        self,
        scenario: Scenario,
        cell: Cell,
        session: Session,
        *,
        log_runs: bool = True,
        provided: tuple[str, ...] = (),
        ran: Callable[[Trial], None] = lambda _: None,
        hide: Callable[[tuple[str, ...]], Hidden] | None = None,
    ) -> None:
        self.log_runs = log_runs
        self.ran = ran  # told of each trial as it is made (not of remembered ones)
        self.provided = provided  # every wheel of the session is installed, whatever is run
        # what a run of some of the session's wheels hides of it (modules, distributions)
        self.hide = hide
        self.scenario = scenario
        self.cell = cell
        self.session = session
        self.trials: list[Trial] = []
        self.seen: dict[tuple[str, ...], Trial] = {}

    def run(self, order: tuple[str, ...]) -> Trial:
        """The trial of `order`: run now, or remembered. An infra-error is raised, never
        taken for an answer about the wheels."""
        if order in self.seen:
            return self.seen[order]
        number = len(self.trials) + 1
        cell = subset_cell(self.cell, order, number)
        subset = replace(
            self.scenario,
            wheels=tuple(self.scenario.wheel(w) for w in order),
            exercise=exercise_for(
                self.scenario.exercise, order, [w.id for w in self.scenario.wheels]
            ),
        )
        scale = timeout_scale(cell.arch, self.session.facts.emulated)
        job = job_for(subset, cell, timeout_scale=scale, provided=self.provided)
        if self.hide is not None:
            modules, dists = self.hide(order)
            job = replace(job, hidden_modules=modules, hidden_dists=dists)
        if self.session.not_installable:
            raise InfrastructureError(
                f"the wheel set cannot be installed there: {self.session.not_installable}"
            )
        # Read the batch to its end: a session may take a consumer leaving early for a
        # harness that gave up, and stop its container (harness/cells/backends/docker.py).
        (outcome,) = list(self.session.run([job]))
        verdict = classify(outcome)
        if verdict.verdict == Verdict.INFRA_ERROR:
            raise InfrastructureError(f"run {number} ({','.join(order)}): {verdict.detail}")
        trial = Trial(
            cell=cell,
            verdict=verdict.verdict,
            subkind=verdict.subkind,
            detail=verdict.detail,
            step=outcome.last_step,
            loaded=outcome.victims_loaded,
        )
        self.seen[order] = trial
        self.trials.append(trial)
        self.ran(trial)
        if self.log_runs:
            logger.warning("run %d: %s → %s", number, ",".join(order), verdict.verdict)
        return trial
