"""A run's folder on disk: what it set out to do (run.json), what it finished (cells.jsonl),
and the streamed results.json, so that a killed run can be resumed and memory stays flat.

cells.jsonl gets one line per cell as the cell ends (in the order cells end, which under
-j is not the plan's). results.json is written from it at the end in plan order, one cell
at a time: the controller keeps only an index (id → file offset, verdict) in memory.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any, Final, Self

from harness import __version__
from harness.cells.backends import TargetFacts
from harness.common.ids import CellId
from harness.errors import InputError
from harness.evidence import flakes
from harness.evidence.results import (
    RESULTS_NAME,
    SCHEMA_VERSION,
    STREAM_NAME,
    CellResult,
    Provenance,
    unwritable,
)
from harness.scenario.tomlload import Checker

logger = logging.getLogger(__name__)

MANIFEST_NAME: Final = "run.json"
FACTS_NAME: Final = "targets.jsonl"


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """What a run was asked to do, written before its first cell: `--resume` repeats it."""

    scenarios: tuple[str, ...]
    backend: str
    targets: tuple[str, ...] | None
    select: tuple[str, ...]
    cover: int | None
    shard: str | None
    started: str
    command: tuple[str, ...]
    planned: int = 0
    wheels: tuple[str, ...] = ()
    repeat_failures: int = 1  # runs in all of each failing logical cell
    harness_version: str = __version__
    schema_version: int = SCHEMA_VERSION  # of the results its cells.jsonl holds

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, run_dir: Path) -> Self:
        path = run_dir / MANIFEST_NAME
        if not path.is_file():
            raise InputError(
                f"--resume {run_dir}: no {MANIFEST_NAME} there; give the folder of a run "
                "started by this wheelclash version (results/<run-id>)"
            )
        check = Checker(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            check.add("", f"is not readable JSON ({exc})")
            data = {}
        if not isinstance(data, dict):
            check.add("", f"must hold a JSON object (holds a {type(data).__name__})")
            data = {}
        check.unknown_keys(data, {f.name for f in fields(cls)}, "")
        for name in ("scenarios", "select", "command", "wheels"):
            if not isinstance(data.get(name, []), list):
                check.add(name, "must be a list of strings")
        # A run.json from before the schema was recorded has cells of schema_version 1.
        version = data.get("schema_version", 1)
        if not check.problems and version != SCHEMA_VERSION:
            raise InputError(
                f"--resume {run_dir}: {path} is a run whose cells ({STREAM_NAME}) are of results "
                f"schema_version {version!r}; this wheelclash ({__version__}) writes "
                f"schema_version {SCHEMA_VERSION} and cannot add to them: start a new run"
            )
        targets = data.get("targets")
        if targets is not None and not isinstance(targets, list):
            check.add("targets", "must be a list of strings or null")
        cover = data.get("cover")
        if cover is not None and (isinstance(cover, bool) or not isinstance(cover, int)):
            check.add("cover", "must be a whole number or null")
        shard = data.get("shard")
        if shard is not None and not isinstance(shard, str):
            check.add("shard", "must be a string like 1/4, or null")
        manifest = cls(
            scenarios=check.strings(data, "scenarios", "scenarios"),
            backend=check.string(data, "backend", "backend"),
            targets=check.strings(data, "targets", "targets") if targets is not None else None,
            select=check.strings(data, "select", "select"),
            cover=cover,
            shard=shard,
            started=check.string(data, "started", "started"),
            command=check.strings(data, "command", "command"),
            planned=check.integer(data, "planned", "planned", 0, 0),
            wheels=check.strings(data, "wheels", "wheels"),
            repeat_failures=check.integer(data, "repeat_failures", "repeat_failures", 1, 1),
            harness_version=check.string(data, "harness_version", "harness_version"),
            schema_version=SCHEMA_VERSION,
        )
        if check.problems:
            problems = "\n".join(f"  - {problem}" for problem in check.problems)
            raise InputError(
                f"--resume {run_dir}: {MANIFEST_NAME} is damaged, so the run cannot be "
                f"resumed:\n{problems}\n  Start a new run of the same scenarios (without "
                "--resume); the cells this one finished stay in its cells.jsonl."
            )
        return manifest

    def write(self, run_dir: Path) -> None:
        partial = run_dir / (MANIFEST_NAME + ".partial")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
            partial.replace(run_dir / MANIFEST_NAME)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise unwritable(run_dir / MANIFEST_NAME, exc, "no cell was run") from exc

    def check_resumable(self, run_dir: Path, wheels: Sequence[str]) -> None:
        """Refuse to mix cells of another harness version or other wheel bytes."""
        if self.harness_version != __version__:
            raise InputError(
                f"--resume {run_dir}: that run used wheelclash {self.harness_version}, this is "
                f"{__version__}; start a new run"
            )
        if sorted(self.wheels) != sorted(wheels):
            raise InputError(
                f"--resume {run_dir}: the wheels are not the ones that run used (their sha256 "
                "differ: a fixture, toolchain or builder changed); start a new run"
            )


@dataclass(frozen=True, kw_only=True)
class Entry:
    """Where a finished cell's line is in cells.jsonl, and what a summary needs of it."""

    offset: int
    verdict: str
    matches: bool


