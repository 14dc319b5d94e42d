"""Attribution again, without runs, from results joined later: a shard that did not hold a
wheel's singleton scenario ran it for real within its budget, and when that ran out its
failing cells were left with `not known whether <wheel> fails alone` and the pair as their
culprits. Once the shards are merged (harness/analysis/merge.py), or when an atlas edition
is written from results merged before this existed (harness/report/atlas_write.py), the
merged cells answer: each group's own cells, the singleton scenarios' cells borrowed for
every group holding the same wheel file (harness/analysis/borrowed.py), and the attribution
runs every shard made (results.json's `attribution.trials`).

Every failing cell is attributed again (rules 1-4 of harness/analysis/attribution.py, by
its logical cell's most common failure over all its runs, a set still unknown keeping its
shard's reason), so that merged shards credit a cell as one run would: a shard whose own run
of a wheel alone passed once, while another shard's singleton cells of the same wheel file
failed the same way, credited the pair, and one run, which looks the singleton up first,
credits the wheel. A cell keeps its attribution when the new one would know less (a wheel
its shard knew about is not known from the merged cells: a document written before the
trials were recorded). Its expectation
is judged again with the new failure kind from its scenario's rules when they are given
(`rules`, by scenario name: `atlas edition` gives the corpus's). results.json does not hold
the rules, so a merge cannot: the cell keeps the expectation its shard judged, and when its
failure kind changed a note (UNJUDGED) says so, until its expectation is judged with rules
(`atlas edition` then drops the note). Only a rule on `when.failure_kind` could judge it
differently; the atlas's scenarios have none (they expect a pass in every cell).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from harness.analysis.attribution import (
    Goal,
    NotObserved,
    Signature,
    attribute_run,
    goals,
    judged,
    known_runs,
    not_known,
    signature,
)
from harness.analysis.borrowed import singletons
from harness.common.ids import LogicalId
from harness.common.verdicts import FAILURES, ImportErrorKind, Verdict
from harness.evidence.results import Attribution, CellResult
from harness.scenario.load import Expectation

UNJUDGED: Final = (
    "attributed again when the shards were merged; its expectation is the one its shard "
    "judged for the failure kind it had then (the merged results hold no expectation rules)"
)


@dataclass(frozen=True)
class WheelRow:
    """A wheel file a group installs, as results.json's provenance names it."""

    wheel_id: str
    sha256: str


def group_wheels(
    rows: Iterable[Mapping[str, Any]], results: Sequence[CellResult]
) -> dict[str, tuple[WheelRow, ...]]:
    """Each group's wheel files: the wheels its cells import, each with the one sha256 the
    provenance's wheel rows give its id. A group with a wheel whose id has several files (its
    builds for other arches, toolchains or links) is left out: which one it installed is not
    recorded, so nothing is borrowed for it or from it."""
    files: dict[str, set[str]] = {}
    for row in rows:
        files.setdefault(str(row["wheel_id"]), set()).add(str(row["sha256"]))
    imported: dict[str, dict[str, None]] = {}
    for result in results:
        ids = imported.setdefault(result.cell.group, {})
        ids.update(dict.fromkeys(result.cell.order))
    found: dict[str, tuple[WheelRow, ...]] = {}
    for group, ids in imported.items():
        if all(len(files.get(wheel_id, ())) == 1 for wheel_id in ids):
            found[group] = tuple(WheelRow(w, next(iter(files[w]))) for w in ids)
    return found


def trial_runs(trials: Iterable[Mapping[str, Any]]) -> dict[str, frozenset[Signature]]:
    """What the recorded attribution runs (`attribution.trials`) showed, by logical cell."""
    found: dict[str, set[Signature]] = {}
    for trial in trials:
        subkind = trial.get("subkind")
        shown = signature(
            Verdict(trial["verdict"]),
            ImportErrorKind(subkind) if subkind else None,
            str(trial.get("step", "")),
        )
        found.setdefault(str(trial["cell"]), set()).add(shown)
    return {cell: frozenset(signatures) for cell, signatures in found.items()}


def reattribute(
    results: Sequence[CellResult],
    wheels: Mapping[str, Sequence[WheelRow]],
    trials: Mapping[str, frozenset[Signature]] | None = None,
    rules: Mapping[str, Sequence[Expectation]] | None = None,
) -> tuple[CellResult, ...]:
    """`results` with each failing cell attributed again from the results themselves and
    `trials` (see above), and the expectation of each cell a merge attributed again without
    its rules judged with `rules` when they hold its scenario; in the same order."""
    known = {cell: set(signatures) for cell, signatures in (trials or {}).items()}
    for cell, signatures in known_runs([*results, *singletons(results, wheels)]).items():
        known.setdefault(cell, set()).update(signatures)
    seen = {cell: frozenset(signatures) for cell, signatures in known.items()}
    wanted = goals(results)
    made: dict[str, Attribution] = {}
    return tuple(_again(result, seen, wanted, made, rules or {}) for result in results)


def _again(
    result: CellResult,
    known: Mapping[str, frozenset[Signature]],
    wanted: Mapping[str, Goal],
    made: dict[str, Attribution],
    rules: Mapping[str, Sequence[Expectation]],
) -> CellResult:
    if result.outcome.verdict not in FAILURES:
        return result
    old = result.attribution
    expectations = rules.get(result.cell.scenario)
    unjudged = old is not None and UNJUDGED in old.notes
    if old is not None and unjudged and expectations is not None:
        old = replace(old, notes=tuple(n for n in old.notes if n != UNJUDGED))
        result, unjudged = judged(result, old, expectations), False
    unknown, why = not_known(old) if old is not None else ((), "")
    logical = result.cell.cell_id.logical
    if str(logical) not in made:

        def observe(cell: LogicalId) -> frozenset[Signature]:
            seen = known.get(str(cell))
            if seen is None:
                raise NotObserved(why or f"{cell.tail} is not among the merged cells")
            return seen

        made[str(logical)] = attribute_run(result, wanted, observe)
    new = made[str(logical)]
    if new == result.attribution:
        return result
    if old is not None and not set(not_known(new)[0]) <= set(unknown):
        return result  # the merged cells know less than its shard did
    if expectations is not None:
        return judged(result, new, expectations)
    if unjudged or old is None or new.failure_kind != old.failure_kind:
        new = replace(new, notes=(*new.notes, UNJUDGED))
    return replace(result, attribution=new)


def reattribute_document(
    document: Mapping[str, Any],
    results: Sequence[CellResult],
    rules: Mapping[str, Sequence[Expectation]] | None = None,
) -> tuple[dict[str, Any], tuple[CellResult, ...], int]:
    """A results document (and its cells) attributed again from its own cells and trials,
    its expectations judged with `rules` where given, and how many cells changed. The cells
    that did not change keep their JSON as it was; the summary's count of unexpected cells
    is counted again."""
    provenance = document.get("provenance", {})
    record = document.get("attribution")
    trials = trial_runs(record.get("trials", [])) if isinstance(record, Mapping) else {}
    wheels = group_wheels(provenance.get("wheels", []), results)
    again = reattribute(results, wheels, trials, rules)
    by_id = {r.id: r for r in again}
    changed = {r.id for r in results if by_id[r.id] != r}
    if not changed:
        return dict(document), tuple(results), 0
    cells = [
        by_id[cell["id"]].to_json() if cell.get("id") in changed else cell
        for cell in document.get("cells", [])
    ]
    summary = dict(document.get("summary", {}))
    summary["unexpected"] = sum(not r.outcome.matches_expectation for r in again)
    return {**document, "summary": summary, "cells": cells}, again, len(changed)
