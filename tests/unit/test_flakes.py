"""Repetition (harness/evidence/flakes.py): repeats within a run and the same cell over runs
are samples of one logical cell, stable with one outcome or flaky with its distribution."""

from __future__ import annotations

from harness.cells.outcome import Outcome
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.evidence.classify import Classified
from harness.evidence.flakes import annotate, flake_rate, flaky, stability
from harness.evidence.results import CellResult
from harness.scenario.plan import Cell, Expected


def result(order: str, verdict: Verdict, repeat: int = 1, tls: bool = False) -> CellResult:
    cell = Cell(
        scenario="s",
        target="host",
        arch="x86_64",
        dlopen="local",
        host="plain",
        order=tuple(order.split(",")),
        repeat=repeat,
    )
    subkind = ImportErrorKind.STATIC_TLS if tls else None
    return CellResult.make(
        cell,
        "local",
        Outcome(cell_id=cell.id),
        Classified(verdict=verdict, subkind=subkind),
        Expected(verdict=Verdict.PASS),
    )


def test_the_same_verdicts_three_times_are_stable() -> None:
    run = [result("a,b", Verdict.SEGFAULT), result("b,a", Verdict.PASS)]
    report = stability([run, run, run])
    assert [s.describe() for s in report] == [
        "s/host/local/plain/a,b: stable (segfault 3/3)",
        "s/host/local/plain/b,a: stable (pass 3/3)",
    ]
    assert flaky([run, run, run]) == ()


def test_a_cell_that_differs_between_runs_is_flaky_with_its_distribution() -> None:
    runs = [
        [result("a,b", Verdict.SEGFAULT)],
        [result("a,b", Verdict.PASS)],
        [result("a,b", Verdict.SEGFAULT)],
    ]
    [cell] = flaky(runs)
    assert cell.distribution == (("segfault", 2), ("pass", 1))
    assert cell.describe() == "s/host/local/plain/a,b: flaky (segfault 2/3, pass 1/3)"


def test_repeats_within_one_run_are_samples_of_one_cell() -> None:
    run = [result("a", Verdict.PASS, repeat=1), result("a", Verdict.HANG, repeat=2)]
    [cell] = flaky([run])
    assert cell.key == "s/host/local/plain/a" and cell.samples == 2


def test_a_different_subkind_is_a_different_outcome() -> None:
    runs = [[result("a", Verdict.IMPORT_ERROR, tls=True)], [result("a", Verdict.IMPORT_ERROR)]]
    [cell] = flaky(runs)
    assert dict(cell.distribution) == {"import-error/static-tls": 1, "import-error": 1}


def test_the_flake_rate_is_the_share_outside_the_commonest_outcome() -> None:
    assert flake_rate({"pass": 3}) == 0.0
    assert flake_rate({"pass": 2, "segfault": 1}) == 0.3333
    assert flake_rate({}) == 0.0
    runs = [
        [result("a", Verdict.PASS)],
        [result("a", Verdict.SEGFAULT)],
        [result("a", Verdict.PASS)],
    ]
    [cell] = stability(runs)
    assert cell.flake_rate == 0.3333


def test_repeats_in_a_run_and_runs_compared_count_samples_the_same_way() -> None:
    """One notion of repetition: a run's annotated repeats and a comparison of the same
    results as separate runs give one logical cell the same counts and rate."""
    repeats = [result("a", Verdict.PASS, repeat=n) for n in (1, 2, 3)]
    repeats.append(result("a", Verdict.ABORT, repeat=4))
    annotated = annotate(repeats)
    [cell] = stability([[r] for r in repeats])
    assert all(r.evidence.flaky and not r.outcome.matches_expectation for r in annotated)
    assert (
        annotated[0].evidence.verdict_counts == dict(cell.distribution) == {"pass": 3, "abort": 1}
    )
    assert annotated[0].evidence.flake_rate == cell.flake_rate == 0.25
