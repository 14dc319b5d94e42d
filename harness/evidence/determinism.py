"""Whether the same inputs give the same verdicts: compare runs, and repeats within them.

Pure: results in, a stability report out. A cell is keyed by its id without the `#repeat`
suffix, so the repeats of one run and the same cell in several runs are samples of one thing.
A key with more than one outcome (verdict and subkind) is flaky, and its distribution says how
often each outcome came up; it is never folded into `pass`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.common.ids import CellId
from harness.evidence.results import CellResult


def stable_key(result: CellResult) -> str:
    """The cell's id without its repeat number (a logical cell, as flakes.py keys it)."""
    return str(CellId.parse(result.id).logical)


def outcome_label(result: CellResult) -> str:
    """`verdict` or `verdict/subkind`: what must come out the same every time."""
    return f"{result.verdict}/{result.subkind}" if result.subkind else str(result.verdict)


@dataclass(frozen=True, kw_only=True)
class Stability:
    """Every outcome one cell had over all runs and repeats, with how often."""

    key: str
    distribution: tuple[tuple[str, int], ...]  # most frequent first, then by name

    @property
    def samples(self) -> int:
        return sum(count for _, count in self.distribution)

    @property
    def flaky(self) -> bool:
        return len(self.distribution) > 1

    def describe(self) -> str:
        shares = ", ".join(f"{label} {count}/{self.samples}" for label, count in self.distribution)
        return f"{self.key}: {'flaky' if self.flaky else 'stable'} ({shares})"


def stability(runs: Sequence[Iterable[CellResult]]) -> tuple[Stability, ...]:
    """Each cell's outcomes over `runs` (each a run's results), in first-seen order."""
    seen: dict[str, Counter[str]] = {}
    for results in runs:
        for result in results:
            seen.setdefault(stable_key(result), Counter())[outcome_label(result)] += 1
    return tuple(
        Stability(
            key=key,
            distribution=tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
        )
        for key, counts in seen.items()
    )


def flaky(runs: Sequence[Iterable[CellResult]]) -> tuple[Stability, ...]:
    """Only the cells that did not give one outcome every time."""
    return tuple(s for s in stability(runs) if s.flaky)
