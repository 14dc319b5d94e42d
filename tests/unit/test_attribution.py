"""Attribution rules (harness/analysis/attribution.py), over results made in memory: the same
step or another, several singletons failing, two-wheel cells, reduction and budgets; and the
finish step's judging of failure_kind rules (harness/run/attribute.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from harness.analysis.attribution import (
    MIXED,
    NotObserved,
    Signature,
    attribute_results,
    known_runs,
    needed_singletons,
    signature_of,
    sub_cell,
)
from harness.build.toolchains import load_catalogue
from harness.cells.backends.local import LocalBackend
from harness.cells.outcome import Outcome
from harness.common.ids import LogicalId
from harness.common.verdicts import FailureKind, ImportErrorKind, Verdict
from harness.evidence.classify import Classified
from harness.evidence.results import Attribution, CellResult
from harness.run.attribute import Budget, Place, attribute_cells
from harness.scenario.load import load_scenario
from harness.scenario.plan import Cell, Expected, plan
from tests.unit.helpers import write_scenario

SSL = "victim _ssl"
SEGV = Verdict.SEGFAULT


def result(
    order: str,
    verdict: Verdict = Verdict.PASS,
    step: str = "",
    *,
    dlopen: str = "global-all",
    repeat: int = 1,
    use: str = "",
    subkind: ImportErrorKind | None = None,
) -> CellResult:
    cell = Cell(
        scenario="s", target="host", arch="x86_64", dlopen=dlopen, host="plain",
        order=tuple(order.split(",")), repeat=repeat, use=tuple(use.split(",")) if use else (),
    )  # fmt: skip
    outcome = Outcome(cell_id=cell.id, last_step=step)
    return CellResult.make(
        cell,
        "local",
        outcome,
        Classified(verdict=verdict, subkind=subkind),
        Expected(verdict=Verdict.PASS),
    )


def runs(
    table: Mapping[str, Signature], budget: int
) -> tuple[Callable[..., frozenset[Signature]], list[str]]:
    """An observer answering from `table` (order -> its signature; pass otherwise) until
    `budget` answers were given, then raising NotObserved; and the orders it was asked."""
    asked: list[str] = []

    def observe(logical: LogicalId) -> frozenset[Signature]:
        order = ",".join(logical.order)
        if len(asked) == budget:
            raise NotObserved(f"the attribution budget ({budget} runs) ran out")
        asked.append(order)
        passing = Signature(verdict=Verdict.PASS, step="victim _decimal")
        return frozenset({table.get(order, passing)})

    return observe, asked


def test_a_singleton_failing_at_the_same_step_is_the_culprit() -> None:
    results = [
        result("a"),
        result("b", SEGV, SSL),
        result("a,b", SEGV, SSL),
        result("b,a", SEGV, SSL),
    ]
    found = attribute_results(results)
    expected = Attribution(culprits=("b",), failure_kind=FailureKind.SINGLE_WHEEL, step=SSL)
    assert found == {
        "s/host/global-all/plain/b#1": expected,
        "s/host/global-all/plain/a,b#1": expected,
        "s/host/global-all/plain/b,a#1": expected,
    }


def test_a_singleton_failing_at_another_step_explains_nothing() -> None:
    """b crashes alone in a victim; in the cell it crashes while b imports, which b alone
    does not show: a cross-wheel failure of both."""
    results = [result("a"), result("b", SEGV, SSL), result("a,b", SEGV, "import b")]
    attribution = attribute_results(results)["s/host/global-all/plain/a,b#1"]
    assert attribution.culprits == ("a", "b")
    assert attribution.failure_kind is FailureKind.CROSS_WHEEL
    assert attribution.step == "import b" and attribution.notes == ()


def test_the_same_verdict_needs_the_same_subkind_too() -> None:
    undefined = ImportErrorKind.UNDEFINED_SYMBOL
    results = [
        result("a", Verdict.IMPORT_ERROR, "import a", subkind=ImportErrorKind.OTHER),
        result("b"),
        result("a,b", Verdict.IMPORT_ERROR, "import a", subkind=undefined),
    ]
    found = attribute_results(results)["s/host/global-all/plain/a,b#1"]
    assert found.failure_kind is FailureKind.CROSS_WHEEL


def test_several_failing_singletons_name_the_first_imported_and_note_the_others() -> None:
    results = [
        result("a", SEGV, SSL),
        result("b"),
        result("c", SEGV, SSL, repeat=1),
        result("c", repeat=2),  # a flaky singleton: one repeat failing the same way is enough
        result("c,b,a", SEGV, SSL),
    ]
    found = attribute_results(results)["s/host/global-all/plain/c,b,a#1"]
    assert found.culprits == ("c",) and found.failure_kind is FailureKind.SINGLE_WHEEL
    assert found.notes == ("a also fails alone with segfault at victim _ssl",)


def test_a_two_wheel_cell_without_a_failing_singleton_is_cross_wheel_without_runs() -> None:
    observe, asked = runs({}, budget=10)
    results = [result("a"), result("b"), result("a,b", Verdict.ABORT, "import b")]
    found = attribute_results(results, observe)["s/host/global-all/plain/a,b#1"]
    assert found == Attribution(
        culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step="import b"
    )
    assert asked == []


def test_missing_singletons_are_observed_and_a_larger_cell_is_reduced_pairs_first() -> None:
    crash = Signature(verdict=SEGV, step="import b")
    observe, asked = runs({"a,b": crash, "h,a,b": crash}, budget=20)
    cell = result("h,a,b", SEGV, "import b", dlopen="global:a")
    found = attribute_results([cell], observe)[cell.id]
    assert found.culprits == ("a", "b") and found.failure_kind is FailureKind.CROSS_WHEEL
    # each wheel alone first, then the pairs in the cell's relative order until one fails
    assert asked == ["h", "a", "b", "h,a", "h,b", "a,b"]
    assert found.notes == ()


def test_a_set_that_no_pair_explains_is_reduced_by_ddmin() -> None:
    crash = Signature(verdict=SEGV, step="victim _ssl")
    table = {"a,b,c,d": crash, "a,b,c": crash}
    singles = [result(w) for w in "abcd"]
    cell = result("a,b,c,d", SEGV, SSL)
    observe, asked = runs(table, budget=20)
    found = attribute_results([*singles, cell], observe)[cell.id]
    assert found.culprits == ("a", "b", "c") and found.notes == ()
    assert len(asked) == len(set(asked)) and "a,b,c" in asked


def test_when_the_budget_runs_out_the_smallest_failing_set_so_far_stands() -> None:
    crash = Signature(verdict=SEGV, step="victim _ssl")
    singles = [result(w) for w in "abcd"]
    cell = result("a,b,c,d", SEGV, SSL)
    # six pairs, then not enough runs to reach a,b,c: the whole order stands
    observe, asked = runs({"a,b,c": crash}, budget=7)
    found = attribute_results([*singles, cell], observe)[cell.id]
    assert found.culprits == ("a", "b", "c", "d")
    assert found.failure_kind is FailureKind.CROSS_WHEEL and len(asked) == 7
    assert found.notes == (
        "the attribution budget (7 runs) ran out; the culprits are the smallest set found "
        "failing the same way",
    )


def test_when_no_singleton_can_be_run_the_note_says_so() -> None:
    observe, _ = runs({}, budget=0)
    cell = result("a,b", SEGV, SSL)
    found = attribute_results([cell], observe)[cell.id]
    assert found.culprits == ("a", "b")
    assert found.notes == (
        "not known whether a, b fail alone: the attribution budget (0 runs) ran out",
    )
    # and with no observer at all, from the run's cells alone
    alone = attribute_results([cell])[cell.id]
    assert alone.notes == (
        "not known whether a, b fail alone: global-all/plain/b is not among the run's cells",
    )


def test_one_wheel_cells_are_their_own_culprit_and_passes_get_nothing() -> None:
    results = [result("a", Verdict.HANG, "exercise a.run"), result("b"), result("a,b")]
    assert attribute_results(results) == {
        "s/host/global-all/plain/a#1": Attribution(
            culprits=("a",), failure_kind=FailureKind.SINGLE_WHEEL, step="exercise a.run"
        )
    }


def test_an_exit_crash_is_matched_at_exit_whatever_the_last_step() -> None:
    results = [
        result("a", Verdict.EXIT_CRASH, "import a"),
        result("b"),
        result("b,a", Verdict.EXIT_CRASH, "import a"),
        result("a,b", Verdict.EXIT_CRASH, "import b"),
    ]
    found = attribute_results(results)
    assert {a.culprits for a in found.values()} == {("a",)}
    assert {a.step for a in found.values()} == {"exit"}
    assert str(signature_of(results[0].outcome)) == "exit-crash at exit"


def test_a_cell_whose_runs_failed_in_several_ways_is_credited_by_the_most_common() -> None:
    """opencv + scikit-learn in the first edition: the pair's first run crashed at exit,
    its extra runs segfaulted in opencv's exercise, as opencv does alone. Every run of the
    cell is credited to the wheel alone, with a note counting the ways."""
    exercise = "exercise a"
    results = [
        result("a", SEGV, exercise),
        result("b"),
        result("b,a", Verdict.EXIT_CRASH, "victim _decimal"),
        result("b,a", SEGV, exercise, repeat=2),
        result("b,a", SEGV, exercise, repeat=3),
    ]
    found = attribute_results(results)
    pair = [found[f"s/host/global-all/plain/b,a#{repeat}"] for repeat in (1, 2, 3)]
    assert pair[0] == pair[1] == pair[2]
    assert pair[0].culprits == ("a",) and pair[0].failure_kind == FailureKind.SINGLE_WHEEL
    assert pair[0].step == exercise
    assert pair[0].notes == (
        f"{MIXED}segfault at exercise a ×2, exit-crash at exit ×1; attributed by the most common",
    )


def test_a_tie_between_ways_of_failing_goes_to_the_earliest_run() -> None:
    results = [
        result("a", SEGV, "exercise a"),
        result("b"),
        result("b,a", SEGV, "exercise a", repeat=2),
        result("b,a", Verdict.EXIT_CRASH, "victim _decimal", repeat=1),
    ]
    found = attribute_results(results)
    assert {a.culprits for a in found.values() if len(a.notes)} == {("b", "a")}
    assert found["s/host/global-all/plain/b,a#2"].step == "exit"


def test_infra_errors_say_nothing_about_a_singleton() -> None:
    results = [result("a", Verdict.INFRA_ERROR), result("b"), result("a,b", SEGV, SSL)]
    assert "s/host/global-all/plain/a" not in known_runs(results)
    assert [str(s) for s in needed_singletons(results, known_runs(results))] == [
        "s/host/global-all/plain/a"
    ]


def test_a_subset_keeps_the_relative_first_use_order() -> None:
    logical = result("a,b,c", use="c,a").cell.cell_id.logical
    assert sub_cell(logical, ("a", "c")).use == ("c", "a")
    assert sub_cell(logical, ("a", "b")).use == ()  # one exercised wheel: as imported
    assert str(sub_cell(logical, ("c",))) == "s/host/global-all/plain/c"


@pytest.mark.parametrize("dlopen", ["local", "global:a"])
def test_singletons_are_looked_up_in_the_cells_own_mode(dlopen: str) -> None:
    results = [
        result("b", SEGV, SSL, dlopen="global-all"),  # another mode: not this cell's singleton
        result("a", dlopen=dlopen),
        result("b", dlopen=dlopen),
        result("a,b", SEGV, SSL, dlopen=dlopen),
    ]
    found = attribute_results(results)[f"s/host/{dlopen}/plain/a,b#1"]
    assert found.failure_kind is FailureKind.CROSS_WHEEL


KIND_RULES = """
name = "s"
description = "a failure_kind rule"