@dataclass(kw_only=True)
class CellIndex:
    """The finished cells of a run folder, by id (the last line wins)."""

    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def scan(cls, run_dir: Path) -> Self:
        """Index cells.jsonl, cutting off a last line that a kill left half-written."""
        index = cls()
        path = run_dir / STREAM_NAME
        if not path.is_file():
            return index
        good_end = 0
        with path.open("rb") as handle:
            while True:
                offset = handle.tell()
                line = handle.readline()
                if not line:
                    break
                try:
                    data = json.loads(line)
                except ValueError:
                    logger.warning("%s: dropping a half-written line at byte %d", path, offset)
                    break
                if not line.endswith(b"\n"):
                    break
                index.add(offset, data)
                good_end = handle.tell()
        if good_end != path.stat().st_size:
            with path.open("r+b") as handle:
                handle.truncate(good_end)
        return index

    def add(self, offset: int, data: Mapping[str, Any]) -> None:
        """Index one line of cells.jsonl (a `CellResult.to_json`)."""
        outcome = data["outcome"]
        self.entries[str(data["id"])] = Entry(
            offset=offset,
            verdict=str(outcome["verdict"]),
            matches=bool(outcome["matches_expectation"]),
        )

    def __contains__(self, cell_id: str) -> bool:
        return cell_id in self.entries


class Stream:
    """Appends each finished cell to cells.jsonl and indexes it. A line is on disk whole when
    `add` returns, or not at all: a full disk never leaves a torn last line."""

    def __init__(self, run_dir: Path, index: CellIndex) -> None:
        self.run_dir = run_dir
        self.index = index
        try:
            self._handle: IO[bytes] = (run_dir / STREAM_NAME).open("ab", buffering=0)
        except OSError as exc:
            raise unwritable(run_dir / STREAM_NAME, exc, "no cell was run") from exc

    def add(self, result: CellResult) -> None:
        data = result.to_json()
        line = json.dumps(data).encode() + b"\n"
        fd = self._handle.fileno()
        offset = os.fstat(fd).st_size
        try:
            while line:
                line = line[os.write(fd, line) :]
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, offset)
            except OSError:
                pass
            raise unwritable(
                self.run_dir / STREAM_NAME, exc, f"the run stopped at {result.id}"
            ) from exc
        self.index.add(offset, data)

    def close(self) -> None:
        self._handle.close()


def record_facts(run_dir: Path, facts: TargetFacts) -> None:
    path = run_dir / FACTS_NAME
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(facts)) + "\n")
    except OSError as exc:
        raise unwritable(path, exc, "the run stopped") from exc


