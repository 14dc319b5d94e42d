"""The groups that screening (`wheelclash atlas --screen`) imports together, and their orders.

Pure. The corpus's wheels are dealt, in corpus order, into parts of half the group size; each
group is two parts together (or the whole corpus, when it fits in one group), so every pair of
wheels shares at least one group. Locally a group first runs in two orders, a sequence and
its reverse (the 2-way sequence covering array of harness/scenario/covering.py): every ordered
pair of the group shows in one of them, each wheel of a pair imported first once.

In the global modes the first wheel loaded RTLD_GLOBAL binds the symbols of every later one,
so a wheel before a pair can break or mend it; and in global-first only the first wheel of an
order is RTLD_GLOBAL, the pair cell (a, b) there meaning a loaded first and global, then b.
There a group first runs in one order per wheel, that wheel first and the others after it in
the group's order (`first_orders`), which puts every ordered pair of the group with its
first wheel first. What runs after these first cells is the covering search's
(harness/analysis/cover.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from harness.common.ids import GLOBAL_ALL, GLOBAL_FIRST
from harness.scenario.covering import covering_orders

GROUP_PREFIX: Final = "screen-"
# the modes whose pairs are covered with their first wheel first (harness/analysis/cover.py)
FIRST_MODES: Final = (GLOBAL_ALL, GLOBAL_FIRST)


@dataclass(frozen=True, kw_only=True)
class Group:
    """Wheels imported together in one cell per order."""

    name: str  # a scenario name: screen-<n>
    wheels: tuple[str, ...]

    @property
    def orders(self) -> tuple[tuple[str, ...], ...]:
        """The sequence and its reverse: every ordered pair of the group in one of them."""
        return covering_orders(self.wheels, 2) if len(self.wheels) > 1 else (self.wheels,)

    def orders_in(self, dlopen: str) -> tuple[tuple[str, ...], ...]:
        """The group's first covering cells in mode `dlopen`: in the global modes one per
        wheel, it first (nothing loaded RTLD_GLOBAL before it); locally the sequence and its
        reverse."""
        return first_orders(self.wheels) if dlopen in FIRST_MODES else self.orders

    def pairs(self) -> frozenset[frozenset[str]]:
        return frozenset(frozenset(p) for p in itertools.combinations(self.wheels, 2))


def first_order(wheels: Sequence[str], first: str) -> tuple[str, ...]:
    """`first`, then the other wheels in their order."""
    return (first, *(w for w in wheels if w != first))


def first_orders(wheels: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """One order per wheel, that wheel first (global-first's cells of a group)."""
    return tuple(first_order(wheels, w) for w in wheels)


def parts(ids: Sequence[str], size: int) -> tuple[tuple[str, ...], ...]:
    """`ids` in consecutive parts of `size` (the last may be smaller)."""
    return tuple(tuple(ids[i : i + size]) for i in range(0, len(ids), size))


def groups(ids: Sequence[str], size: int) -> tuple[Group, ...]:
    """Groups of at most `size` wheels (size >= 2) such that every pair of `ids` is in one."""
    if size < 2:
        raise ValueError(f"a group holds two wheels or more, not {size}")
    if len(ids) <= size:
        chosen: list[tuple[str, ...]] = [tuple(ids)] if len(ids) > 1 else []
    else:
        dealt = parts(ids, size // 2)
        chosen = [a + b for a, b in itertools.combinations(dealt, 2)]
    return tuple(
        Group(name=f"{GROUP_PREFIX}{number}", wheels=wheels)
        for number, wheels in enumerate(chosen, 1)
    )


def uncovered(ids: Sequence[str], screened: Iterable[Group]) -> tuple[tuple[str, str], ...]:
    """The pairs of `ids` (in their order) that no screened group holds."""
    covered: set[frozenset[str]] = set()
    for group in screened:
        covered |= group.pairs()
    return tuple(
        (a, b) for a, b in itertools.combinations(ids, 2) if frozenset((a, b)) not in covered
    )


def regroup(group: Group) -> tuple[Group, ...]:
    """Smaller groups in the place of one that pip cannot install together: half its size, its
    wheels dealt into parts of a quarter of it and every two parts a group (for four wheels
    or fewer, every pair), so that every pair of it is in one of them again; named after it
    (`screen-3-1`). A pair has none: it runs as a pair, where pip's refusal is recorded."""
    if len(group.wheels) <= 2:
        return ()
    size = max(2, len(group.wheels) // 2)
    return tuple(
        Group(name=f"{group.name}-{number}", wheels=smaller.wheels)
        for number, smaller in enumerate(groups(group.wheels, size), 1)
    )
