"""Screening's covering search (harness/analysis/cover.py), against an oracle that knows the
planted failures: every planted singleton and ordered pair is found, nothing else is, every
ordered pair ends up clean or failing, and the runs stay far below the pairs."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Mapping

import pytest

from harness.analysis.cover import (
    Answer,
    Ledger,
    Part,
    Victims,
    cover,
    cover_first,
    ordered_pairs,
    partners,
    sequence,
)


class Oracle:
    """Runs of parts: a part fails when it holds a planted singleton (unless a wheel that
    mends it is loaded before it), an ordered pair (first before second) or a larger ordered
    set; the failing step is the wheel where the first such failure completes (`at`), or
    none when `at` is off (a failure among the victims)."""

    def __init__(
        self,
        singles: Iterable[str] = (),
        pairs: Iterable[tuple[str, str]] = (),
        larger: Iterable[Part] = (),
        *,
        at: bool = True,
        menders: Mapping[str, str] | None = None,
    ) -> None:
        self.singles = tuple(singles)
        self.pairs = tuple(pairs)
        self.larger = tuple(larger)
        self.at = at
        self.menders = dict(menders or {})
        self.asked: list[Part] = []

    def __call__(self, part: Part) -> Answer:
        self.asked.append(part)
        where = {w: i for i, w in enumerate(part)}
        events = []
        for s in self.singles:
            mender = self.menders.get(s)
            if s in where and not (mender in where and where[mender] < where[s]):
                events.append((where[s], s))
        for held in (*self.pairs, *self.larger):
            if all(w in where for w in held) and [where[w] for w in held] == sorted(
                where[w] for w in held
            ):
                events.append((where[held[-1]], held[-1]))
        if not events:
            return Answer(False)
        return Answer(True, min(events)[1] if self.at else None)


def wheels(k: int) -> list[str]:
    return [f"w{i:02}" for i in range(k)]


def every_pair_known(found_wheels: list[str], ledger: Ledger) -> bool:
    live = [w for w in found_wheels if w not in ledger.singles]
    return all(p in ledger.clean | ledger.bad for p in itertools.permutations(live, 2))


def test_a_passing_group_costs_a_sequence_and_its_reverse() -> None:
    test = Oracle()
    found = cover(wheels(10), test)
    assert not found.failed
    assert len(found.tests) == 2 == len(found.covering)
    first, second = found.tests
    assert sorted(first) == wheels(10) and second == tuple(reversed(first))
    assert found.learned.clean == set(itertools.permutations(wheels(10), 2))


def test_one_ordered_pair_is_found_in_that_order_only() -> None:
    test = Oracle(pairs=[("w07", "w02")])
    found = cover(wheels(10), test)
    assert found.pairs == (("w07", "w02"),)
    assert found.singletons == () and found.unexplained == ()
    assert found.learned.bad == {("w07", "w02")}
    # the other order, and every other ordered pair, was shown clean
    assert ("w02", "w07") in found.learned.clean
    assert every_pair_known(wheels(10), found.learned)
    # a sequence, its failing half's bisections, then sequences around the pair
    assert len(test.asked) == len(set(test.asked)) <= 4 + 2 * math.ceil(math.log2(10)) + 2


@pytest.mark.parametrize("at", [True, False])
@pytest.mark.parametrize("seed", range(12))
def test_random_plantings_are_all_found(seed: int, at: bool) -> None:
    rng = random.Random(seed)
    group = wheels(rng.randint(4, 20))
    singles = rng.sample(group, rng.randint(0, 2))
    live = [w for w in group if w not in singles]
    pairs = rng.sample(list(itertools.permutations(live, 2)), rng.randint(0, 5))
    test = Oracle(singles, pairs, at=at)
    found = cover(group, test)
    assert set(found.singletons) == set(singles)
    assert set(found.pairs) == set(pairs)
    assert found.unexplained == ()
    assert every_pair_known(group, found.learned)
    # nothing clean was planted, and the parts run hold no failure already found
    assert not found.learned.clean & set(pairs)
    assert len(found.tests) == len(set(found.tests))


def test_a_wheel_mended_by_one_before_it_is_a_singleton_not_a_pair() -> None:
    # w05 fails alone, except behind w01: the search must not blame the wheel before it
    test = Oracle(singles=["w05"], menders={"w05": "w01"})
    found = cover(wheels(8), test)
    assert found.singletons == ("w05",)
    assert found.pairs == () and found.unexplained == ()


def test_a_failure_of_three_wheels_is_unexplained_not_a_pair() -> None:
    test = Oracle(larger=[("w01", "w03", "w06")])
    found = cover(wheels(8), test)
    assert found.pairs == () and found.singletons == ()
    assert found.unexplained and {"w01", "w03", "w06"} <= set(found.unexplained[0])


def test_what_a_ledger_knows_costs_no_run_again() -> None:
    test = Oracle(pairs=[("w03", "w01")])
    learned = cover(wheels(8), test).learned
    again = Oracle(pairs=[("w03", "w01")])
    found = cover(wheels(8), again, learned)
    assert again.asked == [] and not found.failed
    # a larger group holding those wheels covers only the pairs with the new ones
    wider = Oracle(pairs=[("w03", "w01"), ("w09", "w02")])
    found = cover(wheels(10), wider, learned)
    assert found.pairs == (("w09", "w02"),)
    assert all({"w08", "w09"} & set(part) for part in found.covering)


def test_covering_costs_far_fewer_runs_than_the_ordered_pairs() -> None:
    test = Oracle(pairs=[("w04", "w17"), ("w11", "w02")])
    found = cover(wheels(20), test)
    assert set(found.pairs) == {("w04", "w17"), ("w11", "w02")}
    assert len(test.asked) <= 30 < 20 * 19 // 10


def test_a_sequence_holds_no_failing_pair_and_covers_some_pair_to_do() -> None:
    group = wheels(6)
    bad = {("w00", "w01"), ("w01", "w00"), ("w02", "w03")}
    todo = set(itertools.permutations(group, 2)) - bad
    part = sequence(group, todo, bad)
    assert not ordered_pairs(part) & bad
    assert not {"w00", "w01"} <= set(part)  # both orders fail: never together
    assert ordered_pairs(part) & todo


# global-first: the first wheel of a part is the global one; a pair (f, y) is f first


def test_global_first_costs_one_cell_per_wheel_when_nothing_fails() -> None:
    test = Oracle()
    found = cover_first(wheels(6), test)
    assert not found.failed
    assert [part[0] for part in found.tests] == wheels(6)
    assert found.learned.clean == set(itertools.permutations(wheels(6), 2))


def test_global_first_finds_the_pair_with_its_first_wheel_global() -> None:
    # only w04 global before w01 fails: (w04, w01); the oracle treats the others as local,
    # where nothing fails
    def test(part: Part) -> Answer:
        asked.append(part)
        bad = part[0] == "w04" and "w01" in part
        return Answer(bad, "w01" if bad else None)

    asked: list[Part] = []
    found = cover_first(wheels(6), test)
    assert found.pairs == (("w04", "w01"),)
    assert found.unexplained == ()
    assert len(asked) <= 6 + 1 + math.ceil(math.log2(5)) + 1


def test_global_first_keeps_local_failures_and_global_singletons_behind_no_one() -> None:
    local = Ledger(bad=frozenset({("w02", "w03")}), singles=frozenset({"w05"}))
    test = Oracle()
    found = cover_first(wheels(6), test, Ledger(singles=frozenset({"w04"})), local=local)
    for part in test.asked:
        rest = part[1:]
        assert "w05" not in rest and "w04" not in rest  # local singleton, global singleton
        assert not ("w02" in rest and "w03" in rest and rest.index("w02") < rest.index("w03"))
    # w04 fails alone when global: it is never the first wheel either
    assert all(part[0] != "w04" for part in test.asked)
    assert not found.failed


def test_global_first_a_pair_needing_a_local_wheel_between_is_unexplained() -> None:
    # w00 global, then w02 then w04 fails; w00 with w04 alone does not
    def test(part: Part) -> Answer:
        bad = part[0] == "w00" and "w02" in part and "w04" in part
        return Answer(bad and part.index("w02") < part.index("w04"), None)

    found = cover_first(wheels(6), test)
    assert found.pairs == ()
    assert found.unexplained == (("w00", "w02", "w04"),)


# partners: the pairs of a wheel that fails alone, judged by how it fails


def test_partners_are_found_on_their_side() -> None:
    # s fails alone; behind w03 it fails otherwise; before w05 too
    def test(part: Part) -> Answer:
        asked.append(part)
        s = part.index("s")
        differs = "w03" in part[:s] or "w05" in part[s + 1 :]
        return Answer(differs, "s" if differs else None)

    asked: list[Part] = []
    found = partners("s", wheels(8), test)
    assert set(found.pairs) == {("w03", "s"), ("s", "w05")}
    assert len(asked) <= 2 * (2 + 2 * math.ceil(math.log2(8)))


def test_partners_in_global_first_run_each_first_wheel_with_it() -> None:
    def test(part: Part) -> Answer:
        asked.append(part)
        return Answer(part == ("w02", "s"))

    asked: list[Part] = []
    found = partners("s", wheels(4), test, first=True)
    assert found.pairs == (("w02", "s"),)
    assert {p for p in asked if p[-1] == "s"} == {(w, "s") for w in wheels(4)}
    assert ("s", *wheels(4)) in asked  # s first and global, the others behind it


# CPython's modules the victims' step uses after the wheels: a wheel before a pair's second
# may load one first, where the pair alone loads it after both. A pair that breaks it (one
# of its wheels exposes it: bundles its library) then passes in the cell.

SSL = frozenset({"_ssl"})
CTYPES = frozenset({"_ctypes"})


class Preloaded:
    """Runs of parts in the global modes: a planted pair (a, b) fails at a victim's module,
    unless something loads that module before b (as scikit-learn mends lightgbm then
    rasterio, which break `_ssl`: scikit-learn imports ssl). `pulls`: a wheel whose import
    also imports another of the part (lightgbm imports scikit-learn when it is there). In
    global-first (`first`) a only counts as the first, global wheel. Answers say what each
    wheel's step loaded first, as the probe does."""

    def __init__(
        self,
        pairs: Mapping[tuple[str, str], str],
        loads: Mapping[str, frozenset[str]],
        first: bool = False,
        pulls: Mapping[str, str] | None = None,
    ):
        self.pairs = dict(pairs)
        self.loads = dict(loads)
        self.first = first
        self.pulls = dict(pulls or {})
        self.asked: list[Part] = []

    def loaded(self, part: Part) -> list[tuple[str, frozenset[str]]]:
        present: set[str] = set()
        out = []
        for w in part:
            mine = set(self.loads.get(w, ()))
            if self.pulls.get(w) in part:
                mine |= self.loads.get(self.pulls[w], frozenset())
            if mine - present:
                out.append((w, frozenset(mine - present)))
                present |= mine
        return out

    def __call__(self, part: Part) -> Answer:
        self.asked.append(part)
        loaded = self.loaded(part)
        for (a, b), victim in self.pairs.items():
            if self.first and part[0] != a:
                continue
            if a in part and b in part and part.index(a) < part.index(b):
                before = set(part[: part.index(b)])
                if not any(victim in m for w, m in loaded if w in before):
                    return Answer(True, None, tuple(loaded))  # at the victims
        return Answer(False, None, tuple(loaded))


