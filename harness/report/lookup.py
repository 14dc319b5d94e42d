"""Find a cell's stored reproducer among the runs under a results folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError
from harness.evidence.flakes import logical_id
from harness.evidence.results import RESULTS_NAME


@dataclass(frozen=True, kw_only=True)
class StoredCell:
    results: Path
    id: str
    verdict: str
    command: str


def _candidates(where: Path) -> list[Path]:
    """results.json files to search, newest run first."""
    if where.is_file():
        return [where]
    if (where / RESULTS_NAME).is_file():
        return [where / RESULTS_NAME]
    runs = sorted((p for p in where.glob(f"*/{RESULTS_NAME}")), reverse=True)
    if not runs:
        raise InputError(
            f"{where}: no results.json there or in its run folders; pass --results with a "
            "results root, a run folder or a results.json"
        )
    return runs


def find_cell(cell_id: str, where: Path) -> StoredCell:
    """The newest run's cell with this id (or, for an id without #repeat, its first repeat)."""
    for path in _candidates(where):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        matching = [
            c
            for c in cells
            if isinstance(c, dict)
            and (
                c.get("id") == cell_id
                or ("#" not in cell_id and logical_id(str(c.get("id"))) == cell_id)
            )
        ]
        if matching:
            cell = matching[0]
            command = str(cell.get("reproducer") or "")
            if not command:
                raise InputError(
                    f"{path}: cell {cell['id']!r} has no reproducer (a run from before "
                    "reproducers were recorded, or an infra-error); run the cell again"
                )
            return StoredCell(
                results=path, id=str(cell["id"]), verdict=str(cell.get("verdict")), command=command
            )
    raise InputError(
        f"no cell {cell_id!r} in {where}; cell ids are in results.json and in "
        "`wheelclash run --print-plan`, e.g. call-once/host/global:a/plain/a,b#1"
    )
