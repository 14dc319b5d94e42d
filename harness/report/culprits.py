"""Failing cells grouped by culprit set, the way every report lists them: the single-wheel
failures first (a wheel that fails alone makes every order it is in fail), then the
cross-wheel ones, each group with its cells and how they failed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from harness.analysis.attribution import signature_of
from harness.common.verdicts import FAILURES, FailureKind
from harness.evidence.results import CellResult

UNATTRIBUTED: Final = "unattributed"
MAX_HOW: Final = 3  # ways of failing shown per group, the most common first


def culprit_text(result: CellResult) -> str:
    """`a (single-wheel)`, `a+b (cross-wheel)`; empty for a cell with no attribution."""
    found = result.attribution
    if found is None:
        return ""
    return f"{'+'.join(found.culprits)} ({found.failure_kind})"


@dataclass(kw_only=True)
class CulpritGroup:
    """The failing cells that share a culprit set."""

    kind: str  # a FailureKind, or UNATTRIBUTED
    culprits: tuple[str, ...]
    cells: list[CellResult] = field(default_factory=list)
    how: Counter[str] = field(default_factory=Counter)  # "segfault at victim _ssl" -> cells

    @property
    def label(self) -> str:
        return "+".join(self.culprits) or "?"

    def how_text(self) -> str:
        """The most common ways the cells failed, e.g. `segfault at victim _ssl`."""
        shown = [how for how, _ in self.how.most_common(MAX_HOW)]
        more = len(self.how) - len(shown)
        return "; ".join(shown) + (f"; {more} more" if more > 0 else "")


RANK: Final = {str(FailureKind.SINGLE_WHEEL): 0, str(FailureKind.CROSS_WHEEL): 1}


def culprit_groups(results: Iterable[CellResult]) -> list[CulpritGroup]:
    """The failing cells by culprit set: single-wheel groups first, then cross-wheel, then
    any unattributed; within a kind, the most cells first."""
    groups: dict[tuple[str, tuple[str, ...]], CulpritGroup] = {}
    for result in results:
        if result.outcome.verdict not in FAILURES:
            continue
        found = result.attribution
        kind = str(found.failure_kind) if found else UNATTRIBUTED
        culprits = found.culprits if found else ()
        group = groups.setdefault((kind, culprits), CulpritGroup(kind=kind, culprits=culprits))
        group.cells.append(result)
        group.how[str(signature_of(result.outcome))] += 1
    return sorted(
        groups.values(), key=lambda g: (RANK.get(g.kind, len(RANK)), -len(g.cells), g.label)
    )


def summary_lines(results: Iterable[CellResult]) -> list[str]:
    """One line per failure kind, its culprit sets by count:
    `single-wheel: pyarrow ×12 (segfault at victim _ssl)`."""
    by_kind: dict[str, list[str]] = {}
    for group in culprit_groups(results):
        by_kind.setdefault(group.kind, []).append(
            f"{group.label} ×{len(group.cells)} ({group.how_text()})"
        )
    return [f"{kind}: {', '.join(parts)}" for kind, parts in by_kind.items()]


def cross_wheel_pairs(results: Iterable[CellResult]) -> frozenset[tuple[str, frozenset[str]]]:
    """(dlopen mode, pair) of every failing pair cell whose culprits are both its wheels:
    the cross-wheel conflicts a run found, whatever the order that showed them."""
    return frozenset(
        (result.cell.dlopen, frozenset(group.culprits))
        for group in culprit_groups(results)
        if group.kind == FailureKind.CROSS_WHEEL and len(group.culprits) == 2
        for result in group.cells
        if len(result.cell.order) == 2
    )
