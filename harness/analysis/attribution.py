"""Attribution: which of a failing cell's wheels its failure needs. Pure: runs come from a
function passed in.

A failing cell's *signature* is its verdict (and import-error subkind) at its step: the
outcome's last step as the probe names it (`import b`, `exercise b.exercise`, `exercise
snippet`, `victim _ssl`), or `exit` for a crash after the last step. A set of the cell's
wheels, imported in the cell's relative order and mode, fails *the same way* when a run of it
has that signature: a segfault while importing b is not explained by a wheel that segfaults
alone later, in a victim. A cell whose runs (its repeats) failed in more than one way is
attributed by the signature most of them showed, the earliest on a tie, and every failing
run of it gets that attribution, with a note counting the ways: one exit-crash among two
segfaults in a wheel's own exercise is a flaky run of that failure, not another conflict.
The culprits are the smallest set found that fails the same way:

1. a one-wheel cell (a singleton, or a one-wheel scenario): its wheel, single-wheel;
2. a wheel whose singleton (that wheel alone, on the cell's target, arch and variant, in its
   dlopen and host mode: under `global:x` another wheel's singleton is loaded locally) fails
   the same way: that wheel, single-wheel. When several do, the first in import order, the
   others named in a note;
3. otherwise a two-wheel cell: both wheels, cross-wheel, without another run;
4. otherwise each pair of the cell's wheels is tried (in the cell's relative order), then
   ddmin over the whole order: the first pair, or the smallest set, that fails the same way,
   cross-wheel.

What a set of wheels does is looked up by its logical cell id (harness/common/ids.py): the
run's own cells answer first (its singleton cells, `[matrix] singletons`), then `observe`,
which runs it for real within a budget (harness/run/attribute.py). When a run cannot be made
(the budget ran out, the run failed), the culprits are the smallest failing set found so far
and a note says why the search stopped.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from harness.analysis.ddmin import ddmin
from harness.common.ids import LogicalId
from harness.common.verdicts import FAILURES, FailureKind, ImportErrorKind, Verdict
from harness.evidence.results import Attribution, CellOutcome, CellResult
from harness.scenario.load import Expectation
from harness.scenario.plan import expected_for

EXIT_STEP: Final = "exit"
NOT_KNOWN: Final = "not known whether "  # a note's start: some singleton could not be looked up
ALONE: Final = " alone: "
MIXED: Final = "its runs failed in more than one way: "  # a note's start


@dataclass(frozen=True, kw_only=True)
class Signature:
    """How a cell failed: its verdict at its step."""

    verdict: Verdict
    subkind: ImportErrorKind | None = None
    step: str

    def __str__(self) -> str:
        verdict = f"{self.verdict}:{self.subkind}" if self.subkind else str(self.verdict)
        return f"{verdict} at {self.step or 'start-up'}"


def signature(verdict: Verdict, subkind: ImportErrorKind | None, last_step: str) -> Signature:
    """The signature of a run that ended with `verdict` after `last_step`. An exit-crash
    happens after the last step, whichever step that was (the last import alone, the last
    victim with victims), so its step is `exit`."""
    step = EXIT_STEP if verdict == Verdict.EXIT_CRASH else last_step
    return Signature(verdict=verdict, subkind=subkind, step=step)


def signature_of(outcome: CellOutcome) -> Signature:
    """The signature of a cell's outcome."""
    return signature(outcome.verdict, outcome.subkind, outcome.last_step)


class NotObserved(Exception):
    """A set of wheels could not be run: the message says why (the budget ran out, the run
    failed), and goes into the attribution's notes."""


# What the runs of a logical cell (a set of wheels in an order, in a context) showed.
Observe = Callable[[LogicalId], frozenset[Signature]]


def sub_cell(logical: LogicalId, order: tuple[str, ...]) -> LogicalId:
    """The logical cell of some of a cell's wheels, in the same target, arch, variant, mode
    and relative first-use order. A cell's use order lists its exercised wheels only."""
    used = tuple(w for w in logical.use if w in order)
    as_imported = tuple(w for w in order if w in logical.use)
    return replace(logical, order=order, use=() if used == as_imported else used)


def known_runs(results: Iterable[CellResult]) -> dict[str, frozenset[Signature]]:
    """The signatures each logical cell of a run showed over its repeats (an infra-error
    shows nothing about the wheels, so it is left out)."""
    found: dict[str, set[Signature]] = {}
    for result in results:
        if result.outcome.verdict == Verdict.INFRA_ERROR:
            continue
        logical = str(result.cell.cell_id.logical)
        found.setdefault(logical, set()).add(signature_of(result.outcome))
    return {logical: frozenset(signatures) for logical, signatures in found.items()}


@dataclass(frozen=True, kw_only=True)
class Goal:
    """What a failing logical cell is attributed by: the signature most of its failing runs
    showed, and a note naming every way they failed when they differ ("" otherwise)."""

    signature: Signature
    note: str = ""


def goals(results: Iterable[CellResult]) -> dict[str, Goal]:
    """Each failing logical cell's goal, over its failing runs among `results`. A tie goes
    to the earliest repeat's."""
    runs: dict[str, list[CellResult]] = {}
    for result in results:
        if result.outcome.verdict in FAILURES:
            runs.setdefault(str(result.cell.cell_id.logical), []).append(result)
    found: dict[str, Goal] = {}
    for logical, failing in runs.items():
        failing.sort(key=lambda r: r.cell.repeat)
        counts = Counter(signature_of(r.outcome) for r in failing)
        ((most, _),) = counts.most_common(1)
        ways = ", ".join(f"{how} ×{n}" for how, n in counts.most_common())
        note = f"{MIXED}{ways}; attributed by the most common" if len(counts) > 1 else ""
        found[logical] = Goal(signature=most, note=note)
    return found


