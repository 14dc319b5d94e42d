"""Repetition: the samples of one logical cell, within a run and over several runs.

A logical cell is a cell id without its `#repeat` suffix. Its repeats in one run and the
same cell in other runs are samples of one thing, counted by one function (`distributions`).
Within a run, repeats that disagree are all marked flaky, and none of them counts as meeting
its expectation: a result that only sometimes happens is not a pass, whatever the
expectation said. Over runs, `stability` gives each logical cell's distribution of outcomes
(verdict and subkind); a cell with more than one outcome is flaky, never folded into `pass`.
Pure: results in, counts out.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from harness.common.ids import CellId
from harness.evidence.results import CellResult


def logical_id(cell_id: str) -> str:
    """A cell id without its `#repeat` suffix (`CellId.logical`, as text)."""
    return str(CellId.parse(cell_id).logical)


def distributions(samples: Iterable[tuple[str, str]]) -> dict[str, Counter[str]]:
    """Each logical cell's counts, from (cell id, verdict or outcome label) pairs."""
    counts: dict[str, Counter[str]] = {}
    for cell_id, label in samples:
        counts.setdefault(logical_id(cell_id), Counter())[label] += 1
    return counts


def flake_rate(counts: Mapping[str, int]) -> float:
    """1 − the share of the most common label (0.0 when every sample agrees or none exist)."""
    total = sum(counts.values())
    return round(1 - max(counts.values()) / total, 4) if total else 0.0


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


def outcome_label(result: CellResult) -> str:
    """`verdict` or `verdict/subkind`: what must come out the same every time."""
    outcome = result.outcome
    return f"{outcome.verdict}/{outcome.subkind}" if outcome.subkind else str(outcome.verdict)


@dataclass(frozen=True, kw_only=True)
class Stability:
    """Every outcome one logical cell had over all runs and repeats, with how often."""

    key: str
    distribution: tuple[tuple[str, int], ...]  # most frequent first, then by name

    @property
    def samples(self) -> int:
        return sum(count for _, count in self.distribution)

    @property
    def flaky(self) -> bool:
        return len(self.distribution) > 1

    @property
    def flake_rate(self) -> float:
        return flake_rate(dict(self.distribution))

    def describe(self) -> str:
        shares = ", ".join(f"{label} {count}/{self.samples}" for label, count in self.distribution)
        return f"{self.key}: {'flaky' if self.flaky else 'stable'} ({shares})"


def stability(runs: Sequence[Iterable[CellResult]]) -> tuple[Stability, ...]:
    """Each logical cell's outcomes over `runs` (each a run's results), in first-seen order."""
    samples = ((r.id, outcome_label(r)) for r in itertools.chain.from_iterable(runs))
    return tuple(
        Stability(
            key=key,
            distribution=tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
        )
        for key, counts in distributions(samples).items()
    )


def overall_flake_rate(cells: Iterable[Stability]) -> float:
    """The share of all samples that differ from their own logical cell's commonest outcome
    (each cell's flake rate, weighted by its samples); 0.0 for no samples."""
    samples = outliers = 0
    for cell in cells:
        samples += cell.samples
        outliers += cell.samples - max((count for _, count in cell.distribution), default=0)
    return round(outliers / samples, 4) if samples else 0.0


def flaky(runs: Sequence[Iterable[CellResult]]) -> tuple[Stability, ...]:
    """Only the logical cells that did not give one outcome every time."""
    return tuple(s for s in stability(runs) if s.flaky)
