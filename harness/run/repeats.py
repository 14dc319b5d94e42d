"""Failing cells run again: `--repeat-failures N` gives every failing logical cell N runs in
all, so a verdict that holds N times out of N can be told from a flake. The extra runs are
cells of their own (`#2`, `#3`, … after the planned repeats), run in the same environment
after the planned cells, streamed to cells.jsonl like them and written next to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from harness.common.ids import CellId
from harness.common.verdicts import FAILURES
from harness.run.state import CellIndex
from harness.scenario.plan import Cell


def _logical(cell_id: str) -> str:
    return str(CellId.parse(cell_id).logical)


def failing(index: CellIndex) -> frozenset[str]:
    """The logical cells with a failing verdict in any finished repeat."""
    return frozenset(
        _logical(cell_id) for cell_id, entry in index.entries.items() if entry.verdict in FAILURES
    )


def extra_runs(
    units: Sequence[Sequence[Cell]], index: CellIndex, runs: int
) -> tuple[tuple[Cell, ...], ...]:
    """For each unit (one environment), the runs still missing to give each of its failing
    logical cells `runs` runs in all; units with none are left out."""
    if runs <= 1:
        return ()
    failed = failing(index)
    out: list[tuple[Cell, ...]] = []
    for unit in units:
        last: dict[str, Cell] = {}
        for cell in unit:
            logical = _logical(cell.id)
            if logical in failed and cell.repeat >= last.get(logical, cell).repeat:
                last[logical] = cell
        todo = tuple(
            again
            for cell in last.values()
            for repeat in range(cell.repeat + 1, runs + 1)
            if (again := replace(cell, repeat=repeat)).id not in index
        )
        if todo:
            out.append(todo)
    return tuple(out)


def results_order(mine: Sequence[str], index: CellIndex) -> tuple[str, ...]:
    """The planned cells in plan order, each logical cell's extra runs right after its own."""
    first: dict[str, int] = {}
    for position, cell_id in enumerate(mine):
        first.setdefault(_logical(cell_id), position)
    planned = set(mine)
    extra = [c for c in index.entries if c not in planned and _logical(c) in first]
    return tuple(
        sorted(
            [*mine, *extra],
            key=lambda c: (first[_logical(c)], CellId.parse(c).repeat),
        )
    )
