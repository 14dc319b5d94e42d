"""Static predictions next to runtime verdicts: the run's findings and where they disagree.

Written into results.json as the optional top-level keys `findings` and `agreement`
(see the data contracts); a results.json without them stays valid.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from harness.analysis.explain import Finding, explain
from harness.build.wheels import BuiltWheel
from harness.common.verdicts import ImportErrorKind, Verdict
from harness.errors import HarnessError
from harness.evidence.results import CellResult
from harness.scenario.plan import Cell

logger = logging.getLogger(__name__)

NOT_FAILURES: Final = frozenset({Verdict.PASS, Verdict.INFRA_ERROR, Verdict.NOT_INSTALLABLE})


def findings_for(wheel_sets: Iterable[Sequence[BuiltWheel]]) -> list[Finding]:
    """The findings of each distinct wheel set of a run; a wheel that cannot be read is logged
    and skipped (explaining never fails a run)."""
    out: list[Finding] = []
    seen: set[tuple[str, ...]] = set()
    for wheels in wheel_sets:
        key = tuple(sorted(w.sha256 for w in wheels))
        if key in seen:
            continue
        seen.add(key)
        try:
            found = explain([(w.wheel_id, w.path) for w in wheels])
        except (HarnessError, OSError, ValueError) as exc:
            logger.warning("explain: could not read the wheels: %s", exc)
            continue
        out += [f for f in found if f not in out]
    return out


def failing(result: CellResult) -> bool:
    """A failure some mechanism could explain: not a dependency left out of the set."""
    missing = result.subkind == ImportErrorKind.MISSING_DEPENDENCY
    return result.verdict not in NOT_FAILURES and not missing


def _covers(finding: Finding, result: CellResult) -> bool:
    """Whether the finding's condition (an order, a wheel loaded RTLD_GLOBAL) holds in a cell."""
    if finding.before:
        if not all(w in result.order for w in finding.before):
            return False
        positions = [result.order.index(w) for w in finding.before]
        if positions != sorted(positions):
            return False
    if finding.rtld_global:
        cell = Cell(
            scenario="",
            target="",
            arch="",
            dlopen=result.dlopen,
            host="",
            order=result.order,
            repeat=1,
        )
        if finding.rtld_global not in cell.global_ids():
            return False
    return finding.wheel_id in result.order


def agreement(findings: Sequence[Finding], results: Sequence[CellResult]) -> list[dict[str, Any]]:
    """One row per predicting finding that some cell put to the test (did a cell where its
    condition holds fail?), and one for failures that no finding predicted."""
    rows: list[dict[str, Any]] = []
    explained: set[str] = set()
    for finding in (f for f in findings if f.mechanism):
        covered = [r for r in results if _covers(finding, r)]
        if not covered:
            continue  # no cell of this run put it to the test
        failed = [r for r in covered if failing(r)]
        explained |= {r.id for r in failed}
        verdicts = sorted({str(r.verdict) for r in failed})
        rows.append(
            {
                "mechanism": finding.mechanism,
                "predicted": True,
                "observed": bool(failed),
                "detail": (
                    f"{finding.predictor} on {finding.wheel_id}: {len(failed)} of {len(covered)} "
                    f"cells where it applies failed ({', '.join(verdicts) or 'none'})"
                ),
            }
        )
    unexplained = [r for r in results if failing(r) and r.id not in explained]
    if unexplained:
        verdicts = sorted({str(r.verdict) for r in unexplained})
        rows.append(
            {
                "mechanism": "",
                "predicted": False,
                "observed": True,
                "detail": (
                    f"{len(unexplained)} failing cells ({', '.join(verdicts)}) that no static "
                    f"predictor foresaw, e.g. {unexplained[0].id}"
                ),
            }
        )
    return rows


def document_keys(
    wheel_sets: Iterable[tuple[str, Sequence[BuiltWheel]]],
    results: Sequence[CellResult],
) -> dict[str, Any]:
    """results.json's `findings` and `agreement` (each scenario's findings against its own
    cells), from the wheel sets that ran, by scenario name."""
    by_scenario: dict[str, list[Sequence[BuiltWheel]]] = {}
    for scenario, wheels in wheel_sets:
        by_scenario.setdefault(scenario, []).append(wheels)
    findings: list[Finding] = []
    rows: list[dict[str, Any]] = []
    for scenario, sets in by_scenario.items():
        found = findings_for(sets)
        findings += [f for f in found if f not in findings]
        rows += agreement(found, [r for r in results if r.scenario == scenario])
    return {"findings": [f.to_json() for f in findings], "agreement": rows}


def summary_lines(path: Path) -> list[str]:
    """The static predictions of a written results.json against what ran, for the terminal."""
    document = json.loads(path.read_text(encoding="utf-8"))
    lines: list[str] = []
    for row in document.get("agreement", []):
        match (row["predicted"], row["observed"]):
            case (True, True):
                state = "predicted and observed"
            case (True, False):
                state = "predicted, not observed"
            case _:
                state = "observed, not predicted"
        mechanism = f"mechanism {row['mechanism']}" if row["mechanism"] else "no mechanism"
        lines.append(f"  {mechanism}: {state}: {row['detail']}")
    return ["static predictions (wheelclash explain):", *lines] if lines else []
