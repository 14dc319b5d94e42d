"""Screening's groups (harness/scenario/screen_groups.py): every pair of the corpus in some
group, groups within their size, and each group's orders put every ordered pair of it in both
relative orders (checked with the covering arrays' independent checker)."""

from __future__ import annotations

import itertools

import pytest

from harness.scenario.screen_groups import Group, groups, regroup, uncovered
from tests.covering_check import missing_orders


def ids(n: int) -> list[str]:
    return [f"w{i:02}" for i in range(n)]


@pytest.mark.parametrize(("n", "size"), [(2, 10), (7, 10), (10, 10), (11, 10), (40, 10),
                                         (40, 20), (13, 4), (9, 3), (40, 2)])  # fmt: skip
def test_every_pair_shares_a_group_of_at_most_the_size(n: int, size: int) -> None:
    made = groups(ids(n), size)
    assert all(2 <= len(g.wheels) <= size for g in made)
    assert uncovered(ids(n), made) == ()
    assert len({g.name for g in made}) == len(made)


@pytest.mark.parametrize(("n", "size"), [(10, 10), (40, 10), (40, 20), (9, 3)])
def test_each_group_orders_every_ordered_pair_both_ways(n: int, size: int) -> None:
    for group in groups(ids(n), size):
        orders = group.orders
        assert len(orders) == 2 and orders[1] == tuple(reversed(orders[0]))
        assert missing_orders(orders, group.wheels, 2) == []
        for a, b in itertools.permutations(group.wheels, 2):
            assert any(o.index(a) < o.index(b) for o in orders)


def test_a_small_corpus_is_one_group() -> None:
    (only,) = groups(ids(6), 10)
    assert only.wheels == tuple(ids(6)) and only.name == "screen-1"


def test_group_count_of_the_40_wheel_corpus() -> None:
    # 8 parts of 5, every two of them: 28 groups of 10, 2 cells per mode each
    assert len(groups(ids(40), 10)) == 28
    assert len(groups(ids(40), 20)) == 6


def test_uncovered_lists_the_pairs_of_groups_not_screened() -> None:
    made = groups(ids(6), 4)  # parts of 2: (0,1), (2,3), (4,5)
    screened = [g for g in made if g.wheels != ("w00", "w01", "w04", "w05")]
    assert uncovered(ids(6), screened) == (("w00", "w04"), ("w00", "w05"), ("w01", "w04"),
                                           ("w01", "w05"))  # fmt: skip


def test_a_group_below_two_wheels_is_refused() -> None:
    with pytest.raises(ValueError, match="two wheels"):
        groups(ids(4), 1)
    assert Group(name="screen-1", wheels=("a",)).orders == (("a",),)


@pytest.mark.parametrize("n", [3, 4, 5, 10, 16])
def test_a_group_pip_refuses_is_regrouped_smaller_covering_its_pairs(n: int) -> None:
    group = Group(name="screen-3", wheels=tuple(ids(n)))
    smaller = regroup(group)
    assert all(2 <= len(g.wheels) < n for g in smaller)
    assert uncovered(group.wheels, smaller) == ()
    assert [g.name for g in smaller] == [f"screen-3-{i}" for i in range(1, len(smaller) + 1)]
    # regrouped again and again, it comes down to pairs, which have no smaller groups
    while any(len(g.wheels) > 2 for g in smaller):
        smaller = tuple(s for g in smaller for s in (regroup(g) or (g,)))
    assert regroup(smaller[0]) == ()


def test_global_orders_put_each_wheel_first_before_every_other() -> None:
    (group,) = groups(("a", "b", "c", "d"), 4)
    made = group.orders_in("global-first")
    assert group.orders_in("global-all") == made
    assert made == (("a", "b", "c", "d"), ("b", "a", "c", "d"), ("c", "a", "b", "d"),
                    ("d", "a", "b", "c"))  # fmt: skip
    # every ordered pair (w, x) of the group: some order has w first and x after it
    shown = {(order[0], x) for order in made for x in order[1:]}
    assert shown == {(w, x) for w in group.wheels for x in group.wheels if w != x}
    # locally a sequence and its reverse: only two wheels first
    assert group.orders_in("local") == group.orders
    assert {order[0] for order in group.orders} == {"a", "d"}
