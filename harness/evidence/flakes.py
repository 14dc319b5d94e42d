"""Repeats of one logical cell: their verdict distribution, and flaky cells marked as such.

A logical cell is a cell id without its `#repeat` suffix. When its repeats disagree, every
repeat is marked flaky and none of them counts as meeting its expectation: a result that
only sometimes happens is not a pass, whatever the expectation said.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

from harness.common.ids import CellId
from harness.evidence.results import CellResult


def distributions(verdicts: Iterable[tuple[str, str]]) -> dict[str, Counter[str]]:
    """Each logical cell's verdict counts, keyed by its logical id, from (cell id, verdict)."""
    counts: dict[str, Counter[str]] = {}
    for cell_id, verdict in verdicts:
        counts.setdefault(str(CellId.parse(cell_id).logical), Counter())[verdict] += 1
    return counts


def annotate_one(result: CellResult, seen: Counter[str]) -> CellResult:
    """One result with its logical cell's verdict counts, flake rate and flaky mark."""
    total = sum(seen.values())
    flaky = len(seen) > 1
    distribution = ", ".join(f"{v} {n}/{total}" for v, n in sorted(seen.items()))
    return replace(
        result,
        verdict_counts=dict(sorted(seen.items())),
        flake_rate=round(1 - max(seen.values()) / total, 4),
        flaky=flaky,
        matches_expectation=result.matches_expectation and not flaky,
        detail=f"{result.detail}; flaky: {distribution}".lstrip("; ") if flaky else result.detail,
    )


def annotate(results: Sequence[CellResult]) -> tuple[CellResult, ...]:
    """The results with verdict counts, flake rate and the flaky mark of their logical cell."""
    counts = distributions((r.id, str(r.verdict)) for r in results)
    return tuple(annotate_one(r, counts[str(CellId.parse(r.id).logical)]) for r in results)
