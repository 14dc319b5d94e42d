"""Adaptive splitting of a failing group (harness/analysis/splitting.py), against an oracle
that knows the planted failures: every planted singleton and pair is found, nothing else is,
and the number of tests stays within its bound."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable

import pytest

from harness.analysis.splitting import Part, partners, split_first, split_group


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


def first_oracle(
    alone: Iterable[str] = (),
    pairs: Iterable[tuple[str, str]] = (),
    local: Iterable[Iterable[str]] = (),
) -> tuple[Callable[[Part], bool], list[Part]]:
    """global-first's `fails(part)`: part[0] is loaded global, the rest after it local. It
    fails when part[0] fails alone global (`alone`), when an ordered pair (w, x) has w first
    and x after it (`pairs`), or when a wheel or pair of `local` is among the rest."""
    ordered = set(pairs)
    planted = [frozenset(x) for x in local]
    asked: list[Part] = []

    def fails(part: Part) -> bool:
        asked.append(part)
        first, rest = part[0], set(part[1:])
        return (
            first in alone
            or any((first, x) in ordered for x in rest)
            or any(d <= rest for d in planted)
        )

    return fails, asked


def test_a_pair_needing_its_first_wheel_global_is_found_and_isolated() -> None:
    group = wheels(10)
    fails, asked = first_oracle(pairs=[("w07", "w02")])
    # the group's sequence and its reverse make w00 and w09 global: both pass
    assert not fails(tuple(group)) and not fails(tuple(reversed(group)))
    asked.clear()
    found = split_first(group, fails)
    assert found.pairs == (("w07", "w02"),)
    assert found.singletons == () and found.unexplained == ()
    # one cell per wheel first, the others after it in the group's order
    own = [(w, *(x for x in group if x != w)) for w in group]
    assert [t for t in found.tests if len(t) == 10] == own and found.own == 10
    # w07 stays first and global in every part its split tested
    assert all(t[0] == "w07" for t in found.tests if len(t) < 10)
    assert all(list(t[1:]) == sorted(t[1:]) for t in found.tests)
    assert len(asked) == len(set(asked)) == len(found.tests)
    assert found.splits <= 1 + 4 * math.ceil(math.log2(9)) + 2
    # the reverse pair, w02 global before w07, passes: it is not reported
    assert ("w02", "w07") not in found.pairs


def test_a_passing_group_costs_one_cell_per_wheel() -> None:
    fails, _ = first_oracle(pairs=[("w01", "w99")])
    found = split_first(wheels(6), fails)
    assert not found.failed and len(found.tests) == found.own == 6 and found.splits == 0


def test_a_wheel_failing_alone_global_is_a_singleton_and_hides_no_other_pair() -> None:
    fails, _ = first_oracle(alone=["w03"], pairs=[("w05", "w03"), ("w00", "w07")])
    found = split_first(wheels(8), fails)
    assert found.singletons == ("w03",)
    # w03 loaded after another wheel is local: its pairs with others are still told apart
    assert sorted(found.pairs) == [("w00", "w07"), ("w05", "w03")]
    assert found.unexplained == ()


@pytest.mark.parametrize("seed", range(30))
def test_random_ordered_pairs_are_all_found(seed: int) -> None:
    rng = random.Random(seed)
    k = rng.randint(2, 12)
    group = wheels(k)
    ordered = list(itertools.permutations(group, 2))
    planted = sorted(rng.sample(ordered, rng.randint(0, min(3, len(ordered)))))
    fails, asked = first_oracle(pairs=planted)
    found = split_first(group, fails)
    assert sorted(found.pairs) == planted
    assert found.singletons == () and found.unexplained == ()
    assert len(asked) == len(set(asked)), "a part was tested twice"
    firsts = {a for a, _ in planted}
    assert found.splits <= sum(bound(k - 1, sum(1 for a, _ in planted if a == w)) for w in firsts)


def test_a_local_pair_behind_the_global_wheel_is_unexplained_unless_known() -> None:
    fails, _ = first_oracle(local=[("w02", "w04")])
    found = split_first(wheels(5), fails)
    # every wheel but w02 and w04 first fails with them behind it: (w, w02, w04) each
    assert found.pairs == () and found.singletons == ()
    assert sorted(found.unexplained) == [("w00", "w02", "w04"), ("w01", "w02", "w04"),
                                         ("w03", "w02", "w04")]  # fmt: skip
    # local mode found the pair: no part holding it behind the global wheel needs a run,
    # and an ordered pair beside it is still found
    fails, asked = first_oracle(local=[("w02", "w04")], pairs=[("w00", "w03")])
    found = split_first(wheels(5), fails, known_local=[("w02", "w04")])
    assert found.pairs == (("w00", "w03"),) and found.unexplained == ()
    assert not any({"w02", "w04"} <= set(t[1:]) for t in asked)


def test_known_ordered_failures_cost_no_test() -> None:
    fails, asked = first_oracle(alone=["w01"], pairs=[("w03", "w00"), ("w02", "w00")])
    found = split_first(wheels(5), fails, known=[("w01",), ("w03", "w00")])
    assert found.pairs == (("w02", "w00"),) and found.singletons == ()
    assert not any(t[0] == "w01" for t in asked)
    assert not any(t[0] == "w03" and "w00" in t for t in asked)


def partner_oracle(
    partners: Iterable[str] = (), together: Iterable[Iterable[str]] = (), pairs=()
) -> tuple[Callable[[Part], frozenset[str]], list[Part]]:
    """w fails alone at `victim _ssl`; loaded with one of `partners`, or with all of a set of
    `together`, it fails at `victim _hashlib`; a part holding one of `pairs` fails on its own
    (another signature)."""
    sets = [frozenset({p}) for p in partners] + [frozenset(t) for t in together]
    broken = [frozenset(p) for p in pairs]
    asked: list[Part] = []

    def fails_as(part: Part) -> frozenset[str]:
        asked.append(part)
        held = set(part)
        found = {"segfault at victim _hashlib" if any(s <= held for s in sets) else ALONE}
        found |= {"abort at import"} if any(p <= held for p in broken) else set()
        return frozenset(found)

    return fails_as, asked


ALONE = "segfault at victim _ssl"


def test_a_wheel_failing_alone_has_its_pairs_found_by_how_it_fails() -> None:
    others = [w for w in wheels(10) if w != "w04"]
    fails_as, asked = partner_oracle(partners=["w07"])
    found = partners("w04", others, fails_as, frozenset({ALONE}))
    assert found.pairs == (("w04", "w07"),) and found.unexplained == ()
    assert found.singletons == () and not any("w04" in part for part in asked)
    assert len(asked) == len(found.tests) <= bound(9, 1)


def test_a_wheel_failing_alone_the_same_way_with_everyone_costs_one_test() -> None:
    others = [w for w in wheels(10) if w != "w04"]
    fails_as, asked = partner_oracle()
    found = partners("w04", others, fails_as, frozenset({ALONE}))
    assert not found.failed and asked == [tuple(others)]


def test_partners_needing_each_other_are_unexplained_and_known_pairs_run_no_test() -> None:
    others = [w for w in wheels(10) if w != "w04"]
    fails_as, asked = partner_oracle(together=[("w01", "w08")], pairs=[("w02", "w03")])
    found = partners("w04", others, fails_as, frozenset({ALONE}), known=[("w02", "w03")])
    assert found.pairs == () and found.unexplained == (("w04", "w01", "w08"),)
    # a part holding the known pair would fail whatever w04 does: never run
    assert not any({"w02", "w03"} <= set(part) for part in asked)
