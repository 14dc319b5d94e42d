"""Repeats of one logical cell: their verdict distribution, and flaky cells marked as such.

A logical cell is a cell id without its `#repeat` suffix. When its repeats disagree, every
repeat is marked flaky and none of them counts as meeting its expectation: a result that
only sometimes happens is not a pass, whatever the expectation said.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from harness.results import CellResult


def logical_id(cell_id: str) -> str:
    return cell_id.rsplit("#", 1)[0]


def annotate(results: Sequence[CellResult]) -> tuple[CellResult, ...]:
    """The results with verdict counts, flake rate and the flaky mark of their logical cell."""
    counts: dict[str, Counter[str]] = {}
    for result in results:
        counts.setdefault(logical_id(result.id), Counter())[str(result.verdict)] += 1
    annotated = []
    for result in results:
        seen = counts[logical_id(result.id)]
        total = sum(seen.values())
        flaky = len(seen) > 1
        distribution = ", ".join(f"{v} {n}/{total}" for v, n in sorted(seen.items()))
        annotated.append(
            replace(
                result,
                verdict_counts=dict(sorted(seen.items())),
                flake_rate=round(1 - max(seen.values()) / total, 4),
                flaky=flaky,
                matches_expectation=result.matches_expectation and not flaky,
                detail=f"{result.detail}; flaky: {distribution}".lstrip("; ")
                if flaky
                else result.detail,
            )
        )
    return tuple(annotated)
