from __future__ import annotations

import math
from pathlib import Path

from harness.build.toolchains import load_catalogue
from harness.cells.jobs import job_for
from harness.common.verdicts import FailureKind, Verdict
from harness.scenario.load import Expectation, OrderMode, Selector, load_scenario
from harness.scenario.plan import Cell, coverage, expected_for, orders, plan, selects
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


def test_singletons_add_each_wheel_alone_per_mode_before_its_orders(tmp_path: Path) -> None:
    text = PAIRS.replace('first_use = ["import", "reverse"]', "singletons = true\nrepeat = 2")
    scenario = load_scenario(write_scenario(tmp_path, text, "pairs.toml"), load_catalogue())
    without = load_scenario(write_scenario(tmp_path, PAIRS, "plain.toml"), load_catalogue())
    assert scenario.matrix.singletons and not without.matrix.singletons
    cells = plan(scenario)
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids)) == (3 + 6) * 2
    # each wheel alone first (no first-use order of its own), then both orders of each pair
    assert ids[:6] == [f"pairs/host/local/plain/{w}#{r}" for w in "abc" for r in (1, 2)]
    assert all(len(c.order) == 2 for c in cells[6:])
    # the orders, and what the run reports of them, are the plain scenario's
    assert coverage(scenario) == coverage(without)
    assert [c.order for c in cells[6::2]] == list(orders(("a", "b", "c"), OrderMode.PAIRS))
    # a singleton is selected by rules that do not need a second wheel; `before` needs both
    assert expected_for(scenario.expectations, cells[0]).verdict is Verdict.PASS
    assert job_for(scenario, cells[0]).to_json()["spec"]["exercises"] == [
        {"module": "wc_call_once_a", "function": "exercise", "threads": 1}
    ]


def test_a_singleton_under_global_x_loads_only_x_globally(tmp_path: Path) -> None:
    text = GOOD_SCENARIO.replace("repeat = 2", "repeat = 1\nsingletons = true")
    scenario = load_scenario(write_scenario(tmp_path, text), load_catalogue())
    by_id = {c.id: c for c in plan(scenario)}
    assert [i for i in by_id if i.startswith("pair/host/global:a/plain/")] == [
        "pair/host/global:a/plain/a#1",
        "pair/host/global:a/plain/b#1",
        "pair/host/global:a/plain/a,b#1",
        "pair/host/global:a/plain/b,a#1",
    ]
    imports = job_for(scenario, by_id["pair/host/global:a/plain/b#1"]).to_json()["spec"]
    assert imports["imports"] == [{"module": "wc_call_once_b", "global": False}]
    imports = job_for(scenario, by_id["pair/host/global:a/plain/a#1"]).to_json()["spec"]
    assert imports["imports"] == [{"module": "wc_call_once_a", "global": True}]


def test_a_one_wheel_set_gets_no_singleton_beside_its_only_order(tmp_path: Path) -> None:
    text = """
    name = "alone"
    description = "one wheel"

    [[wheels]]
    id = "a"
    fixture = "call_once"

    [matrix]
    singletons = true
    """
    scenario = load_scenario(write_scenario(tmp_path, text, "alone.toml"), load_catalogue())
    assert [c.id for c in plan(scenario)] == ["alone/host/local/plain/a#1"]


def test_failure_kind_rules_select_only_cells_of_that_kind() -> None:
    rules = (
        Expectation(
            when=Selector(failure_kind=(FailureKind.SINGLE_WHEEL,)), verdict=Verdict.SEGFAULT
        ),
        Expectation(when=Selector(), verdict=Verdict.PASS),
    )
    ab = cell(("a", "b"))
    # before the run ends (no kind known) and for a passing cell, the rule is passed over
    assert expected_for(rules, ab).verdict is Verdict.PASS
    assert expected_for(rules, ab, FailureKind.CROSS_WHEEL).verdict is Verdict.PASS
    assert expected_for(rules, ab, FailureKind.SINGLE_WHEEL).verdict is Verdict.SEGFAULT
