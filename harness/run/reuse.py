"""Cells taken from a previous run instead of run again: incremental atlas editions.

Every environment (a cell group: one scenario on one target and arch, one venv or container)
gets a key: the sha256 of what its cells depend on. That is the sha256 of every wheel file
the group installs (the wheels' own, as results' provenance records them, and each file of
their wheelhouses, by name), the scenario's cell-affecting inputs (wheel ids, modules,
exercises, timeout, victims, expectations) and the harness's cell-affecting files (the
probe, the supervisor, the cell job and classification code: `cell_affecting` in
resources/atlas.toml). results.json records each group's key under `reuse.environments`.

A run given a previous results.json (an edition) takes, for each of its groups whose key
equals the previous run's key for the same group, that group's finished cells (their
extra runs and attribution too) and streams them into its own cells.jsonl before any cell
runs; the rest run. A new version of one wheel changes only the keys of the groups it is
in, so only its pairs run again. What was taken, and from where, is written to
`reused.json` in the run folder (so `--resume` keeps it) and to results.json's `reuse`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from harness import paths
from harness.build.wheels import BuiltWheel
from harness.common.digests import file_sha256
from harness.common.ids import CellId
from harness.errors import InputError
from harness.evidence.results import CellResult, load_results, results_file
from harness.run.state import CellIndex, Stream
from harness.scenario.load import Scenario
from harness.scenario.tomlload import read_toml

logger = logging.getLogger(__name__)

REUSE_KEY: Final = "reuse"  # results.json's top-level key
RECORD_NAME: Final = "reused.json"  # in the run folder
HARNESS_ROOT: Final = Path(__file__).resolve().parents[1]


@functools.cache
def harness_fingerprint() -> str:
    """The sha256 of the harness files that decide what a cell does and what it is judged."""
    listed = read_toml(paths.ATLAS_DEFAULTS).get("cell_affecting", [])
    digest = hashlib.sha256()
    for name in sorted(str(n) for n in listed):
        digest.update(name.encode() + b"\0" + (HARNESS_ROOT / name).read_bytes() + b"\0")
    return digest.hexdigest()


def installed_files(wheels: Sequence[BuiltWheel]) -> list[str]:
    """`<name> <sha256>` of each wheel file the group installs: its wheels, then every file
    of their wheelhouses, sorted."""
    found = {f"{w.path.name} {w.sha256}" for w in wheels}
    for house in {w.wheelhouse for w in wheels if w.wheelhouse}:
        folder = Path(house)
        if folder.is_dir():
            found |= {f"{p.name} {file_sha256(p)}" for p in folder.iterdir() if p.is_file()}
    return sorted(found)


def scenario_inputs(scenario: Scenario) -> str:
    """What of the scenario, besides the wheels' bytes, a cell's verdict depends on."""
    wheels = [
        {
            "id": w.id,
            "module": w.module,
            "modules": list(w.modules),
            "exercise": w.exercise,
            "threads": w.threads,
        }
        for w in scenario.wheels
    ]
    text = json.dumps(
        {
            "wheels": wheels,
            "exercise": scenario.exercise,
            "timeout_s": scenario.matrix.timeout_s,
            "victims": scenario.matrix.victims,
            "expect": [repr(e) for e in scenario.expectations],
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def environment_key(scenario: Scenario, wheels: Sequence[BuiltWheel]) -> str:
    """The key of a group: equal keys, equal cells (but for chance)."""
    text = "\n".join([harness_fingerprint(), scenario_inputs(scenario), *installed_files(wheels)])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Previous:
    """A previous run's results, and why it was chosen (told to the user)."""

    path: Path  # its results.json
    why: str  # "given with --previous" or "the latest edition of <target> in <folder>"