[[wheels]]
id = "a"
fixture = "call_once"

[[wheels]]
id = "b"
fixture = "call_once"

[matrix]
dlopen = ["global-all"]
singletons = true

[[expect]]
when = { failure_kind = "single-wheel" }
verdict = "segfault"

[[expect]]
verdict = "pass"
"""


def test_the_finish_step_judges_failure_kind_rules_with_the_kind(tmp_path: Path) -> None:
    """Cells are judged with failure_kind rules passed over while they run; attribution
    judges the failing ones again. Every answer is among the run's cells: no run is made."""
    scenario = load_scenario(write_scenario(tmp_path, KIND_RULES, "s.toml"), load_catalogue())
    cells = {c.id: c for c in plan(scenario)}
    assert list(cells) == [
        "s/host/global-all/plain/a#1",
        "s/host/global-all/plain/b#1",
        "s/host/global-all/plain/a,b#1",
        "s/host/global-all/plain/b,a#1",
    ]
    made = [
        result("a"),
        result("b", SEGV, SSL),
        result("a,b", SEGV, SSL),
        result("b,a", SEGV, "import a"),  # not how b fails alone: cross-wheel
    ]
    assert {r.cell.expected for r in made} == {"pass"}
    place = Place(scenario=scenario, backend=LocalBackend(), wheels=(), cell=cells[made[0].id])
    budget = Budget(limit=0)
    amended, record = attribute_cells(made, {place.cell.group: place}, budget)
    judged = {r.id: (r.cell.expected, r.outcome.matches_expectation) for r in amended}
    assert judged == {
        "s/host/global-all/plain/b#1": ("segfault", True),
        "s/host/global-all/plain/a,b#1": ("segfault", True),
        "s/host/global-all/plain/b,a#1": ("pass", False),
    }
    assert (record.runs, record.exhausted, record.cells, record.trials) == (0, False, 3, ())
