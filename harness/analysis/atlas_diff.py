"""Two atlas editions side by side: new conflicts, fixed ones, and changed verdicts.

Built on the run-to-run comparison (compare.py): logical cells matched by id, each side's
outcome the set its runs gave. A cell that failed in the new edition only (or is new and
fails) is a new conflict; one that failed in the old one only (or is gone) is fixed or gone;
one that failed in both with other outcomes, or moved between pass and not-installable,
changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.analysis.compare import Run, VerdictChange, compare, outcomes, read_run
from harness.common.verdicts import FAILURES

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

    @property
    def exit_code(self) -> int:
        return EXIT_CHANGED if self.new_conflicts or self.fixed or self.changed else EXIT_SAME


def diff(old: Run, new: Run) -> AtlasDiff:
    """What changed from the old edition to the new one."""
    comparison = compare(old, new)
    seen_old, seen_new = outcomes(old.results), outcomes(new.results)
    added = [VerdictChange(cell=c, a=(), b=seen_new[c]) for c in comparison.only_b]
    gone = [VerdictChange(cell=c, a=seen_old[c], b=()) for c in comparison.only_a]
    both = list(comparison.changed)
    return AtlasDiff(
        old=comparison.a,
        new=comparison.b,
        cells=comparison.cells,
        new_conflicts=tuple(c for c in [*both, *added] if _fails(c.b) and not _fails(c.a)),
        fixed=tuple(c for c in [*both, *gone] if _fails(c.a) and not _fails(c.b)),
        changed=tuple(c for c in both if _fails(c.a) == _fails(c.b)),
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
    )
    for name, changes in sections:
        lines.append(f"{len(changes)} {name}")
        width = max((len(c.cell) for c in changes), default=0)
        lines += [
            f"  {c.cell:<{width}}  {_labels(c.a, '(not in old)')} -> {_labels(c.b, '(not in new)')}"
            for c in changes
        ]
    return "\n".join(lines)
