"""This run against an earlier one: which cells regressed, were fixed, or stayed the same.

Cells are matched by id without the `#repeat` suffix (the logical cell), and each side is
the set of verdicts over its repeats. Verdicts are ranked in three classes: pass, a refusal
(import-error, wrong-result, not-installable) and a crash (a signal, exit-crash, hang).
A logical cell *regressed* when its worst class rose, was *fixed* when it fell, *changed*
when the verdicts differ within the same class (segfault became abort), and is *unchanged*
when the verdict sets are equal. Cells only in this run are *new*, only in the baseline
*gone*; an infra-error on either side makes the cell *inconclusive*, never a regression.

A regression can be limited to failures of some kinds (`--baseline-kinds`, the failure kinds
of harness/analysis/attribution.py): a cell that would have regressed but whose failures in
this run are all of other kinds is *ignored*, not regressed (a wheel that fails alone, when
only cross-wheel failures are the change's concern).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, assert_never

from harness.common.ids import CellId
from harness.common.verdicts import FailureKind, Verdict
from harness.errors import InputError
from harness.evidence.results import READ_HINT, Attribution, load_results


class Status(StrEnum):
    REGRESSED = "regressed"
    FIXED = "fixed"
    CHANGED = "changed"
    IGNORED = "ignored"  # regressed, with failures only of kinds --baseline-kinds leaves out
    UNCHANGED = "unchanged"
    NEW = "new"
    GONE = "gone"
    INCONCLUSIVE = "inconclusive"


# The order statuses are listed in, most urgent first.
ORDER: Final = tuple(Status)


def verdict_class(verdict: Verdict) -> int | None:
    """0 pass, 1 a refusal, 2 a crash; None for infra-error (says nothing about the wheels)."""
    match verdict:
        case Verdict.PASS:
            return 0
        case Verdict.IMPORT_ERROR | Verdict.WRONG_RESULT | Verdict.NOT_INSTALLABLE:
            return 1
        case (
            Verdict.SEGFAULT
            | Verdict.ABORT
            | Verdict.BUS_ERROR
            | Verdict.ILLEGAL_INSTRUCTION
            | Verdict.FPE
            | Verdict.OTHER_SIGNAL
            | Verdict.HANG
            | Verdict.EXIT_CRASH
        ):
            return 2
        case Verdict.INFRA_ERROR:
            return None
        case _:
            assert_never(verdict)


@dataclass(frozen=True, kw_only=True)
class CellChange:
    cell: str
    status: Status
    before: tuple[Verdict, ...]
    after: tuple[Verdict, ...]
    kinds: tuple[FailureKind, ...] = ()  # the failure kinds of this run's failing repeats

    def to_json(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "status": str(self.status),
            "before": [str(v) for v in self.before],
            "after": [str(v) for v in self.after],
            **({"failure_kinds": [str(k) for k in self.kinds]} if self.kinds else {}),
        }


@dataclass(frozen=True, kw_only=True)
class Comparison:
    path: str
    changes: tuple[CellChange, ...]
    counted: tuple[FailureKind, ...] = ()  # the kinds a regression counts for; () all

    @property
    def regressions(self) -> tuple[CellChange, ...]:
        return tuple(c for c in self.changes if c.status == Status.REGRESSED)

    def counts(self) -> dict[str, int]:
        return {str(s): sum(c.status == s for c in self.changes) for s in ORDER}

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "counts": self.counts(),
            **({"kinds": [str(k) for k in self.counted]} if self.counted else {}),
            "cells": [c.to_json() for c in self.changes],
        }


def verdict_sets(cells: Iterable[tuple[CellId, Verdict]]) -> dict[str, frozenset[Verdict]]:
    """Each logical cell's verdicts over its repeats, keyed by its logical id."""
    found: dict[str, set[Verdict]] = {}
    for cell_id, verdict in cells:
        found.setdefault(str(cell_id.logical), set()).add(verdict)
    return {cell: frozenset(verdicts) for cell, verdicts in found.items()}


def failure_kinds(
    cells: Iterable[tuple[CellId, Attribution | None]],
) -> dict[str, frozenset[FailureKind]]:
    """Each logical cell's failure kinds over its failing repeats, keyed by its logical id."""
    found: dict[str, set[FailureKind]] = {}
    for cell_id, attribution in cells:
        if attribution is not None:
            found.setdefault(str(cell_id.logical), set()).add(attribution.failure_kind)
    return {cell: frozenset(kinds) for cell, kinds in found.items()}


