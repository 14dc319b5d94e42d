"""The atlas page's model: per target and dlopen mode, a wheel × wheel matrix of an edition.

A row is the wheel imported first, a column the wheel imported second; a square holds every
run of that ordered pair in that mode and shows the worst of their verdicts (`SEVERITY`,
harness/report/terminal.py). The diagonal holds each wheel alone: the run's singleton cells
when it has them (`[matrix] singletons`), else attribution's runs of the wheel alone
(results.json `attribution.trials`), over every pair it was run for. Cells of more than two
wheels are not an atlas's and are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from harness.common.ids import CellId, LogicalId, MalformedId
from harness.common.verdicts import FAILURES, Verdict
from harness.evidence.results import CellResult
from harness.report.atlas_edition import MODE_ORDER
from harness.report.terminal import most_severe

PAIR: Final = 2


@dataclass(frozen=True, kw_only=True)
class Trial:
    """One of attribution's runs of a wheel alone: only its verdict and step are kept."""

    cell: str  # its logical id
    verdict: Verdict
    subkind: str = ""
    step: str = ""

    @property
    def verdict_text(self) -> str:
        return f"{self.verdict}:{self.subkind}" if self.subkind else str(self.verdict)


def _verdict_text(result: CellResult) -> str:
    subkind = result.outcome.subkind
    return f"{result.outcome.verdict}:{subkind}" if subkind else str(result.outcome.verdict)


@dataclass(frozen=True, kw_only=True)
class Square:
    """One ordered pair (or, on the diagonal, one wheel alone) in one mode."""

    first: str
    second: str
    runs: tuple[CellResult, ...] = ()
    trials: tuple[Trial, ...] = ()

    @property
    def diagonal(self) -> bool:
        return self.first == self.second

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return tuple(r.outcome.verdict for r in self.runs) + tuple(t.verdict for t in self.trials)

    @property
    def worst(self) -> Verdict | None:
        """The most severe verdict of the square's runs; None when nothing ran."""
        return most_severe(self.verdicts) if self.verdicts else None

    def tally(self) -> list[tuple[str, int]]:
        """Each verdict (with its subkind) and how many runs gave it, the most common first."""
        texts = [_verdict_text(r) for r in self.runs] + [t.verdict_text for t in self.trials]
        return Counter(texts).most_common()

    @property
    def total(self) -> int:
        return len(self.runs) + len(self.trials)

    @property
    def flake_rate(self) -> float:
        """1 - the share of the most common verdict: 0 when every run agrees."""
        tally = self.tally()
        return round(1 - tally[0][1] / self.total, 4) if tally else 0.0

    def failures(self) -> tuple[CellResult, ...]:
        return tuple(r for r in self.runs if r.outcome.verdict in FAILURES)

    def shown(self) -> CellResult | None:
        """The run whose evidence the details show: the first with the worst verdict."""
        worst = self.worst
        return next((r for r in self.runs if r.outcome.verdict == worst), None)


@dataclass(frozen=True, kw_only=True)
class Matrix:
    target: str
    arch: str
    mode: str
    wheels: tuple[str, ...]  # rows and columns alike
    squares: Mapping[tuple[str, str], Square] = field(default_factory=dict)

    def square(self, first: str, second: str) -> Square:
        return self.squares.get((first, second)) or Square(first=first, second=second)


def trials(document: Mapping[str, Any]) -> tuple[Trial, ...]:
    """Attribution's runs recorded in results.json, those of one wheel alone."""
    record = document.get("attribution")
    rows = record.get("trials") if isinstance(record, Mapping) else None
    found = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping):
            continue
        try:
            logical = LogicalId.parse(str(row.get("cell", "")))
            verdict = Verdict(str(row.get("verdict", "")))
        except (MalformedId, ValueError):
            continue
        if len(logical.order) == 1:
            found.append(
                Trial(
                    cell=str(logical),
                    verdict=verdict,
                    subkind=str(row.get("subkind") or ""),
                    step=str(row.get("step") or ""),
                )
            )
    return tuple(found)


def screened_pairs(document: Mapping[str, Any]) -> frozenset[frozenset[str]]:
    """The pairs of a screened edition (results.json `screen`) that a screened group held and
    that ran no pair cells: their squares passed screening."""
    record = document.get("screen")
    if not isinstance(record, Mapping):
        return frozenset()
    held = {
        frozenset((a, b))
        for group in record.get("groups", [])
        if not group.get("not_screened")
        for a in group.get("wheels", [])
        for b in group.get("wheels", [])
        if a != b
    }
    return frozenset(held - {frozenset(p) for p in record.get("pairs_run", [])})


def _mode_key(mode: str) -> tuple[int, str]:
    return (MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER), mode)


def matrices(document: Mapping[str, Any], results: Sequence[CellResult]) -> list[Matrix]:
    """The matrices of an edition's results: by target and arch, then mode (local,
    global-first, global-all, then others by name); wheels in name order."""
    places: dict[str, tuple[str, str]] = {}
    runs: dict[tuple[str, str, str, str, str], list[CellResult]] = {}
    for result in results:
        cell = result.cell
        if len(cell.order) > PAIR:
            continue
        places[CellId.parse(result.id).logical.place] = (cell.target, cell.arch)
        first, second = cell.order[0], cell.order[-1]
        runs.setdefault((cell.target, cell.arch, cell.dlopen, first, second), []).append(result)
    alone: dict[tuple[str, str, str, str], list[Trial]] = {}
    for trial in trials(document):
        logical = LogicalId.parse(trial.cell)
        if logical.place in places:
            target, arch = places[logical.place]
            key = (target, arch, logical.dlopen, logical.order[0])
            alone.setdefault(key, []).append(trial)
    # a screened edition's wheels whose pairs all passed screening have no pair cells
    screened = frozenset(w for pair in screened_pairs(document) for w in pair)
    return [
        _matrix(target, arch, mode, runs, alone, screened)
        for target, arch in sorted(set(places.values()))
        for mode in sorted(
            {k[2] for k in (*runs, *alone) if k[:2] == (target, arch)}, key=_mode_key
        )
    ]


def _matrix(
    target: str,
    arch: str,
    mode: str,
    runs: Mapping[tuple[str, str, str, str, str], list[CellResult]],
    alone: Mapping[tuple[str, str, str, str], list[Trial]],
    screened: frozenset[str] = frozenset(),
) -> Matrix:
    place = (target, arch)
    wheels = sorted(
        {w for k in runs if k[:2] == place for w in k[3:]}
        | {k[3] for k in alone if k[:2] == place}
        | screened
    )
    squares: dict[tuple[str, str], Square] = {}
    for first in wheels:
        for second in wheels:
            cells = tuple(runs.get((target, arch, mode, first, second), ()))
            # A singleton cell of the run answers for the wheel alone before attribution does.
            extra = () if cells or first != second else alone.get((target, arch, mode, first), ())
            if cells or extra:
                squares[(first, second)] = Square(
                    first=first, second=second, runs=cells, trials=tuple(extra)
                )
    return Matrix(target=target, arch=arch, mode=mode, wheels=tuple(wheels), squares=squares)


def failing_squares(found: Iterable[Matrix]) -> int:
    """How many squares have a failing worst verdict."""
    return sum(
        1 for m in found for s in m.squares.values() if s.worst is not None and s.worst in FAILURES
    )
