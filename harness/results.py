"""Cell results and run provenance, streamed to disk as they come and written as results.json."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Self

from harness import __version__
from harness.backends import TargetFacts
from harness.outcome import Outcome
from harness.plan import Cell, Expected
from harness.verdict import Classified, Verdict
from harness.wheels import BuiltWheel

SCHEMA_VERSION: Final = 1
STREAM_NAME: Final = "cells.jsonl"
RESULTS_NAME: Final = "results.json"


@dataclass(frozen=True, kw_only=True)
class CellResult:
    id: str
    scenario: str
    target: str
    arch: str
    backend: str
    variant: str
    order: tuple[str, ...]
    dlopen: str
    host: str
    repeat: int
    verdict: Verdict
    subkind: str | None
    detail: str
    expected: str
    matches_expectation: bool
    returncode: int | None
    signal: int | None
    duration_s: float
    last_step: str
    stderr_tail: str
    stdout_tail: str
    hang_stack: str = ""
    libraries: tuple[str, ...] = ()
    emulated: bool = False  # ran under qemu-user (a foreign arch on this engine's machine)

    @classmethod
    def make(
        cls,
        cell: Cell,
        backend: str,
        outcome: Outcome,
        verdict: Classified,
        expected: Expected,
        *,
        emulated: bool = False,
    ) -> Self:
        return cls(
            id=cell.id,
            scenario=cell.scenario,
            target=cell.target,
            arch=cell.arch,
            backend=backend,
            variant=cell.variant,
            order=cell.order,
            dlopen=cell.dlopen,
            host=cell.host,
            repeat=cell.repeat,
            verdict=verdict.verdict,
            subkind=str(verdict.subkind) if verdict.subkind else None,
            detail=verdict.detail,
            expected=str(expected),
            matches_expectation=expected.matches(verdict.verdict, verdict.subkind),
            returncode=outcome.returncode,
            signal=outcome.signal,
            duration_s=outcome.duration_s,
            last_step=outcome.last_step,
            stderr_tail=outcome.stderr_tail,
            stdout_tail=outcome.stdout_tail,
            hang_stack=outcome.hang_stack,
            libraries=outcome.loaded_libraries,
            emulated=emulated,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["order"] = list(self.order)
        data["libraries"] = list(self.libraries)
        data["verdict"] = str(self.verdict)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            **{
                **data,
                "order": tuple(data["order"]),
                "libraries": tuple(data.get("libraries", ())),
                "verdict": Verdict(data["verdict"]),
            }
        )


@dataclass(frozen=True, kw_only=True)
class Provenance:
    harness_version: str = __version__
    started: str = ""
    command: tuple[str, ...] = ()
    backends: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    compilers: Mapping[str, str] = field(default_factory=dict)
    wheels: tuple[BuiltWheel, ...] = ()
    targets: tuple[TargetFacts, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "harness_version": self.harness_version,
            "started": self.started,
            "command": list(self.command),
            "backends": {name: dict(facts) for name, facts in self.backends.items()},
            "compilers": dict(self.compilers),
            "wheels": [w.to_json() for w in self.wheels],
            "targets": [asdict(t) for t in self.targets],
        }


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class ResultsWriter:
    """Appends each cell to cells.jsonl as it ends; `finish` writes the whole results.json."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self._stream: IO[str] = (run_dir / STREAM_NAME).open("a", encoding="utf-8")

    def add(self, result: CellResult) -> None:
        self._stream.write(json.dumps(result.to_json()) + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def finish(self, provenance: Provenance, results: Sequence[CellResult]) -> Path:
        self._stream.close()
        document = results_document(provenance, results)
        path = self.run_dir / RESULTS_NAME
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
        return path

    def close(self) -> None:
        self._stream.close()


def results_document(provenance: Provenance, results: Iterable[CellResult]) -> dict[str, Any]:
    cells = [r.to_json() for r in results]
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell["verdict"]] = counts.get(cell["verdict"], 0) + 1
    return {
        "schema_version": SCHEMA_VERSION,
        "provenance": provenance.to_json(),
        "summary": {
            "cells": len(cells),
            "unexpected": sum(not c["matches_expectation"] for c in cells),
            "verdicts": counts,
        },
        "cells": cells,
    }


def load_results(path: Path) -> tuple[dict[str, Any], tuple[CellResult, ...]]:
    """A results.json (or the folder holding it): its raw document and its cells."""
    if path.is_dir():
        path = path / RESULTS_NAME
    document = json.loads(path.read_text(encoding="utf-8"))
    return document, tuple(CellResult.from_json(c) for c in document["cells"])