def attribute_run(result: CellResult, wanted: Mapping[str, Goal], observe: Observe) -> Attribution:
    """The attribution of a failing result's logical cell, by that cell's goal in `wanted`
    (`goals`; its own signature when the cell is not there), with the goal's note."""
    own = Goal(signature=signature_of(result.outcome))
    goal = wanted.get(str(result.cell.cell_id.logical), own)
    found = attribute(result.cell.cell_id.logical, goal.signature, observe)
    return replace(found, notes=(*found.notes, goal.note)) if goal.note else found


def _plural(ids: Sequence[str], one: str, many: str) -> str:
    return f"{', '.join(ids)} {one if len(ids) == 1 else many}"


def attribute(logical: LogicalId, goal: Signature, observe: Observe) -> Attribution:
    """The attribution of a cell of `logical` that failed with `goal` (rules 1-4 above)."""
    order = logical.order

    def found(culprits: tuple[str, ...], notes: Sequence[str] = ()) -> Attribution:
        kind = FailureKind.SINGLE_WHEEL if len(culprits) == 1 else FailureKind.CROSS_WHEEL
        return Attribution(culprits=culprits, failure_kind=kind, step=goal.step, notes=tuple(notes))

    if len(order) == 1:
        return found(order)
    alone: list[str] = []
    unknown: list[str] = []
    why = ""
    for wheel_id in order:
        try:
            if goal in observe(sub_cell(logical, (wheel_id,))):
                alone.append(wheel_id)
        except NotObserved as exc:
            unknown.append(wheel_id)
            why = str(exc)
    if alone:
        also = alone[1:]
        notes = [_plural(also, "also fails", "also fail") + f" alone with {goal}"] if also else []
        return found((alone[0],), notes)
    notes = [f"{NOT_KNOWN}{_plural(unknown, 'fails', 'fail')}{ALONE}{why}"] if unknown else []
    if len(order) == 2:
        return found(order, notes)
    return _reduced(logical, goal, observe, notes, found)


def _reduced(
    logical: LogicalId,
    goal: Signature,
    observe: Observe,
    notes: list[str],
    found: Callable[[tuple[str, ...], Sequence[str]], Attribution],
) -> Attribution:
    """Rule 4: the first pair that fails the same way, else ddmin's smallest set."""
    order = logical.order
    smallest = order

    def fails(subset: tuple[str, ...]) -> bool:
        nonlocal smallest
        failed = goal in observe(sub_cell(logical, subset))
        if failed and len(subset) < len(smallest):
            smallest = subset
        return failed

    try:
        for pair in itertools.combinations(order, 2):
            if fails(pair):
                return found(pair, notes)
        ddmin(order, fails)
    except NotObserved as exc:
        notes.append(f"{exc}; the culprits are the smallest set found failing the same way")
    return found(smallest, notes)


def attribute_results(
    results: Sequence[CellResult], observe: Observe | None = None
) -> dict[str, Attribution]:
    """Each failing cell's attribution (by cell id), in the results' order: from the run's
    own cells first, then from `observe` (none: every other set is not observed), asked
    once for each set. The failing runs of one logical cell share one attribution."""
    known = known_runs(results)
    wanted = goals(results)
    made: dict[str, Attribution] = {}

    def looked_up(logical: LogicalId) -> frozenset[Signature]:
        seen = known.get(str(logical))
        if seen is not None:
            return seen
        if observe is None:
            raise NotObserved(f"{logical.tail} is not among the run's cells")
        known[str(logical)] = observe(logical)
        return known[str(logical)]

    def attributed(result: CellResult) -> Attribution:
        logical = str(result.cell.cell_id.logical)
        if logical not in made:
            made[logical] = attribute_run(result, wanted, looked_up)
        return made[logical]

    return {
        result.id: attributed(result) for result in results if result.outcome.verdict in FAILURES
    }


def judged(result: CellResult, found: Attribution, rules: Sequence[Expectation]) -> CellResult:
    """The result with its attribution, and its expectation as its scenario's `rules` give
    it for its failure kind (rules on `when.failure_kind` can only be applied then)."""
    expected = expected_for(rules, result.cell.as_cell(), found.failure_kind)
    outcome = result.outcome
    return replace(
        result,
        attribution=found,
        cell=replace(result.cell, expected=str(expected)),
        outcome=replace(
            outcome, matches_expectation=expected.matches(outcome.verdict, outcome.subkind)
        ),
    )


def not_known(attribution: Attribution) -> tuple[tuple[str, ...], str]:
    """The wheels whose singleton an attribution could not look up, and why (its `not known
    whether …` note); none and "" when every singleton was known."""
    for note in attribution.notes:
        if note.startswith(NOT_KNOWN) and ALONE in note:
            head, _, why = note.partition(ALONE)
            listed, _, _verb = head[len(NOT_KNOWN) :].rpartition(" ")
            return tuple(listed.split(", ")), why
    return (), ""


def needed_singletons(
    results: Sequence[CellResult], known: Mapping[str, frozenset[Signature]]
) -> tuple[LogicalId, ...]:
    """The singletons the failing cells' attribution looks up first that the run did not
    run, in the order they are first needed (so that they can be run in one batch)."""
    needed: dict[str, LogicalId] = {}
    for result in results:
        if result.outcome.verdict not in FAILURES or len(result.cell.order) < 2:
            continue
        logical = result.cell.cell_id.logical
        for wheel_id in logical.order:
            single = sub_cell(logical, (wheel_id,))
            if str(single) not in known:
                needed.setdefault(str(single), single)
    return tuple(needed.values())