def test_a_pair_is_masked_by_a_module_loaded_before_its_second_that_it_can_break() -> None:
    victims = Victims(loads={"m": SSL, "c": CTYPES, "both": SSL | CTYPES},
                      exposed={"r": SSL, "both": SSL})  # fmt: skip
    # what the probe said each step loaded first
    said = Answer(False, None, (("m", SSL),))
    assert victims.masks(("f", "m", "r"), 0, 2, said)
    assert victims.masks(("m", "f", "r"), 1, 2, said)  # before the pair counts too
    assert not victims.masks(("f", "r", "m"), 0, 1, Answer(False, None, (("m", SSL),)))
    assert not victims.masks(("f", "m", "y"), 0, 2, said)  # neither f nor y exposes _ssl
    assert not victims.masks(("f", "m", "both"), 0, 2, said)  # y loads _ssl itself
    assert not victims.masks(("f", "c", "r"), 0, 2, Answer(False, None, (("c", CTYPES),)))
    assert not victims.masks(("m", "r"), 0, 1, said)  # two wheels alone: the pair itself
    # a first wheel that loads more in the cell than alone (it imports another of it)
    assert victims.masks(("f", "y", "r"), 0, 2, Answer(False, None, (("f", SSL),)))
    # not told what the steps loaded: what each loads alone
    assert victims.masks(("f", "m", "r"), 0, 2, Answer(False))
    assert not victims.masks(("f", "y", "r"), 0, 2, Answer(False))
    # exposing wheels first, the one whose loads mask fewer of the others ahead; then by loads
    order = Victims(loads={"m": SSL, "c": CTYPES, "p": SSL, "r": frozenset({"_bz2", "_lzma"})},
                    exposed={"r": SSL, "p": CTYPES})  # fmt: skip
    assert order.order(["m", "x", "p", "c", "r"]) == ["r", "p", "x", "m", "c"]