@dataclass(frozen=True, kw_only=True)
class Reused:
    """What a run took from a previous one: results.json's `reuse`."""

    environments: Mapping[str, str]  # group -> key, every group of this run
    source: str = ""  # the previous results.json, or '' when none was used
    why: str = ""
    groups: tuple[str, ...] = ()  # groups taken whole
    cells: tuple[str, ...] = ()  # cell ids taken
    harness: str = field(default_factory=harness_fingerprint)

    def to_json(self) -> dict[str, Any]:
        return {
            "harness": self.harness,
            "environments": dict(self.environments),
            "from": self.source or None,
            "why": self.why,
            "groups": list(self.groups),
            "cells": list(self.cells),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reused:
        return cls(
            environments=dict(data.get("environments", {})),
            source=str(data.get("from") or ""),
            why=str(data.get("why", "")),
            groups=tuple(data.get("groups", ())),
            cells=tuple(data.get("cells", ())),
            harness=str(data.get("harness", "")),
        )

    def write(self, run_dir: Path) -> None:
        (run_dir / RECORD_NAME).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def read(cls, run_dir: Path) -> Reused | None:
        path = run_dir / RECORD_NAME
        return cls.from_json(json.loads(path.read_text())) if path.is_file() else None

    def line(self) -> str:
        """One line for the terminal."""
        if not self.source:
            return f"no previous results used ({self.why}): every cell ran"
        return (
            f"reused {len(self.cells)} cells of {len(self.groups)} of {len(self.environments)} "
            f"environments from {self.source} ({self.why}); the others ran"
        )


def _targets_of(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {
        (str(c["cell"]["target"]), str(c["cell"]["arch"]))
        for c in document.get("cells", [])
        if isinstance(c, Mapping) and "cell" in c
    }


def latest_edition(
    editions: Path, target: str, arch: str, exclude: Iterable[Path] = ()
) -> Previous | None:
    """The newest edition (by its run's start, then name) under `editions` whose cells ran on
    `target` and `arch`, or None."""
    if not editions.is_dir():
        return None
    skipped = {p.resolve() for p in exclude}
    found: list[tuple[str, str, Path]] = []
    for folder in editions.iterdir():
        path = folder / "results.json"
        if not path.is_file() or path.resolve() in skipped:
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("%s: unreadable, not a previous edition", path)
            continue
        if _targets_of(document) == {(target, arch)}:
            started = str(document.get("provenance", {}).get("started", ""))
            found.append((started, folder.name, path))
    if not found:
        return None
    _, _, path = max(found)
    return Previous(path=path, why=f"the latest edition of {target} ({arch}) in {editions}")


def given(path: Path) -> Previous:
    """`--previous PATH`: an edition, a run folder or a results.json."""
    try:
        return Previous(path=results_file(path), why="given with --previous")
    except InputError as exc:
        raise InputError(f"--previous {path}: {exc.message}") from exc


def take(
    previous: Previous | None,
    keys: Mapping[str, str],
    planned: Sequence[str],
    index: CellIndex,
    run_dir: Path,
    position: Mapping[str, int],
) -> Reused:
    """Stream into the run folder the previous run's cells of every group whose key is
    unchanged (and that this run has not finished already), and record what was taken."""
    if previous is None:
        nothing = Reused(environments=keys, why="no previous edition of this target")
        nothing.write(run_dir)
        return nothing
    document, cells = load_results(previous.path)
    before = Reused.from_json(document.get(REUSE_KEY) or {})
    same = {
        group
        for group, key in keys.items()
        if before.environments.get(group) == key and before.harness == harness_fingerprint()
    }
    logical = {str(CellId.parse(c).logical): c for c in planned}
    taken: list[CellResult] = []
    for result in cells:
        first = logical.get(str(result.cell.cell_id.logical))
        if result.cell.group not in same or first is None or result.id in index:
            continue
        taken.append(replace(result, cell=replace(result.cell, index=position[first])))
    stream = Stream(run_dir, index)
    try:
        for result in taken:
            stream.add(result)
    finally:
        stream.close()
    reused = Reused(
        environments=keys,
        source=str(previous.path),
        why=previous.why,
        groups=tuple(sorted(same)),
        cells=tuple(r.id for r in taken),
    )
    reused.write(run_dir)
    logger.warning("%s", reused.line())
    return reused
