"""Repeats of one logical cell: their verdict distribution, and flaky cells marked as such.

A logical cell is a cell id without its `#repeat` suffix. When its repeats disagree, every
repeat is marked flaky and none of them counts as meeting its expectation: a result that
only sometimes happens is not a pass, whatever the expectation said.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

from harness.evidence.results import CellResult


def logical_id(cell_id: str) -> str:
    return cell_id.rsplit("#", 1)[0]


def distributions(verdicts: Iterable[tuple[str, str]]) -> dict[str, Counter[str]]:
    """Each logical cell's verdict counts, from (cell id, verdict) pairs."""
    counts: dict[str, Counter[str]] = {}
    for cell_id, verdict in verdicts:
        counts.setdefault(logical_id(cell_id), Counter())[verdict] += 1
    return counts


def annotate_one(result: CellResult, seen: Counter[str]) -> CellResult:
    """One result with its logical cell's verdict counts; a flaky one (repeats that disagree)
    no longer meets its expectation, and its detail says how the repeats went."""
    evidence = replace(result.evidence, verdict_counts=dict(sorted(seen.items())))
    if not evidence.flaky:
        return replace(result, evidence=evidence)
    total = sum(seen.values())
    distribution = ", ".join(f"{v} {n}/{total}" for v, n in sorted(seen.items()))
    outcome = replace(
        result.outcome,
        matches_expectation=False,
        detail=f"{result.outcome.detail}; flaky: {distribution}".lstrip("; "),
    )
    return replace(result, outcome=outcome, evidence=evidence)


def annotate(results: Sequence[CellResult]) -> tuple[CellResult, ...]:
    """The results with verdict counts, flake rate and the flaky mark of their logical cell."""
    counts = distributions((r.id, str(r.outcome.verdict)) for r in results)
    return tuple(annotate_one(r, counts[logical_id(r.id)]) for r in results)
