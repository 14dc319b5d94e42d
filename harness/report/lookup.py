"""Find a cell's stored reproducer among the runs under a results folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.common.ids import CellId, LogicalId, MalformedId
from harness.errors import InputError
from harness.evidence.results import RESULTS_NAME, load_results


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
    """The newest run's cell with this id (or, for an id without #repeat, its first repeat).
    Among several runs, one that cannot be read (another schema version) is passed over and
    named if the cell is found in none."""
    wanted = _wanted(cell_id)
    candidates = _candidates(where)
    passed_over: list[str] = []
    for path in candidates:
        try:
            _, results = load_results(path)
        except InputError as exc:
            if len(candidates) == 1:
                raise
            passed_over.append(str(exc))
            continue
        matching = [r for r in results if _matches(r.id, wanted)]
        if matching:
            result = matching[0]
            command = result.cell.reproducer
            if not command:
                raise InputError(
                    f"{path}: cell {result.id!r} has no reproducer (an infra-error, or a run "
                    "that could not make one); run the cell again"
                )
            return StoredCell(
                results=path, id=result.id, verdict=str(result.outcome.verdict), command=command
            )
    unread = (
        f"; {len(passed_over)} results file(s) there could not be read, e.g. {passed_over[0]}"
        if passed_over
        else ""
    )
    raise InputError(
        f"no cell {cell_id!r} in {where}; cell ids are in results.json and in "
        "`wheelclash run --print-plan`, e.g. call-once/host/global:a/plain/a,b#1" + unread
    )
