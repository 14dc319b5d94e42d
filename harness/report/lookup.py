"""Find a cell's stored reproducer among the runs under a results folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.common.ids import CellId, LogicalId, MalformedId
from harness.errors import InputError
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


def _wanted(cell_id: str) -> CellId | LogicalId:
    """The cell asked for: one repeat, or with no #repeat the logical cell; MalformedId when
    the text is neither."""
    return CellId.parse(cell_id) if "#" in cell_id else LogicalId.parse(cell_id)


def _matches(stored: object, wanted: CellId | LogicalId) -> bool:
    """Whether a stored cell id names the wanted cell; a malformed stored id names none."""
    try:
        found = CellId.parse(str(stored))
    except MalformedId:
        return False
    return (found.logical if isinstance(wanted, LogicalId) else found) == wanted


def find_cell(cell_id: str, where: Path) -> StoredCell:
    """The newest run's cell with this id (or, for an id without #repeat, its first repeat)."""
    wanted = _wanted(cell_id)
    for path in _candidates(where):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        matching = [c for c in cells if isinstance(c, dict) and _matches(c.get("id"), wanted)]
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
