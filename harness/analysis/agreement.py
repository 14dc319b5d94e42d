"""Static predictions next to runtime verdicts: the run's findings and where they disagree.

Written into results.json as the optional top-level keys `findings` and `agreement`
(see the data contracts); a results.json without them stays valid.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harness.analysis.credit import CellEvidence, Judge, evidence_of
from harness.analysis.explain import Finding, Scanned, explain
from harness.build.wheels import BuiltWheel
from harness.common.verdicts import NOT_THE_WHEELS, Verdict
from harness.errors import HarnessError
from harness.evidence.results import CellResult

logger = logging.getLogger(__name__)

NOT_FAILURES: Final = frozenset({Verdict.PASS, Verdict.INFRA_ERROR, Verdict.NOT_INSTALLABLE})


def findings_for(wheel_sets: Iterable[Sequence[BuiltWheel]]) -> list[Finding]:
    """The findings of each distinct wheel set of a run; a wheel that cannot be read is logged
    and skipped (explaining never fails a run). Each wheel is read once for every set."""
    out: list[Finding] = []
    seen: set[tuple[str, ...]] = set()
    memo: dict[tuple[str, Path, str], Scanned] = {}
    for wheels in wheel_sets:
        key = _set_key(wheels)
        if key in seen:
            continue
        seen.add(key)
        out += _findings_of(wheels, memo)
    return list(dict.fromkeys(out))


def _set_key(wheels: Sequence[BuiltWheel]) -> tuple[str, ...]:
    return tuple(sorted(f"{w.wheel_id}={w.sha256}" for w in wheels))


def _memo_key(wheel: BuiltWheel) -> tuple[str, Path, str]:
    """How explain's memo knows a wheel (explain.explain)."""
    return (wheel.wheel_id, wheel.path, wheel.sha256)


def _findings_of(
    wheels: Sequence[BuiltWheel], memo: dict[tuple[str, Path, str], Scanned]
) -> list[Finding]:
    try:
        return explain(
            [(w.wheel_id, w.path) for w in wheels],
            sha256={w.path: w.sha256 for w in wheels},
            memo=memo,
        )
    except (HarnessError, OSError, ValueError) as exc:
        logger.warning("explain: could not read the wheels: %s", exc)
        return []


def failing(result: CellResult) -> bool:
    """A failure some mechanism could explain: not a dependency left out of the set."""
    missing = result.outcome.subkind in NOT_THE_WHEELS
    return result.outcome.verdict not in NOT_FAILURES and not missing


def _covers(finding: Finding, result: CellResult) -> bool:
    """Whether the finding's condition (an order, a wheel loaded RTLD_GLOBAL) holds in a cell."""
    order = result.cell.order
    if finding.before:
        if not all(w in order for w in finding.before):
            return False
        positions = [order.index(w) for w in finding.before]
        if positions != sorted(positions):
            return False
    if finding.rtld_global and finding.rtld_global not in result.cell.global_ids():
        return False
    return finding.wheel_id in order


@dataclass(kw_only=True)
class _Tally:
    """One prediction's cells, summed over every wheel set and target it was made for."""

    finding: Finding
    files: set[str] = field(default_factory=set)
    cells: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # cell id -> verdict
    explained: dict[str, str] = field(default_factory=dict)  # cell id -> the evidence

    def label(self) -> str:
        finding = self.finding
        text = f"{finding.predictor} on {finding.wheel_id}"
        if len(self.files) > 1:
            text += f" ({len(self.files)} files)"
        if finding.rtld_global and finding.before:
            later = ", ".join(w for w in finding.before if w != finding.rtld_global)
            text += f" (loaded RTLD_GLOBAL before {later})"
        elif finding.rtld_global:
            text += " (loaded RTLD_GLOBAL)"
        elif len(finding.before) > 1:
            text += f" (imported before {', '.join(finding.before[1:])})"
        return text

    def row(self) -> dict[str, Any]:
        unexplained = sorted({v for c, v in self.failed.items() if c not in self.explained})
        parts = [f"{len(self.failed)} of {len(self.cells)} cells where it applies failed"]
        if self.explained:
            cell, why = next(iter(sorted(self.explained.items())))
            parts.append(f"{len(self.explained)} with evidence naming it (e.g. {cell}: {why})")
        missing = len(self.failed) - len(self.explained)
        if missing:
            parts.append(f"{missing} failed, not explained ({', '.join(unexplained)})")
        return {
            "mechanism": self.finding.mechanism,
            "predicted": True,
            "observed": bool(self.explained),
            "detail": f"{self.label()}: {'; '.join(parts)}",
            "predictor": self.finding.predictor,
            "wheel": self.finding.wheel_id,
            "cells": len(self.cells),
            "failed": len(self.failed),
            "explained": len(self.explained),
            "explained_cells": sorted(self.explained),
        }


def _key(finding: Finding) -> tuple[str, ...]:
    return (
        str(finding.mechanism or ""),
        str(finding.predictor),
        finding.wheel_id,
        finding.rtld_global,
        *finding.before,
    )


