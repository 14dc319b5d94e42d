"""Join the results.json of several shards (or machines) into one, refusing to mix runs.

Provenance must match: the same harness version, the same bytes for every wheel built from
the same recipe (its cache key), and the same facts (image id and digest, glibc, libstdc++,
Python) for every target and arch that more than one file ran on. A cell id may occur in
one file only. The merged cells are in plan order (each cell carries its plan position).
The static findings are kept once each and the agreement rows of every file as they are (a
prediction tested in two shards has a row from each, with that shard's counts). A failing
cell whose shard could not tell whether a wheel fails alone is attributed again from the
merged cells (harness/analysis/reattribute.py): another shard may hold that wheel's singleton.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.reattribute import group_wheels, reattribute, trial_runs
from harness.errors import InputError
from harness.evidence.results import SCHEMA_VERSION, CellResult, read_cells, read_document


@dataclass(frozen=True, kw_only=True)
class Merged:
    document: dict[str, Any]
    results: tuple[CellResult, ...]
    notes: tuple[str, ...]
    reattributed: int = 0  # failing cells attributed again from the merged cells


def read(path: Path) -> dict[str, Any]:
    """A results.json (or the run folder holding one) of this schema version."""
    return read_document(path)


def _same(
    what: str, seen: dict[str, tuple[Any, str]], key: str, value: Any, name: str, hint: str
) -> None:
    if key in seen and seen[key][0] != value:
        first, where = seen[key]
        raise InputError(
            f"cannot merge: {what} {key} differs between {where} ({first}) and {name} ({value}); "
            f"{hint}"
        )
    seen.setdefault(key, (value, name))


def merge(named: Sequence[tuple[str, Mapping[str, Any]]]) -> Merged:
    """One results document from several (each named by its file), or an InputError saying
    what does not match."""
    if len(named) < 2:
        raise InputError("give two or more results to merge")
    versions: dict[str, tuple[Any, str]] = {}
    wheels: dict[str, tuple[Any, str]] = {}
    targets: dict[str, tuple[Any, str]] = {}
    repeats: dict[str, tuple[Any, str]] = {}
    cell_from: dict[str, str] = {}
    cells: list[CellResult] = []
    backends: dict[str, Any] = {}
    compilers: dict[str, Any] = {}
    wheel_rows: dict[str, Any] = {}
    target_rows: dict[str, Any] = {}
    orders: dict[str, Any] = {}
    pools: list[dict[str, Any]] = []
    findings: dict[str, Any] = {}  # each shard's static findings, once each
    agreement: list[Any] = []  # each shard's rows, as they are (counts are the shard's)
    attributed: list[Mapping[str, Any]] = []
    reused: list[tuple[str, Mapping[str, Any]]] = []  # each shard's `reuse`, by file
    shards: list[str] = []
    planned = 0
    complete = True
    for name, document in named:
        results = read_cells(Path(name), document)
        provenance = document["provenance"]
        _same(
            "the harness version",
            versions,
            "",
            provenance["harness_version"],
            name,
            "run every shard with the same wheelclash",
        )
        for wheel in provenance["wheels"]:
            _same(
                f"the wheel {wheel['module']} ({wheel['toolchain']}, {wheel['link']}) with recipe",
                wheels,
                wheel["cache_key"][:16],
                wheel["sha256"],
                name,
                "build the wheels once and share ~/.cache/wheelclash between the shard jobs "
                "(docs/github-actions-shards.yml)",
            )
            wheel_rows.setdefault(wheel["sha256"], wheel)
        for facts in provenance["targets"]:
            key = f"{facts['target']}/{facts['arch']}"
            _same(
                "the target",
                targets,
                key,
                {k: v for k, v in facts.items() if k not in ("target", "arch")},
                name,
                "run the shards on the same images (pin them by digest) and, for the host "
                "target, on alike machines",
            )
            target_rows.setdefault(key, facts)
        backends.update(provenance["backends"])
        compilers.update(provenance["compilers"])
        run = document.get("run", {})
        if run.get("shard"):
            shards.append(run["shard"])
        _same(
            "the runs of each failing cell (repeat_failures)",
            repeats,
            "",
            int(run.get("repeat_failures", 1)),
            name,
            "run every shard with the same --repeat-failures",
        )
        planned += int(run.get("planned", len(results)))
        complete = complete and bool(run.get("complete", True))
        for entry in run.get("orders", []):
            orders.setdefault(entry["scenario"], entry)
        # Each shard's pools are its own environments: named by their shard, kept apart.
        where = run.get("shard") or name
        pools += [{**pool, "name": f"{where} {pool['name']}"} for pool in run.get("pools", [])]
        for finding in document.get("findings", []):
            findings.setdefault(json.dumps(finding, sort_keys=True), finding)
        agreement += document.get("agreement", [])
        if isinstance(document.get("attribution"), Mapping):
            attributed.append(document["attribution"])
        if isinstance(document.get("reuse"), Mapping):
            reused.append((name, document["reuse"]))
        for result in results:
            if result.id in cell_from:
                raise InputError(
                    f"cannot merge: cell {result.id} is in both {cell_from[result.id]} and "
                    f"{name}; merge each shard once, and shards of one run only"
                )
            cell_from[result.id] = name
            cells.append(result)
    notes = _shard_notes(shards, len(named))
    complete = complete and not any(n.startswith("missing") for n in notes)
    cells.sort(key=lambda r: (r.cell.index is None, r.cell.index or 0))
    trials = trial_runs(t for r in attributed for t in r.get("trials", []))
    again = reattribute(cells, group_wheels(wheel_rows.values(), cells), trials)
    reattributed = sum(a != c for a, c in zip(again, cells, strict=True))
    cells = list(again)
    counts: dict[str, int] = {}
    for result in cells:
        verdict = str(result.outcome.verdict)
        counts[verdict] = counts.get(verdict, 0) + 1
    first = named[0][1]["provenance"]
    document = {
        "schema_version": SCHEMA_VERSION,
        "provenance": {
            "harness_version": first["harness_version"],
            "started": min(d["provenance"]["started"] for _, d in named),
            "command": first["command"],
            "backends": backends,
            "compilers": compilers,
            "wheels": list(wheel_rows.values()),
            "targets": list(target_rows.values()),
        },
        "run": {
            "shard": None,
            "shards": sorted(shards, key=lambda s: int(s.split("/")[0])),
            "repeat_failures": repeats[""][0],
            "planned": planned,
            "complete": complete,
            "orders": list(orders.values()),
            **({"pools": pools} if pools else {}),
        },
        "summary": {
            "cells": len(cells),
            "unexpected": sum(not r.outcome.matches_expectation for r in cells),
            "verdicts": counts,
        },
        **({"findings": list(findings.values())} if findings else {}),
        **({"agreement": agreement} if agreement else {}),
        **({"attribution": _attribution(attributed)} if attributed else {}),
        **({"reuse": _reuse(reused)} if reused else {}),
        "cells": [r.to_json() for r in cells],
    }
    return Merged(document=document, results=tuple(cells), notes=notes, reattributed=reattributed)


def _attribution(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The shards' attribution records as one: budgets, runs, time and cells add up."""
    return {
        "budget": sum(int(r.get("budget", 0)) for r in records),
        "runs": sum(int(r.get("runs", 0)) for r in records),
        "wall_s": round(sum(float(r.get("wall_s", 0.0)) for r in records), 3),
        "exhausted": any(bool(r.get("exhausted")) for r in records),
        "cells": sum(int(r.get("cells", 0)) for r in records),
        "trials": [t for r in records for t in r.get("trials", [])],
    }


