"""Sequence covering arrays: coverage checked independently, sizes against n! and the table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.build.toolchains import load_catalogue
from harness.errors import InvalidInputFile
from harness.scenario.covering import Coverage, covering_orders, published, sca_rows
from harness.scenario.load import load_scenario
from harness.scenario.plan import coverage, plan
from tests.covering_check import missing_orders
from tests.unit.helpers import write_scenario

CASES = (
    [(n, 2) for n in (2, 5, 12, 20)]
    + [(n, 3) for n in range(4, 13)]
    + [(n, 4) for n in range(5, 9)]
)


@pytest.mark.parametrize(("n", "strength"), CASES)
def test_every_t_order_appears(n: int, strength: int) -> None:
    ids = [f"w{i}" for i in range(n)]
    rows = covering_orders(ids, strength)
    assert missing_orders(rows, ids, strength) == []
    assert len(rows) < math.factorial(n) or strength >= n - 1


def test_the_checker_finds_a_hole() -> None:
    ids = [f"w{i}" for i in range(6)]
    rows = covering_orders(ids, 3)
    holes = missing_orders(rows[:-1], ids, 3)
    assert holes, "dropping a row of a pruned array must uncover something"
    assert all(len(hole) == 3 for hole in holes)


def test_ten_wheels_three_way_is_within_half_again_of_the_published_size() -> None:
    best = published().best(10, 3)
    assert best is not None
    size = len(sca_rows(10, 3))
    assert size <= 1.5 * best, f"{size} rows against a published {best}"


def test_the_same_n_and_t_give_the_same_rows() -> None:
    first = sca_rows(9, 3)
    sca_rows.cache_clear()
    assert sca_rows(9, 3) == first


def test_strength_at_least_n_is_every_order() -> None:
    assert len(covering_orders(["a", "b", "c"], 3)) == 6
    assert len(covering_orders(["a", "b", "c"], 4)) == 6


def test_coverage_is_described_against_n_factorial() -> None:
    text = Coverage(wheels=10, strength=3, orders=16).describe()
    assert "16 orders of 3,628,800 (10!)" in text and "best published 14" in text
    assert "all 6 permutations" in Coverage(wheels=3, strength=None, orders=6).describe()


def _wheels(n: int) -> str:
    return "".join(f'\n[[wheels]]\nid = "h{i}"\nfixture = "healthy"\n' for i in range(n))


def test_ten_wheels_need_a_cover(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, f'name = "ten"\ndescription = "d"\n{_wheels(10)}')
    with pytest.raises(InvalidInputFile) as caught:
        load_scenario(path, load_catalogue())
    assert "orders = { cover = 3 }" in str(caught.value)
    scenario = load_scenario(path, load_catalogue(), cover=3)
    assert coverage(scenario).orders == len(sca_rows(10, 3))


def test_a_covered_scenario_plans_the_array(tmp_path: Path) -> None:
    text = f'name = "ten"\ndescription = "d"\n{_wheels(10)}\n[matrix]\norders = {{ cover = 3 }}\n'
    scenario = load_scenario(write_scenario(tmp_path, text), load_catalogue())
    cells = plan(scenario)
    ids = scenario.wheel_ids
    assert len(cells) == len(sca_rows(10, 3))
    assert missing_orders([c.order for c in cells], ids, 3) == []


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        ("{ cover = 7 }", "cover must be one of 2, 3, 4"),
        ('"some"', 'use "all"'),
        ("{ strength = 3 }", 'use "all"'),
    ],
)
def test_bad_orders_are_named(tmp_path: Path, orders: str, message: str) -> None:
    text = f'name = "x"\ndescription = "d"\n{_wheels(3)}\n[matrix]\norders = {orders}\n'
    with pytest.raises(InvalidInputFile) as caught:
        load_scenario(write_scenario(tmp_path, text), load_catalogue())
    assert message in str(caught.value) and "matrix.orders" in str(caught.value)
