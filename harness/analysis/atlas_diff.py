"""Two atlas editions side by side: new conflicts, fixed ones, changed verdicts, and
changed credits.

Built on the run-to-run comparison (compare.py): logical cells matched by id, each side's
outcome the set its runs gave. A cell that failed in the new edition only (or is new and
fails) is a new conflict; one that failed in the old one only (or is gone) is fixed or gone;
one that failed in both with other outcomes, or moved between pass and not-installable,
changed. A cell that failed on both sides but whose failing runs name other culprits
(`opencv_python_headless (single-wheel)` where it was `scikit_learn+opencv_python_headless
(cross-wheel)`) changed its credit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.analysis.compare import Run, VerdictChange, compare, outcomes, read_run
from harness.common.verdicts import FAILURES
from harness.evidence.results import CellResult

EXIT_SAME: Final = 0
EXIT_CHANGED: Final = 1


def _fails(labels: Sequence[str]) -> bool:
    return any(label.split(":", 1)[0] in FAILURES for label in labels)


@dataclass(frozen=True, kw_only=True)
class AtlasDiff:
    old: str
    new: str
    cells: int  # logical cells in both
    new_conflicts: tuple[VerdictChange, ...]  # failing now, not before (a: () when new)
    fixed: tuple[VerdictChange, ...]  # failing before, not now (b: () when gone)
    changed: tuple[VerdictChange, ...]  # other outcomes, failing or not on both sides
    credits: tuple[VerdictChange, ...] = ()  # failing on both sides, other culprits

    @property
    def exit_code(self) -> int:
        changes = self.new_conflicts or self.fixed or self.changed or self.credits
        return EXIT_CHANGED if changes else EXIT_SAME


def credits(results: Sequence[CellResult]) -> dict[str, tuple[str, ...]]:
    """The culprits each logical cell's failing runs were credited to, e.g.
    `a+b (cross-wheel)`, sorted; cells with no attributed failing run are left out."""
    found: dict[str, set[str]] = {}
    for result in results:
        credit = result.attribution
        if credit is not None and result.outcome.verdict in FAILURES:
            label = f"{'+'.join(credit.culprits)} ({credit.failure_kind})"
            found.setdefault(str(result.cell.cell_id.logical), set()).add(label)
    return {cell: tuple(sorted(labels)) for cell, labels in found.items()}


def diff(old: Run, new: Run) -> AtlasDiff:
    """What changed from the old edition to the new one."""
    comparison = compare(old, new)
    seen_old, seen_new = outcomes(old.results), outcomes(new.results)
    added = [VerdictChange(cell=c, a=(), b=seen_new[c]) for c in comparison.only_b]
    gone = [VerdictChange(cell=c, a=seen_old[c], b=()) for c in comparison.only_a]
    both = list(comparison.changed)
    credited_old, credited_new = credits(old.results), credits(new.results)
    recredited = [
        VerdictChange(cell=cell, a=credited_old[cell], b=credited_new[cell])
        for cell in sorted(credited_old.keys() & credited_new.keys())
        if credited_old[cell] != credited_new[cell]
    ]
    return AtlasDiff(
        old=comparison.a,
        new=comparison.b,
        cells=comparison.cells,
        new_conflicts=tuple(c for c in [*both, *added] if _fails(c.b) and not _fails(c.a)),
        fixed=tuple(c for c in [*both, *gone] if _fails(c.a) and not _fails(c.b)),
        changed=tuple(c for c in both if _fails(c.a) == _fails(c.b)),
        credits=tuple(recredited),
    )


def diff_paths(old: Path, new: Path) -> AtlasDiff:
    """The diff of two editions (folders, run folders or results.json files)."""
    return diff(read_run(old), read_run(new))


def _labels(labels: Sequence[str], missing: str) -> str:
    return "|".join(labels) or missing


def text(found: AtlasDiff) -> str:
    lines = [f"old: {found.old}", f"new: {found.new}", f"{found.cells} cells in both editions"]
    sections = (
        ("new conflicts", found.new_conflicts),
        ("fixed", found.fixed),
        ("changed verdicts", found.changed),
        ("changed credits", found.credits),
    )
    for name, changes in sections:
        lines.append(f"{len(changes)} {name}")
        width = max((len(c.cell) for c in changes), default=0)
        lines += [
            f"  {c.cell:<{width}}  {_labels(c.a, '(not in old)')} -> {_labels(c.b, '(not in new)')}"
            for c in changes
        ]
    return "\n".join(lines)
