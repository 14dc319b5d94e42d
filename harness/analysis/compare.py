"""Two runs of the same cells side by side: which verdicts changed, and how flaky each was.

Cells are matched as logical cells (the id without `#repeat`, harness/evidence/flakes.py),
and a side's verdict is the set of outcomes (verdict, or verdict/subkind) its repeats gave.
A cell whose outcome set differs between the runs *changed*; cells in one run only are
listed apart. Flake rates come from the same repetition counts the runs themselves use:
within run A, within run B, and over both runs' samples together, per logical cell and
overall. Results are read through `load_results`, so a change of results.json's layout is
absorbed there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.evidence import flakes
from harness.evidence.results import CellResult, load_results, results_file

SCHEMA_VERSION: Final = 1


@dataclass(frozen=True, kw_only=True)
class Run:
    """One side of the comparison: where it was read from and its cells."""

    path: str
    results: tuple[CellResult, ...]


@dataclass(frozen=True, kw_only=True)
class VerdictChange:
    """A logical cell whose outcomes differ between the runs (each side sorted)."""

    cell: str
    a: tuple[str, ...]
    b: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "a": list(self.a), "b": list(self.b)}


@dataclass(frozen=True, kw_only=True)
class FlakeRate:
    """A flake rate within run A, within run B, and over the samples of both."""

    a: float
    b: float
    both: float

    @property
    def any(self) -> bool:
        return max(self.a, self.b, self.both) > 0

    def to_json(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b, "both": self.both}


@dataclass(frozen=True, kw_only=True)
class CellFlakes:
    """One logical cell that did not give one outcome every time, with its distribution."""

    cell: str
    rate: FlakeRate
    distribution: tuple[tuple[str, int], ...]  # over both runs, most frequent first

    def to_json(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "flake_rate": self.rate.to_json(),
            "distribution": dict(self.distribution),
        }


@dataclass(frozen=True, kw_only=True)
class RunComparison:
    a: str
    b: str
    cells: int  # logical cells in both runs
    changed: tuple[VerdictChange, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    flaky: tuple[CellFlakes, ...]
    overall: FlakeRate

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "a": self.a,
            "b": self.b,
            "cells_in_both": self.cells,
            "changed": [c.to_json() for c in self.changed],
            "only_in_a": list(self.only_a),
            "only_in_b": list(self.only_b),
            "flake_rate": {
                "overall": self.overall.to_json(),
                "cells": [c.to_json() for c in self.flaky],
            },
        }


def outcomes(results: Sequence[CellResult]) -> dict[str, tuple[str, ...]]:
    """Each logical cell's distinct outcomes over its repeats, sorted; in first-seen order."""
    return {
        s.key: tuple(sorted(label for label, _ in s.distribution))
        for s in flakes.stability([results])
    }


def compare(a: Run, b: Run) -> RunComparison:
    """Run A against run B: A's cell order, then the cells only B has."""
    seen_a, seen_b = outcomes(a.results), outcomes(b.results)
    in_a = {s.key: s.flake_rate for s in flakes.stability([a.results])}
    in_b = {s.key: s.flake_rate for s in flakes.stability([b.results])}
    together = flakes.stability([a.results, b.results])
    flaky = tuple(
        CellFlakes(
            cell=s.key,
            rate=FlakeRate(a=in_a.get(s.key, 0.0), b=in_b.get(s.key, 0.0), both=s.flake_rate),
            distribution=s.distribution,
        )
        for s in together
    )
    return RunComparison(
        a=a.path,
        b=b.path,
        cells=sum(cell in seen_b for cell in seen_a),
        changed=tuple(
            VerdictChange(cell=cell, a=labels, b=seen_b[cell])
            for cell, labels in seen_a.items()
            if cell in seen_b and seen_b[cell] != labels
        ),
        only_a=tuple(cell for cell in seen_a if cell not in seen_b),
        only_b=tuple(cell for cell in seen_b if cell not in seen_a),
        flaky=tuple(f for f in flaky if f.rate.any),
        overall=FlakeRate(
            a=flakes.overall_flake_rate(flakes.stability([a.results])),
            b=flakes.overall_flake_rate(flakes.stability([b.results])),
            both=flakes.overall_flake_rate(together),
        ),
    )


def read_run(path: Path) -> Run:
    """A run folder or its results.json; a missing or unreadable file is an InputError
    naming it (from the one results reader)."""
    _, results = load_results(path)
    return Run(path=str(results_file(path)), results=results)


def _labels(labels: Sequence[str]) -> str:
    return "|".join(labels) or "-"


def text(comparison: RunComparison) -> str:
    """The terminal report: changed verdicts, cells in one run only, flake rates."""
    lines = [f"A: {comparison.a}", f"B: {comparison.b}"]
    changed = comparison.changed
    lines.append(f"{len(changed)} of {comparison.cells} cells in both runs changed verdict")
    width = max((len(c.cell) for c in changed), default=0)
    lines += [f"  {c.cell:<{width}}  {_labels(c.a)} -> {_labels(c.b)}" for c in changed]
    for name, cells in (("A", comparison.only_a), ("B", comparison.only_b)):
        if cells:
            lines.append(f"{len(cells)} cells only in {name}:")
            lines += [f"  {cell}" for cell in cells]
    overall = comparison.overall
    lines.append(
        f"flake rate: A {overall.a:.2%}, B {overall.b:.2%}, both runs together {overall.both:.2%}"
    )
    for cell in comparison.flaky:
        shares = ", ".join(f"{label} {n}" for label, n in cell.distribution)
        rate = cell.rate
        lines.append(
            f"  {cell.cell}: A {rate.a:.2%}, B {rate.b:.2%}, together {rate.both:.2%} ({shares})"
        )
    return "\n".join(lines)