@pytest.mark.parametrize("same", [True, False])
def test_a_pair_mended_by_a_module_loaded_between_is_found(same: bool) -> None:
    group = wheels(12)
    loads = {"w03": SSL, "w05": SSL, "w08": CTYPES, "w11": SSL}
    exposed = {"w10": SSL, "w09": CTYPES, "w08": SSL}
    # (w01, w08): w08 loads _ctypes and comes after w03 and w05, which load _ssl; w06 pulls
    # w11 in (which loads _ssl) when both are in a part
    planted = {("w01", "w10"): "_ssl", ("w02", "w09"): "_ctypes", ("w01", "w08"): "_ssl",
               ("w06", "w10"): "_ssl"}  # fmt: skip
    pulls = {"w06": "w11"}
    blind = cover_first(group, Preloaded(planted, loads, not same, pulls), same=same)
    assert blind.pairs == () and set(planted) <= blind.learned.clean
    test = Preloaded(planted, loads, not same, pulls)
    victims = Victims(loads=loads, exposed=exposed)
    found = cover_first(group, test, same=same, victims=victims)
    assert set(found.pairs) == set(planted)
    assert not found.learned.clean & set(planted)
    assert all(
        (f, y) in found.learned.clean | found.learned.bad
        for f, y in itertools.permutations(group, 2)
    )
    # a cell per first wheel, one more per failure found (it failed; f's next covers the
    # rest), and a few for the exposing wheels' pairs
    assert len(found.covering) <= len(group) + 2 * len(planted) + 2
    # the exposing wheels right behind the first one; then those loading fewer modules
    first = found.covering[0][1:]
    assert set(first[:3]) == set(exposed)
    counts = [len(loads.get(w, ())) for w in first[3:]]
    assert counts == sorted(counts) and counts[-1]