def _status(before: frozenset[Verdict], after: frozenset[Verdict]) -> Status:
    if not before:
        return Status.NEW
    if not after:
        return Status.GONE
    classes_before = [verdict_class(v) for v in before]
    classes_after = [verdict_class(v) for v in after]
    if None in classes_before or None in classes_after:
        return Status.INCONCLUSIVE
    if before == after:
        return Status.UNCHANGED
    worst_before = max(c for c in classes_before if c is not None)
    worst_after = max(c for c in classes_after if c is not None)
    if worst_after > worst_before:
        return Status.REGRESSED
    if worst_after < worst_before:
        return Status.FIXED
    return Status.CHANGED


def _ranked(verdicts: frozenset[Verdict]) -> tuple[Verdict, ...]:
    return tuple(sorted(verdicts, key=str))


def compare(
    path: str,
    baseline: Mapping[str, frozenset[Verdict]],
    current: Mapping[str, frozenset[Verdict]],
    kinds: Mapping[str, frozenset[FailureKind]] | None = None,
    counted: Iterable[FailureKind] = (),
) -> Comparison:
    """Every logical cell of either run with its status; this run's order, then gone cells.
    `kinds` are this run's failure kinds by logical cell (`failure_kinds`); with `counted`,
    a regression whose failures are all of other kinds is ignored. A cell whose failures
    have no known kind still regresses."""
    kinds = kinds or {}
    chosen = tuple(k for k in FailureKind if k in set(counted))
    cells = list(current) + [c for c in baseline if c not in current]
    changes = []
    for cell in cells:
        status = _status(baseline.get(cell, frozenset()), current.get(cell, frozenset()))
        found = kinds.get(cell, frozenset())
        if status == Status.REGRESSED and chosen and found and not found & set(chosen):
            status = Status.IGNORED
        changes.append(
            CellChange(
                cell=cell,
                status=status,
                before=_ranked(baseline.get(cell, frozenset())),
                after=_ranked(current.get(cell, frozenset())),
                kinds=tuple(k for k in FailureKind if k in found),
            )
        )
    return Comparison(path=path, changes=tuple(changes), counted=chosen)


def load_baseline(path: Path) -> dict[str, frozenset[Verdict]]:
    """The verdicts of an earlier results.json (or the run folder holding it)."""
    try:
        _, results = load_results(path)
    except InputError as exc:
        earlier = (
            "pass the results.json of an earlier run (results/<run-id>/results.json) or its folder."
        )
        hint = earlier if exc.hint == READ_HINT else exc.hint
        raise InputError(f"--baseline {exc.message}", context=exc.context, hint=hint) from (
            exc.__cause__ or exc
        )
    return verdict_sets((r.cell.cell_id, r.outcome.verdict) for r in results)


def text(comparison: Comparison) -> str:
    """The terminal summary: counts, then each cell that did not stay the same."""
    counts = comparison.counts()
    parts = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    counted = ", ".join(comparison.counted)
    lines = [
        f"against baseline {comparison.path}: {parts or 'no cells'}"
        + (f" (regressions counted for {counted} failures only)" if counted else "")
    ]
    for change in comparison.changes:
        if change.status not in (Status.UNCHANGED,):
            before = "/".join(change.before) or "-"
            after = "/".join(change.after) or "-"
            kinds = f" ({', '.join(change.kinds)})" if change.kinds else ""
            lines.append(f"  {change.status:<12} {change.cell}: {before} -> {after}{kinds}")
    return "\n".join(lines)


def statuses(document: Mapping[str, Any]) -> dict[str, str]:
    """Logical cell id → status, from a results document's optional `baseline` key."""
    stored = document.get("baseline")
    if not isinstance(stored, Mapping):
        return {}
    return {
        str(c.get("cell")): str(c.get("status"))
        for c in stored.get("cells", [])
        if isinstance(c, Mapping)
    }


def store(results: Path, comparison: Comparison) -> None:
    """Add the comparison to a run's results.json as its `baseline` key (atomically)."""
    document = json.loads(results.read_text(encoding="utf-8"))
    document["baseline"] = comparison.to_json()
    partial = results.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(results)


def exit_code(run_code: int, comparison: Comparison | None) -> int:
    """With a baseline, 1 only for regressions; infrastructure failures (3) still show."""
    if comparison is None or run_code not in (0, 1):
        return run_code
    return 1 if comparison.regressions else 0
