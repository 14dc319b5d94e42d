"""First-use order: expansion, cell ids, selectors, validation and the probe's job."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.build.toolchains import load_catalogue
from harness.cells.jobs import job_for
from harness.common.verdicts import Verdict
from harness.errors import InvalidInputFile
from harness.scenario.first_use import FirstUse, use_orders
from harness.scenario.load import load_scenario
from harness.scenario.plan import expected_for, plan
from tests.unit.helpers import GOOD_SCENARIO, write_scenario

THREE = """
name = "trio"
description = "three wheels, two with exercises"

[[wheels]]
id = "a"
fixture = "call_once"
exercise = "exercise"

[[wheels]]
id = "b"
fixture = "call_once"
exercise = "exercise"

[[wheels]]
id = "c"
fixture = "healthy"

[matrix]
first_use = ["import", "every"]

[[expect]]
when = { before = ["a", "b"], used_before = ["b", "a"] }
verdict = "segfault"

[[expect]]
when = { used_before = ["b", "a"] }
verdict = "wrong-result"

[[expect]]
verdict = "pass"
"""


def test_use_orders_default_is_the_empty_order() -> None:
    assert use_orders([FirstUse.IMPORT], ("a", "b"), ("a", "b")) == ((),)
    assert use_orders([FirstUse.REVERSE], ("a", "b"), ("a", "b")) == (("b", "a"),)
    assert use_orders([FirstUse.IMPORT, FirstUse.REVERSE], ("a", "b"), ("a", "b")) == (
        (),
        ("b", "a"),
    )
    # every: each distinct order of the exercised wheels once, the import order as ()
    every = use_orders([FirstUse.IMPORT, FirstUse.EVERY], ("c", "b", "a"), ("a", "b"))
    assert every == ((), ("a", "b"))


def test_default_matrix_keeps_todays_ids(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, GOOD_SCENARIO), load_catalogue())
    assert scenario.matrix.first_use == (FirstUse.IMPORT,)
    cells = plan(scenario, targets=["host"])
    assert all(c.use == () for c in cells)
    assert cells[0].id == "pair/host/local/plain/a,b#1"


def test_every_adds_cells_with_a_use_segment(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, THREE, "trio.toml"), load_catalogue())
    cells = plan(scenario)
    # 3! import orders × 2 use orders of (a, b), one of them the import order
    assert len(cells) == 12
    assert len({c.id for c in cells}) == 12
    ids = {c.id for c in cells}
    assert "trio/host/local/plain/a,b,c#1" in ids
    assert "trio/host/local/plain/a,b,c/use:b,a#1" in ids
    assert "trio/host/local/plain/c,b,a/use:a,b#1" in ids
    verdicts = {c.id: expected_for(scenario.expectations, c).verdict for c in cells}
    assert verdicts["trio/host/local/plain/a,b,c/use:b,a#1"] is Verdict.SEGFAULT
    assert verdicts["trio/host/local/plain/b,a,c#1"] is Verdict.WRONG_RESULT
    assert verdicts["trio/host/local/plain/a,b,c#1"] is Verdict.PASS


def test_job_runs_exercises_in_use_order(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, THREE, "trio.toml"), load_catalogue())
    cell = next(c for c in plan(scenario) if c.id == "trio/host/local/plain/a,b,c/use:b,a#1")
    job = job_for(scenario, cell)
    assert [i.module for i in job.imports] == ["wc_call_once_a", "wc_call_once_b", "wc_healthy_c"]
    assert [e.module for e in job.exercises] == ["wc_call_once_b", "wc_call_once_a"]


@pytest.mark.parametrize(
    ("matrix", "when", "key"),
    [
        ('first_use = ["sometimes"]', "", "matrix.first_use"),
        ("", 'when = { used_before = ["a", "z"] }', "expect[0].when.used_before"),
        ("", 'when = { used_before = ["a"] }', "expect[0].when.used_before"),
    ],
)
def test_bad_first_use_input_names_the_key(
    tmp_path: Path, matrix: str, when: str, key: str
) -> None:
    text = GOOD_SCENARIO.replace("repeat = 2", f"repeat = 2\n{matrix}").replace(
        "[[expect]]\nwhen = { dlopen", f"[[expect]]\n{when}\nwhen2 = {{ dlopen", 1
    )
    if when:
        text = text.replace('\nwhen2 = { dlopen = "global:a", before = ["a", "b"] }', "")
    with pytest.raises(InvalidInputFile) as caught:
        load_scenario(write_scenario(tmp_path, text), load_catalogue())
    assert key in str(caught.value)
