"""Singleton cells shared between groups: a wheel run alone in a group of its own (the atlas's
and `check --against`'s singleton scenarios) answers for the singleton cells of every other
group of the run that installs the same wheel file (the same id and sha256) on the same
target and arch, so attribution need not run them again in each pair's environment.

The answer is the singleton's environment's (the wheel and its own dependencies alone),
which is what users of that wheel alone have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from harness.build.wheels import BuiltWheel
from harness.evidence.results import CellResult


def singletons(
    results: Sequence[CellResult], built: Mapping[str, Sequence[BuiltWheel]]
) -> list[CellResult]:
    """The cells of one-wheel groups, relabelled as the singleton cells of each group of
    several wheels that holds the same wheel file and has results on the same target and
    arch."""
    alone: dict[tuple[str, str, str, str], list[CellResult]] = {}
    for result in results:
        wheels = built.get(result.cell.group, ())
        if len(wheels) == 1 and len(result.cell.order) == 1:
            (wheel,) = wheels
            key = (result.cell.target, result.cell.arch, wheel.wheel_id, wheel.sha256)
            alone.setdefault(key, []).append(result)
    out: list[CellResult] = []
    seen: set[str] = set()
    for result in results:
        group = result.cell.group
        wheels = built.get(group, ())
        if len(wheels) < 2 or group in seen:
            continue
        seen.add(group)
        for wheel in wheels:
            key = (result.cell.target, result.cell.arch, wheel.wheel_id, wheel.sha256)
            out += [
                replace(single, cell=replace(single.cell, scenario=result.cell.scenario))
                for single in alone.get(key, ())
            ]
    return out
