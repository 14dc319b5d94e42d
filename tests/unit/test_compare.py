"""Two runs side by side (harness/analysis/compare.py, `wheelclash compare`): changed verdicts,
cells in one run only, flake rates; a bad file is exit 2 naming it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness import paths
from harness.analysis.compare import Run, compare, text
from harness.cells.outcome import Outcome
from harness.cli import main
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.evidence.classify import Classified
from harness.evidence.results import CellResult
from harness.scenario.plan import Cell, Expected

SCHEMA = json.loads(paths.COMPARE_SCHEMA.read_text())


def result(
    order: str, verdict: Verdict, repeat: int = 1, subkind: ImportErrorKind | None = None
) -> CellResult:
    cell = Cell(
        scenario="s",
        target="host",
        arch="x86_64",
        dlopen="local",
        host="plain",
        order=tuple(order.split(",")),
        repeat=repeat,
    )
    return CellResult.make(
        cell,
        "local",
        Outcome(cell_id=cell.id),
        Classified(verdict=verdict, subkind=subkind),
        Expected(verdict=Verdict.PASS),
    )


def both(order: str, verdict: Verdict) -> list[CellResult]:
    return [result(order, verdict, repeat=1), result(order, verdict, repeat=2)]


def test_identical_runs_change_nothing_and_flake_nowhere() -> None:
    run = Run(path="a", results=(*both("a,b", Verdict.SEGFAULT), *both("b,a", Verdict.PASS)))
    comparison = compare(run, run)
    assert comparison.changed == () and comparison.only_a == comparison.only_b == ()
    assert comparison.cells == 2 and comparison.flaky == ()
    assert comparison.overall.a == comparison.overall.b == comparison.overall.both == 0.0
    jsonschema.validate(comparison.to_json(), SCHEMA)


def test_a_changed_verdict_is_listed_with_both_sides_and_counts_as_flaky_together() -> None:
    a = Run(path="a", results=(*both("a,b", Verdict.SEGFAULT), *both("b,a", Verdict.PASS)))
    b = Run(path="b", results=(*both("a,b", Verdict.PASS), *both("b,a", Verdict.PASS)))
    comparison = compare(a, b)
    [change] = comparison.changed
    assert (change.cell, change.a, change.b) == ("s/host/local/plain/a,b", ("segfault",), ("pass",))
    [cell] = comparison.flaky
    assert cell.cell == change.cell
    assert (cell.rate.a, cell.rate.b, cell.rate.both) == (0.0, 0.0, 0.5)
    assert comparison.overall.both == 0.25  # 2 of 8 samples differ from their cell's majority
    assert "  s/host/local/plain/a,b  segfault -> pass" in text(comparison).splitlines()
    jsonschema.validate(comparison.to_json(), SCHEMA)


def test_flaky_repeats_within_one_run_and_a_new_subkind() -> None:
    a = Run(
        path="a",
        results=(
            result("a,b", Verdict.PASS, 1),
            result("a,b", Verdict.PASS, 2),
            result("a,b", Verdict.HANG, 3),
            result("b,a", Verdict.IMPORT_ERROR, subkind=ImportErrorKind.STATIC_TLS),
        ),
    )
    b = Run(
        path="b",
        results=(
            result("a,b", Verdict.HANG, 1),
            result("a,b", Verdict.PASS, 2),
            result("a,b", Verdict.PASS, 3),
            result("b,a", Verdict.IMPORT_ERROR, subkind=ImportErrorKind.UNDEFINED_SYMBOL),
        ),
    )
    comparison = compare(a, b)
    # The same set of outcomes in both runs is no change; a different subkind is.
    assert [(c.cell, c.a, c.b) for c in comparison.changed] == [
        ("s/host/local/plain/b,a", ("import-error/static-tls",), ("import-error/undefined-symbol",))
    ]
    flaky = {c.cell: c for c in comparison.flaky}
    rate = flaky["s/host/local/plain/a,b"].rate
    assert (rate.a, rate.b, rate.both) == (0.3333, 0.3333, 0.3333)
    assert flaky["s/host/local/plain/a,b"].distribution == (("pass", 4), ("hang", 2))
    assert flaky["s/host/local/plain/b,a"].rate.both == 0.5


def test_cells_in_one_run_only_are_listed_apart_and_change_nothing() -> None:
    a = Run(path="a", results=(result("a,b", Verdict.PASS), result("a,c", Verdict.PASS)))
    b = Run(path="b", results=(result("a,b", Verdict.PASS), result("b,c", Verdict.ABORT)))
    comparison = compare(a, b)
    assert comparison.changed == ()
    assert comparison.only_a == ("s/host/local/plain/a,c",)
    assert comparison.only_b == ("s/host/local/plain/b,c",)
    assert "1 cells only in B:" in text(comparison)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not a readable results.json"),
        ('{"schema_version": 1}', "results of schema_version 1"),
        ('{"cells": [{"id": "x#1", "verdict": "exploded"}]}', "not a wheelclash results.json"),
        ("[]", "not a wheelclash results.json"),
    ],
)
def test_a_missing_or_corrupt_file_is_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    if content is not None:
        (run / "results.json").write_text(content)
    assert main(["compare", str(run), str(run)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = err.splitlines()[0]
    assert line.startswith(f"wheelclash: error: {run / 'results.json'}: "), line
    assert message in line, line
    assert "run folder" in err or "re-run" in err
