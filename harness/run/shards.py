"""Split a run's cells into n shards for n machines, deterministically, keeping groups whole.

A group (the cells of one environment: one venv or container) is never split unless it
alone holds more cells than a shard's share, ceil(cells / n); such a group is cut into
consecutive chunks of at most that share (each chunk then prepares its environment once
on its own machine). The units, largest first, then go one by one to the shard with the
fewest cells so far (ties: the lowest shard); each shard runs its units in plan order.
Pure: the same plan and n give the same shards on every machine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Self

from harness.errors import InputError
from harness.scenario.plan import Cell

SHARD_RE: Final = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True, kw_only=True)
class Shard:
    """Shard `index` of `count`, both counted from 1 as in `--shard 2/4`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Self:
        match = SHARD_RE.match(text.strip())
        if not match:
            raise InputError(f"--shard {text!r}: write it as k/n, e.g. --shard 2/4")
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise InputError(f"--shard {text!r}: k must be between 1 and n ({count})")
        return cls(index=index, count=count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def units(groups: Sequence[Sequence[Cell]], count: int) -> list[list[Cell]]:
    """The groups, each cut into chunks of at most a shard's share of all cells."""
    total = sum(len(group) for group in groups)
    share = max(1, math.ceil(total / count))
    return [
        list(group[start : start + share])
        for group in groups
        for start in range(0, len(group), share)
    ]


def assign(groups: Sequence[Sequence[Cell]], count: int) -> list[list[list[Cell]]]:
    """For each of `count` shards, its units in plan order: largest units first, each to
    the shard with the fewest cells so far (ties: the lowest shard, then plan order)."""
    shards: list[list[tuple[int, list[Cell]]]] = [[] for _ in range(count)]
    loads = [0] * count
    numbered = list(enumerate(units(groups, count)))
    for position, unit in sorted(numbered, key=lambda item: (-len(item[1]), item[0])):
        lightest = min(range(count), key=lambda i: (loads[i], i))
        shards[lightest].append((position, unit))
        loads[lightest] += len(unit)
    return [[unit for _, unit in sorted(shard, key=lambda item: item[0])] for shard in shards]


def shard_of(groups: Sequence[Sequence[Cell]], shard: Shard | None) -> list[list[Cell]]:
    """The units this shard runs (all groups when there is no shard)."""
    if shard is None:
        return [list(group) for group in groups]
    return assign(groups, shard.count)[shard.index - 1]
