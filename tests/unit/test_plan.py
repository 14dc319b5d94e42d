from __future__ import annotations

import math
from pathlib import Path

from harness.build.toolchains import load_catalogue
from harness.cells.jobs import job_for
from harness.common.verdicts import Verdict
from harness.scenario.load import OrderMode, Selector, load_scenario
from harness.scenario.plan import Cell, expected_for, orders, plan, selects
from tests.unit.helpers import GOOD_SCENARIO, write_scenario


def test_cells_cover_every_axis_with_stable_ids(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, GOOD_SCENARIO), load_catalogue())
    cells = plan(scenario, targets=["host"])
    # dlopen 2 × host 2 × orders 2 × repeat 2
    assert len(cells) == 16
    assert len({c.id for c in cells}) == 16
    assert cells[0].id == "pair/host/local/plain/a,b#1"
    assert plan(scenario, targets=["host"]) == cells
    docker_cell = plan(scenario, targets=["debian:bookworm"], arches=["aarch64"])[0]
    assert docker_cell.id == "pair/debian-bookworm-aarch64/local/plain/a,b#1"
    assert docker_cell.group == "pair/debian-bookworm-aarch64"


def test_orders_are_all_permutations() -> None:
    for n in range(1, 7):
        ids = [f"w{i}" for i in range(n)]
        found = orders(ids)
        assert len(found) == math.factorial(n) == len(set(found))


def test_each_order_mode_picks_its_orders() -> None:
    ids = [f"w{i}" for i in range(5)]
    assert orders(ids, OrderMode.ALL) == orders(ids)
    pairs = orders(ids, OrderMode.PAIRS)
    assert len(pairs) == len(set(pairs)) == 5 * 4 and all(len(p) == 2 for p in pairs)
    covered = orders(ids, OrderMode.COVER, cover=3)
    assert all(sorted(o) == ids for o in covered) and len(covered) < math.factorial(5)
    assert [str(m) for m in OrderMode] == ["all", "pairs", "cover"]


def cell(order: tuple[str, ...], dlopen: str = "local", host: str = "plain") -> Cell:
    return Cell(
        scenario="s", target="host", arch="x86_64", dlopen=dlopen, host=host, order=order, repeat=1
    )


def test_global_ids() -> None:
    assert cell(("a", "b"), "global:b").global_ids() == {"b"}
    assert cell(("a", "b"), "global-all").global_ids() == {"a", "b"}
    assert cell(("a", "b")).global_ids() == frozenset()
    assert cell(("a", "b"), "global-first").global_ids() == {"a"}
    assert cell(("b", "a"), "global-first").global_ids() == {"b"}
    assert cell(("c", "a", "b"), "global-first").global_ids() == {"c"}


GLOBAL_FIRST_PAIRS = """
name = "firsts"
description = "three wheels, both orders of each pair, the first of each order RTLD_GLOBAL"

[[wheels]]
id = "a"
fixture = "call_once"

[[wheels]]
id = "b"
fixture = "call_once"

[[wheels]]
id = "s"
fixture = "healthy"

[matrix]
orders = "pairs"
dlopen = ["local", "global-first"]

[[expect]]
when = { dlopen = "global-first", before = ["a", "b"] }
verdict = "segfault"

[[expect]]
verdict = "pass"
"""


def test_global_first_plans_every_pair_with_its_first_wheel_global(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, GLOBAL_FIRST_PAIRS), load_catalogue())
    cells = plan(scenario)
    firsts = [c for c in cells if c.dlopen == "global-first"]
    assert len(firsts) == len(cells) // 2 == 6
    assert "firsts/host/global-first/plain/b,s#1" in {c.id for c in firsts}
    for one in firsts:
        flags = [(i.module, i.rtld_global) for i in job_for(scenario, one).imports]
        first, second = (scenario.wheel(w).module for w in one.order)
        assert flags == [(first, True), (second, False)], one.id
    for one in (c for c in cells if c.dlopen == "local"):
        assert not any(i.rtld_global for i in job_for(scenario, one).imports)
    expected = {c.id: expected_for(scenario.expectations, c).verdict for c in cells}
    assert expected["firsts/host/global-first/plain/a,b#1"] is Verdict.SEGFAULT
    assert expected["firsts/host/global-first/plain/b,a#1"] is Verdict.PASS
    assert expected["firsts/host/local/plain/a,b#1"] is Verdict.PASS