def _reuse(named: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The shards' incremental records as one: environments, groups and cells joined; the
    cell-affecting harness files must be the same."""
    seen: dict[str, tuple[Any, str]] = {}
    records = [record for _, record in named]
    for name, record in named:
        _same(
            "the cell-affecting harness files' sha256",
            seen,
            "",
            record.get("harness"),
            name,
            "run every shard with the same wheelclash",
        )
    sources = list(dict.fromkeys(str(r["from"]) for r in records if r.get("from")))
    return {
        "harness": records[0].get("harness"),
        "environments": {g: k for r in records for g, k in r.get("environments", {}).items()},
        "from": "; ".join(sources) or None,
        "why": "; ".join(dict.fromkeys(str(r.get("why", "")) for r in records)),
        "groups": sorted({g for r in records for g in r.get("groups", [])}),
        "cells": [c for r in records for c in r.get("cells", [])],
    }


def _shard_notes(shards: Sequence[str], files: int) -> tuple[str, ...]:
    """Which shards are missing or doubled, when the files name their shards."""
    if not shards:
        return ()
    if len(shards) != files:
        raise InputError("cannot merge sharded and unsharded results; merge one run's shards")
    counts = {int(s.split("/")[1]) for s in shards}
    if len(counts) != 1:
        raise InputError(
            f"cannot merge: the files come from different shard counts ({', '.join(shards)})"
        )
    count = counts.pop()
    indexes = [int(s.split("/")[0]) for s in shards]
    doubled = sorted({i for i in indexes if indexes.count(i) > 1})
    if doubled:
        raise InputError(f"cannot merge: shard {doubled[0]}/{count} is given twice")
    absent = sorted(set(range(1, count + 1)) - set(indexes))
    if absent:
        return (f"missing shards: {', '.join(f'{i}/{count}' for i in absent)}",)
    return ()
