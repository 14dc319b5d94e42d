"""Adaptive splitting of a failing group (harness/analysis/splitting.py), against an oracle
that knows the planted failures: every planted singleton and pair is found, nothing else is,
and the number of tests stays within its bound."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable

import pytest

from harness.analysis.splitting import Part, split_group


def oracle(
    singletons: Iterable[str] = (),
    pairs: Iterable[tuple[str, str]] = (),
    larger: Iterable[Iterable[str]] = (),
) -> tuple[Callable[[Part], bool], list[Part]]:
    """`fails(part)`: the part holds a planted failure; and the parts it was asked about."""
    planted = [frozenset({s}) for s in singletons] + [frozenset(p) for p in pairs]
    planted += [frozenset(x) for x in larger]
    asked: list[Part] = []

    def fails(part: Part) -> bool:
        asked.append(part)
        return any(d <= set(part) for d in planted)

    return fails, asked


def wheels(k: int) -> list[str]:
    return [f"w{i:02}" for i in range(k)]


def bound(k: int, failures: int) -> int:
    """Tests the splitting may take: the group's own, then per failure a descent of two
    tests per halving, and the crossings of clean parts."""
    depth = math.ceil(math.log2(k)) if k > 1 else 1
    return 1 + failures * (4 * depth + 2) + 2 * failures**2


def test_a_passing_group_costs_one_test() -> None:
    fails, asked = oracle()
    found = split_group(wheels(10), fails)
    assert not found.failed and found.tests == (tuple(wheels(10)),) and len(asked) == 1


def test_one_pair_is_isolated() -> None:
    group = wheels(10)
    fails, asked = oracle(pairs=[("w07", "w02")])
    found = split_group(group, fails)
    assert found.pairs == (("w02", "w07"),)
    assert found.singletons == () and found.unexplained == ()
    assert len(asked) == len(set(asked)) == len(found.tests) <= bound(10, 1)
    assert len(found.tests) < math.comb(10, 2)
    # every part tested is in the group's order
    assert all(list(part) == sorted(part) for part in found.tests)


def test_a_known_failing_group_skips_its_own_test() -> None:
    fails, asked = oracle(singletons=["w03"])
    found = split_group(wheels(8), fails, failing=True)
    assert found.singletons == ("w03",)
    assert tuple(wheels(8)) not in asked


def test_a_singleton_does_not_hide_a_pair() -> None:
    # w01 fails alone: every part holding it fails, and w04+w05 must still be found
    fails, _ = oracle(singletons=["w01"], pairs=[("w04", "w05")])
    found = split_group(wheels(8), fails)
    assert found.singletons == ("w01",) and found.pairs == (("w04", "w05"),)


def test_pairs_sharing_a_wheel_and_inside_one_half() -> None:
    planted = [("w00", "w01"), ("w00", "w09"), ("w05", "w09"), ("w02", "w03")]
    fails, _ = oracle(pairs=planted)
    found = split_group(wheels(10), fails)
    assert sorted(found.pairs) == sorted(planted) and found.unexplained == ()


@pytest.mark.parametrize("seed", range(60))
def test_random_plantings_are_all_found_within_the_bound(seed: int) -> None:
    rng = random.Random(seed)
    k = rng.choice([2, 3, 5, 8, 10, 16, 20])
    group = wheels(k)
    singles = sorted(rng.sample(group, rng.choice([0, 0, 1, 2]) if k > 2 else 0))
    rest = [w for w in group if w not in singles]
    candidates = list(itertools.combinations(rest, 2))
    pairs = sorted(rng.sample(candidates, min(len(candidates), rng.choice([0, 1, 1, 2, 3]))))
    fails, asked = oracle(singles, pairs)
    found = split_group(group, fails)
    assert sorted(found.singletons) == singles
    assert sorted(found.pairs) == pairs
    assert found.unexplained == ()
    assert len(asked) == len(set(asked)), "a part was tested twice"
    assert len(found.tests) <= bound(k, len(singles) + len(pairs))


def test_a_failure_of_three_wheels_is_unexplained_not_a_pair() -> None:
    fails, _ = oracle(larger=[("w01", "w04", "w06")])
    found = split_group(wheels(8), fails)
    assert found.pairs == () and found.singletons == ()
    assert found.unexplained
    assert all({"w01", "w04", "w06"} <= set(part) for part in found.unexplained)


def test_known_pairs_are_not_found_again_and_cost_no_test_of_their_own() -> None:
    fails, asked = oracle(pairs=[("w01", "w02"), ("w05", "w06")])
    found = split_group(wheels(8), fails, known=[("w01", "w02")])
    assert found.pairs == (("w05", "w06"),)
    # no part holding the known pair was run
    assert not any({"w01", "w02"} <= set(part) for part in asked)


def test_splitting_costs_far_fewer_tests_than_the_pairs() -> None:
    # 20 wheels, 2 failing pairs: ordered pairs are 380, the splitting takes a few dozen
    fails, _ = oracle(pairs=[("w03", "w17"), ("w08", "w09")])
    found = split_group(wheels(20), fails)
    assert len(found.pairs) == 2
    assert len(found.tests) * 5 <= 20 * 19 // 2
