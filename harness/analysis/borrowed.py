"""Singleton cells shared between groups: a wheel run alone in a group of its own (the atlas's
and `check --against`'s singleton scenarios) answers for the singleton cells of every other
group of the run that installs the same wheel file (the same id and sha256) on the same
target and arch, so attribution need not run them again in each pair's environment. The
runner borrows them when a run ends (harness/run/runner.py), and a merge borrows them across
shards (harness/analysis/reattribute.py).

The answer is the singleton's environment's (the wheel and its own dependencies alone),
which is what users of that wheel alone have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from harness.evidence.results import CellResult


class WheelFile(Protocol):
    """A wheel file as a group installs it: a built wheel, or a results.json wheel row's."""

    @property
    def wheel_id(self) -> str: ...

    @property
    def sha256(self) -> str: ...


def singletons(
    results: Sequence[CellResult], wheels: Mapping[str, Sequence[WheelFile]]
) -> list[CellResult]:
    """The cells of one-wheel groups, relabelled as the singleton cells of each group of
    several wheels (`wheels`: group -> its wheel files) that holds the same wheel file and
    has results on the same target and arch."""
    alone: dict[tuple[str, str, str, str], list[CellResult]] = {}
    for result in results:
        files = wheels.get(result.cell.group, ())
        if len(files) == 1 and len(result.cell.order) == 1:
            (wheel,) = files
            key = (result.cell.target, result.cell.arch, wheel.wheel_id, wheel.sha256)
            alone.setdefault(key, []).append(result)
    out: list[CellResult] = []
    seen: set[str] = set()
    for result in results:
        group = result.cell.group
        files = wheels.get(group, ())
        if len(files) < 2 or group in seen:
            continue
        seen.add(group)
        for wheel in files:
            key = (result.cell.target, result.cell.arch, wheel.wheel_id, wheel.sha256)
            out += [
                replace(single, cell=replace(single.cell, scenario=result.cell.scenario))
                for single in alone.get(key, ())
            ]
    return out