def agreement(
    findings: Sequence[Finding], results: Sequence[CellResult], run_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Predictions against the cells they apply to (see `agreement_of_sets`)."""
    return agreement_of_sets([(findings, results)], run_dir)


def agreement_of_sets(
    sets: Sequence[tuple[Sequence[Finding], Sequence[CellResult]]], run_dir: Path | None = None
) -> list[dict[str, Any]]:
    """One row per prediction that some cell put to the test, and one for the failing cells no
    prediction explains. `sets` pairs the findings of each wheel set with the cells that ran it;
    a prediction made for several (targets, files of one wheel) is one row with summed counts.
    A failing cell counts as observed for a prediction only when its own evidence names what
    the prediction named (analysis/credit.py); otherwise it failed, not explained."""
    judge = Judge()
    tallies: dict[tuple[str, ...], _Tally] = {}
    evidence: dict[str, CellEvidence] = {}
    explained: set[str] = set()
    failures: dict[str, CellResult] = {}
    for findings, results in sets:
        failures |= {r.id: r for r in results if failing(r)}
        for finding in (f for f in findings if f.mechanism):
            covered = [r for r in results if _covers(finding, r)]
            if not covered:
                continue  # no cell of this run put it to the test
            tally = tallies.setdefault(_key(finding), _Tally(finding=finding))
            tally.files |= finding.files
            tally.cells |= {r.id for r in covered}
            for result in (r for r in covered if failing(r)):
                tally.failed[result.id] = str(result.outcome.verdict)
                if result.id not in evidence:
                    evidence[result.id] = evidence_of(result, run_dir)
                why = judge.credit(finding, evidence[result.id])
                if why and result.id not in tally.explained:
                    tally.explained[result.id] = why
                    explained.add(result.id)
    rows = [t.row() for t in tallies.values()]
    unexplained = [r for r in failures.values() if r.id not in explained]
    if unexplained:
        verdicts = sorted({str(r.outcome.verdict) for r in unexplained})
        rows.append(
            {
                "mechanism": "",
                "predicted": False,
                "observed": True,
                "detail": (
                    f"{len(unexplained)} failing cells ({', '.join(verdicts)}) whose evidence "
                    f"names nothing a static prediction flagged, e.g. {unexplained[0].id}"
                ),
            }
        )
    return rows


SetFindings = Mapping[tuple[str, ...], Sequence[Finding]]


def set_findings(wheel_sets: Iterable[Sequence[BuiltWheel]]) -> SetFindings:
    """Each distinct wheel set's findings, by its key. Each wheel is read once, for all its
    sets (an atlas's wheel is in one set per partner), and let go after the last set that
    holds it. It needs the wheels only, so a run works it out while its cells run."""
    by_set = {_set_key(wheels): wheels for wheels in wheel_sets}
    last = {_memo_key(w): index for index, ws in enumerate(by_set.values()) for w in ws}
    memo: dict[tuple[str, Path, str], Scanned] = {}
    found: dict[tuple[str, ...], list[Finding]] = {}
    for index, (key, wheels) in enumerate(by_set.items()):
        found[key] = list(dict.fromkeys(_findings_of(wheels, memo)))
        for wheel in wheels:
            if last[_memo_key(wheel)] == index:
                memo.pop(_memo_key(wheel), None)
    return found


def document_keys(
    units: Iterable[tuple[Sequence[BuiltWheel], Sequence[str]]],
    results: Sequence[CellResult],
    run_dir: Path | None = None,
    known: SetFindings | None = None,
) -> dict[str, Any]:
    """results.json's `findings` and `agreement`: each wheel set's findings against the cells
    that ran that set (`units` pairs a unit's wheels with its cell ids). `known` holds sets'
    findings worked out before (`set_findings`); the others are worked out now."""
    by_set: dict[tuple[str, ...], tuple[Sequence[BuiltWheel], set[str]]] = {}
    for wheels, cell_ids in units:
        by_set.setdefault(_set_key(wheels), (wheels, set()))[1].update(cell_ids)
    known = known or {}
    missing = set_findings(ws for key, (ws, _) in by_set.items() if key not in known)
    findings: dict[Finding, None] = {}
    sets: list[tuple[Sequence[Finding], Sequence[CellResult]]] = []
    for key, (_, ran) in by_set.items():
        found = known[key] if key in known else missing[key]
        findings |= dict.fromkeys(found)
        sets.append((found, [r for r in results if r.id in ran]))
    return {
        "findings": [f.to_json() for f in findings],
        "agreement": agreement_of_sets(sets, run_dir),
    }


def summary_lines(path: Path) -> list[str]:
    """The static predictions of a written results.json against what ran, for the terminal;
    a line that would repeat is printed once with its count."""
    document = json.loads(path.read_text(encoding="utf-8"))
    lines: list[str] = []
    for row in document.get("agreement", []):
        match (row["predicted"], row["observed"], row.get("failed", 0)):
            case (True, True, _):
                state = "predicted and observed"
            case (True, False, 0):
                state = "predicted, not observed"
            case (True, False, _):
                state = "predicted; failed, not explained"
            case _:
                state = "failed, not explained"
        mechanism = f"mechanism {row['mechanism']}" if row["mechanism"] else "no prediction"
        lines.append(f"  {mechanism}: {state}: {row['detail']}")
    counts = Counter(lines)
    shown = [line + (f" (×{counts[line]})" if counts[line] > 1 else "") for line in counts]
    return ["static predictions (wheelclash explain):", *shown] if shown else []
