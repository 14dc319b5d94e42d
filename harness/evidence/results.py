"""Cell results and run provenance, streamed to disk as they come and written as results.json."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Self

from harness import __version__
from harness.build.wheels import BuiltWheel
from harness.cells.backends import TargetFacts
from harness.cells.outcome import Outcome
from harness.common.verdicts import Verdict
from harness.errors import InfrastructureError
from harness.evidence.classify import Classified
from harness.scenario.plan import Cell, Expected

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
    index: int | None = None
    # Crash evidence (harness/evidence/capture.py) and repeats (harness/evidence/flakes.py); optional in JSON.
    artefacts: Mapping[str, str] = field(default_factory=dict)
    native_top: tuple[str, ...] = ()
    python_stack: str = ""
    duplicate_runtimes: tuple[str, ...] = ()
    bindings: tuple[str, ...] = ()
    capture_notes: tuple[str, ...] = ()
    flaky: bool = False
    verdict_counts: Mapping[str, int] = field(default_factory=dict)
    flake_rate: float = 0.0
    reproducer: str = ""
    use: tuple[str, ...] = ()  # the first-use order, when it is not the import order
    emulated: bool = False  # ran under qemu-user (a foreign arch on this engine's machine)

    @classmethod
    def make(
        cls,
        cell: Cell,
        backend: str,
        outcome: Outcome,
        verdict: Classified,
        expected: Expected,
        reproducer: str = "",
        *,
        emulated: bool = False,
    ) -> Self:
        return cls(
            id=cell.id,
            scenario=cell.scenario,
            target=cell.target,
            arch=cell.arch,
            backend=backend,
            variant=str(cell.variant),
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
            reproducer=reproducer,
            use=cell.use,
            emulated=emulated,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _TUPLES:
            data[name] = list(getattr(self, name))
        data["artefacts"] = dict(self.artefacts)
        data["verdict_counts"] = dict(self.verdict_counts)
        data["verdict"] = str(self.verdict)
        if self.use:
            data["use"] = list(self.use)
        else:
            del data["use"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read a cell; fields this version does not know are ignored, new ones optional."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in _TUPLES:
            values[name] = tuple(data.get(name, ()))
        values["artefacts"] = dict(data.get("artefacts", {}))
        values["verdict_counts"] = dict(data.get("verdict_counts", {}))
        values["verdict"] = Verdict(data["verdict"])
        return cls(**values)


_TUPLES: Final = (
    "order",
    "libraries",
    "native_top",
    "duplicate_runtimes",
    "bindings",
    "capture_notes",
    "use",
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


def unwritable(path: Path, exc: OSError, consequence: str) -> InfrastructureError:
    """The run cannot record its results: an infrastructure failure, never a verdict."""
    return InfrastructureError(
        f"could not write {path}: {exc.strerror or exc}; {consequence}.\n"
        "  Free space there or pass --results DIR; the cells recorded before this are in "
        f"{STREAM_NAME} beside it."
    )


def load_results(path: Path) -> tuple[dict[str, Any], tuple[CellResult, ...]]:
    """A results.json (or the folder holding it): its raw document and its cells."""
    if path.is_dir():
        path = path / RESULTS_NAME
    document = json.loads(path.read_text(encoding="utf-8"))
    return document, tuple(CellResult.from_json(c) for c in document["cells"])