def read_facts(run_dir: Path) -> tuple[TargetFacts, ...]:
    path = run_dir / FACTS_NAME
    if not path.is_file():
        return ()
    seen: dict[str, TargetFacts] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            facts = TargetFacts(**json.loads(line))
        except (ValueError, TypeError):
            continue
        seen.setdefault(f"{facts.target}/{facts.arch}", facts)
    return tuple(seen.values())


def iter_cells(run_dir: Path, index: CellIndex, order: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The finished cells' JSON in the given order (ids not finished are skipped)."""
    with (run_dir / STREAM_NAME).open("rb") as handle:
        for cell_id in order:
            entry = index.entries.get(cell_id)
            if entry is None:
                continue
            handle.seek(entry.offset)
            yield json.loads(handle.readline())


def write_results(
    run_dir: Path,
    provenance: Provenance,
    index: CellIndex,
    order: Sequence[str],
    run: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    amended: Mapping[str, CellResult] | None = None,
) -> Path:
    """results.json in plan order, written cell by cell from cells.jsonl; `extra` adds
    top-level keys (the static findings and their agreement with the cells); `amended`
    holds cells as the finish step completed them (attributed, judged again), by id, in
    the place of their line in cells.jsonl."""
    amended = amended or {}
    done = [cell_id for cell_id in order if cell_id in index]
    counts: dict[str, int] = {}
    for cell_id in done:
        verdict = index.entries[cell_id].verdict
        counts[verdict] = counts.get(verdict, 0) + 1
    repeats = flakes.distributions((c, index.entries[c].verdict) for c in done)

    def matches(cell_id: str) -> bool:
        if cell_id in amended:
            return amended[cell_id].outcome.matches_expectation
        return index.entries[cell_id].matches

    summary = {
        "cells": len(done),
        "unexpected": sum(
            not matches(c) or len(repeats[str(CellId.parse(c).logical)]) > 1 for c in done
        ),
        "verdicts": counts,
    }
    path = run_dir / RESULTS_NAME
    partial = path.with_suffix(".json.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            out.write(f'{{\n  "schema_version": {SCHEMA_VERSION},\n')
            out.write(f'  "provenance": {json.dumps(provenance.to_json())},\n')
            out.write(f'  "run": {json.dumps(dict(run))},\n')
            out.write(f'  "summary": {json.dumps(summary)},\n')
            for key, value in (extra or {}).items():
                out.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
            out.write('  "cells": [')
            for position, cell in enumerate(annotated(run_dir, index, done, repeats, amended)):
                out.write(("\n    " if position == 0 else ",\n    ") + json.dumps(cell.to_json()))
            out.write("\n  ]\n}\n")
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise unwritable(path, exc, "results.json is not written") from exc
    return path


def slim(result: CellResult) -> CellResult:
    """A result without its process tails, for the terminal report of a passing cell."""
    if not result.outcome.matches_expectation:
        return result
    return replace(
        result,
        outcome=replace(result.outcome, stderr_tail="", stdout_tail="", hang_stack=""),
        evidence=replace(result.evidence, libraries=()),
    )


def annotated(
    run_dir: Path,
    index: CellIndex,
    order: Iterable[str],
    repeats: Mapping[str, Counter[str]] | None = None,
    amended: Mapping[str, CellResult] | None = None,
) -> Iterator[CellResult]:
    """The finished cells in order (an amended one in the place of its line), each with its
    logical cell's repeats (harness/evidence/flakes.py)."""
    if repeats is None:
        repeats = flakes.distributions((c, e.verdict) for c, e in index.entries.items())
    amended = amended or {}
    for cell in iter_cells(run_dir, index, order):
        result = amended.get(str(cell["id"])) or CellResult.from_json(cell)
        yield flakes.annotate_one(result, repeats[str(CellId.parse(result.id).logical)])


def slim_results(
    run_dir: Path,
    index: CellIndex,
    order: Sequence[str],
    amended: Mapping[str, CellResult] | None = None,
) -> tuple[CellResult, ...]:
    """The finished cells in order, holding tails only where a verdict was unexpected."""
    return tuple(slim(result) for result in annotated(run_dir, index, order, None, amended))
