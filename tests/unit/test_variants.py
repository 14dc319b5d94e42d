"""Scenarios that pair wheels across toolchains: expansion, selection, ids, the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.build.toolchains import load_catalogue
from harness.cells.outcome import Outcome
from harness.common.ids import Variant
from harness.common.verdicts import Verdict
from harness.errors import InvalidInputFile
from harness.evidence.classify import Classified
from harness.evidence.results import CellResult
from harness.report import terminal as report
from harness.scenario.load import load_scenario
from harness.scenario.plan import Expected, expected_for, plan
from tests.unit.helpers import write_scenario

MATRIX = """
name = "tm"
description = "pairs"

[[wheels]]
id = "a"
fixture = "call_once"
toolchain = ["gcc-10", "gcc-12"]
link = "static-libstdcxx-hidden"

[[wheels]]
id = "b"
fixture = "call_once"
toolchain = ["gcc-12", "clang-14-libstdcxx", "zig"]

[matrix]
targets = ["debian:bookworm"]
dlopen = ["global:a"]

[[expect]]
when = { toolchain = { a = "gcc-12", b = ["gcc-12"] }, before = ["a", "b"] }
verdict = "segfault"

[[expect]]
verdict = "pass"
"""


def test_toolchain_lists_expand_into_variants(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, MATRIX), load_catalogue())
    assert len(scenario.variants) == 6
    assert str(scenario.variants[0]) == "a=gcc-10+b=gcc-12"
    chosen = scenario.variant(Variant.parse("a=gcc-12+b=zig"))
    assert [w.toolchain for w in chosen.wheels] == ["gcc-12", "zig"]
    assert not any(w.varies for w in chosen.wheels)
    assert scenario.variant(Variant()) is scenario


def test_cells_carry_the_variant_in_id_and_group(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, MATRIX), load_catalogue())
    cells = plan(scenario)
    assert len(cells) == 6 * 2  # variants × orders
    first = cells[0]
    assert first.id == "tm/debian-bookworm-x86_64/a=gcc-10+b=gcc-12/global:a/plain/a,b#1"
    assert first.group == "tm/debian-bookworm-x86_64/a=gcc-10+b=gcc-12"
    expected = {c.id: expected_for(scenario.expectations, c).verdict for c in cells}
    crashing = sorted(i for i, v in expected.items() if v is Verdict.SEGFAULT)
    assert crashing == ["tm/debian-bookworm-x86_64/a=gcc-12+b=gcc-12/global:a/plain/a,b#1"]


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ('{ toolchain = { c = "gcc-12" } }', "toolchain.c: only wheels with a list"),
        ('{ toolchain = { a = "gcc-14" } }', "toolchain.a: gcc-14 not in wheel 'a'"),
    ],
)
def test_toolchain_selector_is_checked(tmp_path: Path, when: str, fragment: str) -> None:
    text = MATRIX.replace(
        '{ toolchain = { a = "gcc-12", b = ["gcc-12"] }, before = ["a", "b"] }', when
    )
    with pytest.raises(InvalidInputFile) as info:
        load_scenario(write_scenario(tmp_path, text), load_catalogue())
    assert fragment in str(info.value)


def test_every_listed_toolchain_is_validated(tmp_path: Path) -> None:
    text = MATRIX.replace('"clang-14-libstdcxx", "zig"]', '"clang-14-libstdcxx", "gcc-99", "zig"]')
    with pytest.raises(
        InvalidInputFile, match=r"wheels\[1\]\.toolchain: unknown toolchain 'gcc-99'"
    ):
        load_scenario(write_scenario(tmp_path, text), load_catalogue())


def test_toolchain_table_shows_worst_verdict_per_pair(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, MATRIX), load_catalogue())
    results = []
    for cell in plan(scenario):
        crash = str(cell.variant) == "a=gcc-12+b=gcc-12" and cell.order == ("a", "b")
        verdict = Verdict.SEGFAULT if crash else Verdict.PASS
        outcome = Outcome(cell_id=cell.id, returncode=-11 if crash else 0)
        results.append(
            CellResult.make(
                cell, "docker", outcome, Classified(verdict=verdict), Expected(verdict=verdict)
            )
        )
    text = report.matrix(results)
    lines = text.splitlines()
    assert lines[0] == "tm on debian:bookworm (x86_64): worst verdict, failing/all"
    assert lines[1].split() == ["a", "\\", "b", "gcc-12", "clang-14-libstdcxx", "zig"]
    assert lines[2].split() == ["gcc-10", "pass", "pass", "pass"]
    assert lines[3].split() == ["gcc-12", "segfault", "1/2", "pass", "pass"]