def test_selectors() -> None:
    abc = cell(("a", "b", "c"), "global:a")
    assert selects(Selector(), abc)
    assert selects(Selector(before=("a", "c")), abc)
    assert not selects(Selector(before=("c", "a")), abc)
    assert selects(Selector(order=("a", "b", "c"), dlopen=("global:a",)), abc)
    assert not selects(Selector(order=("a", "c", "b")), abc)
    assert not selects(Selector(host=("preload-libstdcxx",)), abc)
    assert not selects(Selector(target=("debian:bookworm",)), abc)


def test_first_matching_expectation_wins(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, GOOD_SCENARIO), load_catalogue())
    verdicts = {c.id: expected_for(scenario.expectations, c).verdict for c in plan(scenario)}
    assert verdicts["pair/host/global:a/plain/a,b#1"] is Verdict.SEGFAULT
    assert verdicts["pair/host/global:a/preload-libstdcxx/a,b#2"] is Verdict.SEGFAULT
    assert verdicts["pair/host/global:a/plain/b,a#1"] is Verdict.PASS
    assert verdicts["pair/host/local/plain/a,b#1"] is Verdict.PASS
    assert expected_for((), cell(("a",))).verdict is Verdict.PASS


def test_job_carries_order_flags_exercises_and_preload(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, GOOD_SCENARIO), load_catalogue())
    target = next(c for c in plan(scenario) if c.id == "pair/host/global:a/preload-libstdcxx/b,a#1")
    document = job_for(scenario, target).to_json()
    assert document["id"] == target.id
    assert document["env"] == {"LD_PRELOAD": "libstdc++.so.6"}
    assert document["spec"]["imports"] == [
        {"module": "wc_call_once_b", "global": False},
        {"module": "wc_call_once_a", "global": True},
    ]
    # only wheel a names an exercise
    assert document["spec"]["exercises"] == [
        {"module": "wc_call_once_a", "function": "exercise", "threads": 1}
    ]
    assert document["spec"]["victims"] is True


PAIRS = """
name = "pairs"
description = "three wheels, both orders of each pair"

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
orders = "pairs"
first_use = ["import", "reverse"]

[[expect]]
when = { before = ["a", "b"] }
verdict = "segfault"

[[expect]]
when = { used_before = ["b", "a"] }
verdict = "wrong-result"

[[expect]]
verdict = "pass"
"""


def test_pairs_cells_lacking_a_before_wheel_are_not_selected(tmp_path: Path) -> None:
    """A pair cell imports two of the three wheels; `before` naming the third must not
    look it up in the cell's order (it raised ValueError there)."""
    scenario = load_scenario(write_scenario(tmp_path, PAIRS, "pairs.toml"), load_catalogue())
    verdicts = {c.id: expected_for(scenario.expectations, c).verdict for c in plan(scenario)}
    assert verdicts["pairs/host/local/plain/a,b#1"] is Verdict.SEGFAULT
    assert verdicts["pairs/host/local/plain/a,b/use:b,a#1"] is Verdict.SEGFAULT
    assert verdicts["pairs/host/local/plain/b,a#1"] is Verdict.WRONG_RESULT
    assert verdicts["pairs/host/local/plain/a,c#1"] is Verdict.PASS
    assert verdicts["pairs/host/local/plain/c,b#1"] is Verdict.PASS
    assert not selects(Selector(before=("a", "b")), cell(("a", "c")))
    assert not selects(Selector(used_before=("a", "b")), cell(("c", "b")))
