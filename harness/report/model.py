"""A results.json read for rendering: the cells' results with the texts the reports group
them by, provenance, findings, baseline.

Readers of results take every optional field as optional (see the data contracts): the
evidence (artefacts, native_top, python_stack, flaky, duplicate_runtimes, ...), the static
`findings` and `agreement`, the `baseline` comparison and each cell's `reproducer`. A results
file without them renders, with those parts left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.baseline import statuses
from harness.common.ids import CellId
from harness.errors import InputError
from harness.evidence.flakes import logical_id
from harness.evidence.results import (
    CellOutcome,
    CellResult,
    Evidence,
    PlannedCell,
    read_document,
    results_file,
)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


@dataclass(frozen=True, kw_only=True)
class CellView:
    """One cell as the reports show it: its result, its status against a baseline, and the
    texts the matrices group cells by."""

    result: CellResult
    baseline: str = ""

    @property
    def id(self) -> str:
        return self.result.id

    @property
    def cell(self) -> PlannedCell:
        return self.result.cell

    @property
    def outcome(self) -> CellOutcome:
        return self.result.outcome

    @property
    def evidence(self) -> Evidence:
        return self.result.evidence

    @property
    def logical(self) -> str:
        return str(CellId.parse(self.id).logical)

    @property
    def order(self) -> str:
        """A matrix column: the import order."""
        return ",".join(self.cell.order)

    @property
    def mode(self) -> str:
        """A matrix row: how the modules were loaded, and the host mode."""
        return f"{self.cell.dlopen}/{self.cell.host}"

    @property
    def table(self) -> str:
        """The matrix this cell belongs to: scenario on target (arch, variant)."""
        cell = self.cell
        where = f"{cell.target} ({cell.arch}{', ' + str(cell.variant) if cell.variant else ''})"
        return f"{cell.scenario} on {where}"

    @property
    def verdict_text(self) -> str:
        outcome = self.outcome
        return f"{outcome.verdict}:{outcome.subkind}" if outcome.subkind else str(outcome.verdict)


@dataclass(frozen=True, kw_only=True)
class Finding:
    wheel: str
    predictor: str
    mechanism: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class RunView:
    name: str
    provenance: Mapping[str, Any]
    cells: tuple[CellView, ...]
    findings: tuple[Finding, ...]
    agreement: tuple[Mapping[str, Any], ...]
    baseline: Mapping[str, Any]

    @property
    def unexpected(self) -> tuple[CellView, ...]:
        return tuple(c for c in self.cells if not c.outcome.matches_expectation)

    def image_for(self, cell: CellView) -> str:
        """The image (id and digest) the cell's target ran from, when the results say."""
        for facts in self.provenance.get("targets") or []:
            if facts.get("target") == cell.cell.target and facts.get("arch") == cell.cell.arch:
                parts = [str(facts.get("image_id") or ""), str(facts.get("image_digest") or "")]
                return " ".join(p for p in parts if p)
        return ""

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for cell in self.cells:
            verdict = str(cell.outcome.verdict)
            found[verdict] = found.get(verdict, 0) + 1
        return dict(sorted(found.items()))


def run_view(document: Mapping[str, Any], name: str = "") -> RunView:
    """The view of a results document (of this schema version); raises KeyError, TypeError
    or ValueError on a malformed one."""
    by_status = statuses(document)
    findings = document.get("findings")
    agreement = document.get("agreement")
    baseline = document.get("baseline")
    provenance = document.get("provenance")
    return RunView(
        name=name,
        provenance=provenance if isinstance(provenance, Mapping) else {},
        cells=tuple(_cell_view(c, by_status) for c in document["cells"]),
        findings=tuple(
            Finding(
                wheel=_text(f, "wheel") or _text(f, "wheel_id"),
                predictor=_text(f, "predictor"),
                mechanism=_text(f, "mechanism"),
                detail=_text(f, "detail"),
            )
            for f in (findings if isinstance(findings, list) else [])
            if isinstance(f, Mapping)
        ),
        agreement=tuple(
            a for a in (agreement if isinstance(agreement, list) else []) if isinstance(a, Mapping)
        ),
        baseline=baseline if isinstance(baseline, Mapping) else {},
    )


def _cell_view(data: Mapping[str, Any], by_status: Mapping[str, str]) -> CellView:
    result = CellResult.from_json(data)
    return CellView(result=result, baseline=by_status.get(logical_id(result.id), ""))


def load_view(path: Path) -> tuple[Path, Mapping[str, Any], RunView]:
    """The results file, its raw document and its view; bad files are an InputError."""
    found = results_file(path)
    if not found.is_file():
        raise InputError(
            f"{path}: no results.json there; pass a run folder (results/<run-id>) or its "
            "results.json"
        )
    document = read_document(found)
    try:
        view = run_view(document, name=found.parent.name)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{found}: not a wheelclash results.json ({type(exc).__name__}: {exc}); "
            "every cell needs an id, its cell and its outcome "
            "(harness/resources/results.schema.json)"
        ) from exc
    return found, document, view
