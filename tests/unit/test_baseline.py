"""Baselines: each logical cell's status, the exit-code rule and bad baseline files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis import baseline
from harness.analysis.baseline import Status
from harness.common.ids import CellId
from harness.common.verdicts import FailureKind, Verdict
from harness.errors import InputError
from harness.evidence.results import SCHEMA_VERSION, Attribution
from tests.unit.helpers import made_result, written_run

P, S, A, IE, INFRA = (
    Verdict.PASS,
    Verdict.SEGFAULT,
    Verdict.ABORT,
    Verdict.IMPORT_ERROR,
    Verdict.INFRA_ERROR,
)


@pytest.mark.parametrize(
    ("before", "after", "status"),
    [
        ({P}, {P}, Status.UNCHANGED),
        ({S}, {S}, Status.UNCHANGED),
        ({P}, {S}, Status.REGRESSED),
        ({P}, {P, S}, Status.REGRESSED),  # a crash in one repeat out of two still regressed
        ({IE}, {S}, Status.REGRESSED),  # a refusal became a crash
        ({P}, {IE}, Status.REGRESSED),
        ({S}, {P}, Status.FIXED),
        ({S}, {IE}, Status.FIXED),
        ({S}, {A}, Status.CHANGED),  # a crash of another kind: neither better nor worse
        ({P, S}, {S}, Status.CHANGED),
        ({P}, {INFRA}, Status.INCONCLUSIVE),  # infra-error is never blamed on the wheels
        ({INFRA}, {S}, Status.INCONCLUSIVE),
        (set(), {S}, Status.NEW),
        ({S}, set(), Status.GONE),
    ],
)
def test_status_of_one_cell(before: set[Verdict], after: set[Verdict], status: Status) -> None:
    old = {"c": frozenset(before)} if before else {}
    new = {"c": frozenset(after)} if after else {}
    (change,) = baseline.compare("old.json", old, new).changes
    assert change.status == status


X, NEW, OLD = "s/host/local/plain/a,b", "s/host/local/plain/b,a", "s/host/global-all/plain/a,b"


def test_repeats_fold_into_their_logical_cell_and_gone_cells_come_last() -> None:
    current = baseline.verdict_sets(
        [(CellId.parse(f"{X}#1"), P), (CellId.parse(f"{X}#2"), S), (CellId.parse(f"{NEW}#1"), P)]
    )
    assert current == {X: frozenset({P, S}), NEW: frozenset({P})}
    comparison = baseline.compare("old.json", {X: frozenset({P}), OLD: frozenset({P})}, current)
    assert [(c.cell, c.status) for c in comparison.changes] == [
        (X, Status.REGRESSED),
        (NEW, Status.NEW),
        (OLD, Status.GONE),
    ]
    assert comparison.counts()["regressed"] == 1 and comparison.counts()["gone"] == 1
    text = baseline.text(comparison)
    assert "1 regressed, 1 new, 1 gone" in text
    assert f"regressed    {X}: pass -> pass/segfault" in text


@pytest.mark.parametrize(
    ("run_code", "regressed", "code"),
    [
        (0, False, 0),
        (1, False, 0),  # expectations failed, but nothing got worse than the baseline
        (1, True, 1),
        (0, True, 1),
        (3, False, 3),  # infrastructure failures still show
        (3, True, 3),
    ],
)
def test_exit_code_is_one_only_for_regressions(run_code: int, regressed: bool, code: int) -> None:
    after = frozenset({S if regressed else P})
    comparison = baseline.compare("old.json", {"c": frozenset({P})}, {"c": after})
    assert baseline.exit_code(run_code, comparison) == code
    assert baseline.exit_code(run_code, None) == run_code


def test_load_baseline_reads_a_run_folder(tmp_path: Path) -> None:
    written_run(tmp_path, [made_result("s", ("x",), S, 1), made_result("s", ("x",), P, 2)])
    assert baseline.load_baseline(tmp_path) == {"s/host/local/plain/x": frozenset({S, P})}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not a readable results.json"),
        ('{"summary": {}}', "key 'schema_version': missing"),
        (f'{{"schema_version": {SCHEMA_VERSION}}}', "key 'cells': missing"),
        (
            f'{{"schema_version": {SCHEMA_VERSION}, "cells": [{{"id": "x", "verdict": "boom"}}]}}',
            "key cells[0]: not a wheelclash cell\n  KeyError: 'cell'",
        ),
        (
            '{"schema_version": 1, "cells": [{"id": "x", "verdict": "pass"}]}',
            "results of schema_version 1; this wheelclash",
        ),
    ],
)
def test_bad_baselines_name_the_file_and_key(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "old.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError) as caught:
        baseline.load_baseline(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert str(caught.value).startswith(f"--baseline {path}")


def test_baseline_kinds_count_only_regressions_of_those_kinds() -> None:
    single, cross = FailureKind.SINGLE_WHEEL, FailureKind.CROSS_WHEEL
    alone, pair, both = "s/host/local/plain/a,c", "s/host/local/plain/a,b", "s/host/local/plain/b,a"
    old = {alone: frozenset({P}), pair: frozenset({P}), both: frozenset({P})}
    new = {alone: frozenset({S}), pair: frozenset({S}), both: frozenset({S})}
    found = (
        Attribution(culprits=("a",), failure_kind=single, step="victim _ssl"),
        Attribution(culprits=("a", "b"), failure_kind=cross, step="import b"),
    )
    kinds = baseline.failure_kinds(
        [
            (CellId.parse(f"{alone}#1"), found[0]),
            (CellId.parse(f"{pair}#1"), found[1]),
            (CellId.parse(f"{both}#1"), found[0]),
            (CellId.parse(f"{both}#2"), found[1]),
            (CellId.parse(f"{both}#3"), None),  # a passing repeat
        ]
    )
    assert kinds == {alone: {single}, pair: {cross}, both: {single, cross}}
    every = baseline.compare("old.json", old, new, kinds)
    assert [c.status for c in every.changes] == [Status.REGRESSED] * 3
    limited = baseline.compare("old.json", old, new, kinds, [cross])
    assert [c.status for c in limited.changes] == [
        Status.IGNORED,
        Status.REGRESSED,
        Status.REGRESSED,  # one of its repeats failed cross-wheel
    ]
    assert baseline.exit_code(1, limited) == 1 and len(limited.regressions) == 2
    only_single = baseline.compare("old.json", {alone: frozenset({P})}, {alone: new[alone]},
                                   kinds, [cross])  # fmt: skip
    assert baseline.exit_code(1, only_single) == 0
    assert limited.to_json()["kinds"] == ["cross-wheel"]
    assert limited.to_json()["cells"][0]["failure_kinds"] == ["single-wheel"]
    text = baseline.text(limited)
    assert "(regressions counted for cross-wheel failures only)" in text
    assert f"ignored      {alone}: pass -> segfault (single-wheel)" in text