def test_partners_show_no_pair_clean_when_a_module_it_exposes_was_loaded_first() -> None:
    # s fails alone; w01 before it makes it fail otherwise at _ssl, unless something loaded
    # _ssl before s; w04 and w05 load it
    loads = {"w04": SSL, "w05": SSL}

    def test(part: Part) -> Answer:
        asked.append(part)
        s = part.index("s")
        loaded = Preloaded({}, loads).loaded(part)
        early = any(w in part[:s] for w, _ in loaded)
        differs = "w01" in part[:s] and not early
        return Answer(differs, None, tuple(loaded))

    asked: list[Part] = []
    blind = partners("s", wheels(7), test)
    assert blind.pairs == ()
    asked = []
    found = partners("s", wheels(7), test, victims=Victims(loads=loads, exposed={"s": SSL}))
    assert found.pairs == (("w01", "s"),)
    assert every_pair_known_of("s", wheels(7), found.learned)


def every_pair_known_of(wheel: str, others: list[str], ledger: Ledger) -> bool:
    known = ledger.clean | ledger.bad
    return all((wheel, w) in known and (w, wheel) in known for w in others)


def test_a_first_wheel_whose_cells_show_nothing_runs_with_one_other_at_a_time() -> None:
    # w00 exposes _ssl, and in every cell of more than two its step loads _ssl (not alone):
    # such a cell says nothing of its pairs; (w00, w02) fails only on its own
    def test(part: Part) -> Answer:
        asked.append(part)
        loaded = (("w00", SSL),) if len(part) > 2 else ()
        return Answer(part == ("w00", "w02"), None, loaded)

    asked: list[Part] = []
    victims = Victims(exposed={"w00": SSL})
    found = cover_first(wheels(5), test, Ledger(), same=True, victims=victims)
    assert ("w00", "w02") in found.pairs
    mine = [p for p in asked if p[0] == "w00"]
    # a cell of all, then each other wheel with w00 on its own (w00 alone too, once one
    # failed: it may fail alone)
    assert mine == [tuple(wheels(5)), ("w00", "w01"), ("w00", "w02"), ("w00",),
                    ("w00", "w03"), ("w00", "w04")]  # fmt: skip
