"""Attribution when a run ends: each failing cell gets its culprits and failure kind
(harness/analysis/attribution.py), and its expectation is judged again with that kind (rules
on `when.failure_kind` can only be applied now).

The run's own cells answer first (with `[matrix] singletons` every singleton is among them).
A set of wheels they do not answer for, a singleton the run did not run or a subset of a
larger cell, is run for real: in a session of the cell's group opened by the same backend
with the same wheels, one fresh interpreter per run (harness/run/trials.py), at most
`Budget.limit` runs in the whole run. The singletons go first, then the reductions, in plan
order; what the runs were and how long attribution took go into results.json.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from harness.analysis.attribution import (
    NotObserved,
    Signature,
    attribute_results,
    judged,
    known_runs,
    needed_singletons,
    signature,
)
from harness.build.prebuilt import with_modules
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Backend, Session
from harness.common.ids import LogicalId
from harness.errors import InfrastructureError
from harness.evidence.results import Attribution, CellResult
from harness.run.trials import Tester, Trial
from harness.scenario.load import Scenario
from harness.scenario.plan import Cell

logger = logging.getLogger(__name__)

DEFAULT_BUDGET: Final = 20


@dataclass(kw_only=True)
class Budget:
    """How many attribution runs a run may still make, and what they cost."""

    limit: int
    runs: int = 0
    refused: int = 0  # sets not run because the budget had run out
    why: str = ""  # why no run may be made at all, when that is not the limit

    def take(self) -> None:
        if self.runs >= self.limit:
            self.refused += 1
            raise NotObserved(self.why or f"the attribution budget ({self.limit} runs) ran out")
        self.runs += 1


@dataclass(frozen=True, kw_only=True)
class Place:
    """Where a group's sets run: its scenario, backend and wheels, and one of its cells (for
    the target and arch)."""

    scenario: Scenario
    backend: Backend
    wheels: tuple[BuiltWheel, ...]
    cell: Cell


@dataclass(frozen=True, kw_only=True)
class Record:
    """What attribution did in a run: results.json's `attribution` key."""

    budget: int
    runs: int
    wall_s: float
    exhausted: bool  # some set was not run because the budget had run out
    cells: int  # failing cells attributed
    trials: tuple[Trial, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "runs": self.runs,
            "wall_s": round(self.wall_s, 3),
            "exhausted": self.exhausted,
            "cells": self.cells,
            "trials": [
                {
                    "cell": str(t.cell.cell_id.logical),
                    "verdict": str(t.verdict),
                    "subkind": str(t.subkind) if t.subkind else None,
                    "step": t.step,
                }
                for t in self.trials
            ],
        }


@dataclass(kw_only=True)
class _Runs:
    """Real runs of sets of wheels, one session per group opened when first needed."""

    places: Mapping[str, Place]
    budget: Budget
    stack: contextlib.ExitStack
    sessions: dict[str, Session] = field(default_factory=dict)
    testers: dict[str, Tester] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # group -> why its session failed
    failed: dict[str, str] = field(default_factory=dict)  # logical id -> why its run failed

    def observe(self, logical: LogicalId) -> frozenset[Signature]:
        """What a run of `logical` showed: remembered, or run now (one of the budget's runs)."""
        place = self.places.get(logical.group)
        if place is None:
            raise NotObserved(f"{logical.group} has no place to run in")
        if logical.group in self.broken:
            raise NotObserved(self.broken[logical.group])
        if str(logical) in self.failed:
            raise NotObserved(self.failed[str(logical)])
        key = f"{logical.group}/{logical.dlopen}/{logical.host}/use:{','.join(logical.use)}"
        tester = self.testers.get(key)
        fresh = tester is None or logical.order not in tester.seen
        if fresh:
            self.budget.take()
        try:
            if tester is None:
                tester = self.testers[key] = self._tester(place, logical)
            trial = tester.run(logical.order)
        except InfrastructureError as exc:
            why = self.failed[str(logical)] = f"the run of {logical.tail} failed: {exc.message}"
            logger.warning("attribution run %d: %s", self.budget.runs, why)
            raise NotObserved(why) from exc
        if fresh:
            where = trial.step or "start-up"
            logger.warning(
                "attribution run %d: %s → %s at %s", self.budget.runs, logical, trial.verdict, where
            )
        return frozenset({signature(trial.verdict, trial.subkind, trial.step)})

    def _tester(self, place: Place, logical: LogicalId) -> Tester:
        """A tester of the cell's mode (dlopen, host, first-use order) in its group's session,
        opened now when it is the group's first."""
        if logical.group not in self.sessions:
            first = place.cell
            opened = place.backend.open(first.target, first.arch, place.wheels)
            try:
                self.sessions[logical.group] = self.stack.enter_context(opened)
            except InfrastructureError as exc:
                why = f"no session for {logical.group}: {exc.message}"
                self.broken[logical.group] = why
                raise NotObserved(why) from exc
        template = replace(
            place.cell, dlopen=logical.dlopen, host=logical.host, use=logical.use, repeat=1
        )
        scenario = with_modules(place.scenario, place.wheels)
        return Tester(scenario, template, self.sessions[logical.group], log_runs=False)

    @property
    def trials(self) -> tuple[Trial, ...]:
        return tuple(t for tester in self.testers.values() for t in tester.trials)


def attribute_cells(
    results: Sequence[CellResult],
    places: Mapping[str, Place],
    budget: Budget,
    known: Sequence[CellResult] = (),
) -> tuple[tuple[CellResult, ...], Record]:
    """The failing cells of `results`, each with its attribution and its expectation judged
    again with its failure kind, and what attribution did. Runs are made in `places`
    (group -> place) while `budget` lasts; `known` are cells that answer for their sets
    too but are not attributed again (taken from a previous run, with theirs)."""
    started = time.monotonic()
    runs_before = budget.runs
    settled = known_runs(known)
    with contextlib.ExitStack() as stack:
        runs = _Runs(places=places, budget=budget, stack=stack)

        def observe(logical: LogicalId) -> frozenset[Signature]:
            seen = settled.get(str(logical))
            return seen if seen is not None else runs.observe(logical)

        # The singletons first, so that a budget too small for every reduction still
        # tells every single-wheel failure apart.
        for single in needed_singletons(results, {**settled, **known_runs(results)}):
            with contextlib.suppress(NotObserved):
                observe(single)
        found = attribute_results(results, observe)
    amended = tuple(
        _judged(result, found[result.id], places) for result in results if result.id in found
    )
    record = Record(
        budget=budget.limit,
        runs=budget.runs - runs_before,
        wall_s=time.monotonic() - started,
        exhausted=budget.refused > 0,
        cells=len(amended),
        trials=runs.trials,
    )
    if record.runs or (record.exhausted and not budget.why):
        logger.warning("%s", summary_line(record))
    return amended, record


def _judged(result: CellResult, found: Attribution, places: Mapping[str, Place]) -> CellResult:
    """The result with its attribution, and its expectation as the rules give it for its
    failure kind."""
    place = places.get(result.cell.group)
    if place is None:
        return replace(result, attribution=found)
    return judged(result, found, place.scenario.expectations)


def summary_line(record: Record) -> str:
    """What attribution did, in one line for the log."""
    ran_out = "; the budget ran out (--attribution-budget)" if record.exhausted else ""
    return (
        f"attribution: {record.cells} failing cells, {record.runs} runs of "
        f"{record.budget} in {record.wall_s:.1f}s{ran_out}"
    )
