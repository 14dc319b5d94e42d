"""Cell results and run provenance, streamed to disk as they come and written as results.json."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, Final, Self

from harness import __version__
from harness.build.wheels import BuiltWheel
from harness.cells.backends import TargetFacts
from harness.cells.outcome import Outcome
from harness.common.ids import Variant
from harness.common.verdicts import FailureKind, ImportErrorKind, Verdict
from harness.errors import InfrastructureError, InputError
from harness.evidence.classify import Classified
from harness.scenario.plan import Cell, Expected

SCHEMA_VERSION: Final = 3
STREAM_NAME: Final = "cells.jsonl"
RESULTS_NAME: Final = "results.json"


def _plain(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """`asdict`'s dict factory for JSON: tuples as lists, enums as their values."""
    return {key: _json_value(value) for key, value in items}


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _known(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `data` that are fields of `cls`: a newer file's extra keys are ignored."""
    return {f.name: data[f.name] for f in fields(cls) if f.name in data}


@dataclass(frozen=True, kw_only=True)
class PlannedCell(Cell):
    """The cell as it was set out to run: the plan's cell, the backend it ran on and what it
    was expected to give."""

    backend: str
    expected: str
    index: int | None = None  # its place in the whole run's plan (all shards), for merge
    emulated: bool = False  # ran under qemu-user (a foreign arch on this engine's machine)
    reproducer: str = ""  # one shell command that runs the cell without wheelclash

    @classmethod
    def of(
        cls, cell: Cell, *, backend: str, expected: str, reproducer: str = "", emulated: bool
    ) -> Self:
        planned = {f.name: getattr(cell, f.name) for f in fields(Cell)}
        return cls(
            **planned,
            backend=backend,
            expected=expected,
            reproducer=reproducer,
            emulated=emulated,
        )

    def as_cell(self) -> Cell:
        """The plan's cell alone, without where it ran and what it should give."""
        return Cell(**{f.name: getattr(self, f.name) for f in fields(Cell)})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            **{
                **_known(cls, data),
                "order": tuple(data["order"]),
                "use": tuple(data.get("use", ())),
                "variant": Variant.parse(str(data.get("variant", ""))),
            }
        )


@dataclass(frozen=True, kw_only=True)
class CellOutcome:
    """What came of the cell: its verdict against the expectation, and the probe process's
    exit, timing, last step and output tails."""

    verdict: Verdict
    subkind: ImportErrorKind | None
    detail: str
    matches_expectation: bool
    returncode: int | None
    signal: int | None
    duration_s: float
    last_step: str
    stderr_tail: str
    stdout_tail: str
    hang_stack: str = ""

    @classmethod
    def of(cls, outcome: Outcome, verdict: Classified, expected: Expected) -> Self:
        """The outcome of the process as judged by `verdict`, against `expected`."""
        return cls(
            verdict=verdict.verdict,
            subkind=verdict.subkind,
            detail=verdict.detail,
            matches_expectation=expected.matches(verdict.verdict, verdict.subkind),
            returncode=outcome.returncode,
            signal=outcome.signal,
            duration_s=outcome.duration_s,
            last_step=outcome.last_step,
            stderr_tail=outcome.stderr_tail,
            stdout_tail=outcome.stdout_tail,
            hang_stack=outcome.hang_stack,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        subkind = data.get("subkind")
        return cls(
            **{
                **_known(cls, data),
                "verdict": Verdict(data["verdict"]),
                "subkind": ImportErrorKind(subkind) if subkind is not None else None,
            }
        )


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """What a result says about its cell's failure (or, for a pass, its library map): crash
    evidence (evidence/capture.py) and the verdicts of the logical cell's repeats
    (evidence/flakes.py). Every field is optional in JSON."""

    libraries: tuple[str, ...] = ()  # the map at failure (gdb, /proc) or at the probe's end
    artefacts: Mapping[str, str] = field(default_factory=dict)  # name -> file in the run folder
    native_top: tuple[str, ...] = ()  # the crashing thread's innermost frames
    python_stack: str = ""
    duplicate_runtimes: tuple[str, ...] = ()
    bindings: tuple[str, ...] = ()  # LD_DEBUG=bindings findings (--debug-bindings)
    notes: tuple[str, ...] = ()  # what capture could not do, and why
    verdict_counts: Mapping[str, int] = field(default_factory=dict)  # over the repeats

    @property
    def flaky(self) -> bool:
        """The repeats of this logical cell (its id without #repeat) disagree."""
        return len(self.verdict_counts) > 1

    @property
    def flake_rate(self) -> float:
        """1 - the share of the most common verdict among the repeats."""
        total = sum(self.verdict_counts.values())
        return round(1 - max(self.verdict_counts.values()) / total, 4) if total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self, dict_factory=_plain),
            "flaky": self.flaky,
            "flake_rate": self.flake_rate,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        values = _known(cls, data)
        for name in ("libraries", "native_top", "duplicate_runtimes", "bindings", "notes"):
            values[name] = tuple(data.get(name, ()))
        values["artefacts"] = dict(data.get("artefacts", {}))
        values["verdict_counts"] = dict(data.get("verdict_counts", {}))
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class Attribution:
    """Whose failure a failing cell shows (harness/analysis/attribution.py): the smallest set
    of its wheels found to fail the same way (the same verdict at the same step), and so
    whether one wheel fails alone or the wheels fail together."""

    culprits: tuple[str, ...]  # wheel ids, in the cell's import order
    failure_kind: FailureKind
    step: str  # the step the failure is matched at: the outcome's last step, or "exit"
    notes: tuple[str, ...] = ()  # other wheels failing alone too, a budget that ran out

    def to_json(self) -> dict[str, Any]:
        return asdict(self, dict_factory=_plain)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            culprits=tuple(data["culprits"]),
            failure_kind=FailureKind(data["failure_kind"]),
            step=str(data.get("step", "")),
            notes=tuple(data.get("notes", ())),
        )


@dataclass(frozen=True, kw_only=True)
class CellResult:
    """One cell's result, in four parts: what was planned, what came of it, what it left,
    and (a failing cell, when the run has ended) which of its wheels it fails for."""

    cell: PlannedCell
    outcome: CellOutcome
    evidence: Evidence = field(default_factory=Evidence)
    attribution: Attribution | None = None

    @property
    def id(self) -> str:
        return self.cell.id

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
            cell=PlannedCell.of(
                cell,
                backend=backend,
                expected=str(expected),
                reproducer=reproducer,
                emulated=emulated,
            ),
            outcome=CellOutcome.of(outcome, verdict, expected),
            evidence=Evidence(libraries=outcome.loaded_libraries),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cell": {
                **asdict(self.cell, dict_factory=_plain),
                "variant": str(self.cell.variant),
            },
            "outcome": asdict(self.outcome, dict_factory=_plain),
            "evidence": self.evidence.to_json(),
            **({"attribution": self.attribution.to_json()} if self.attribution else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read a cell of this schema version; raises KeyError, TypeError or ValueError on a
        malformed one. Keys this version does not know are ignored."""
        result = cls(
            cell=PlannedCell.from_json(data["cell"]),
            outcome=CellOutcome.from_json(data["outcome"]),
            evidence=Evidence.from_json(data.get("evidence", {})),
            attribution=Attribution.from_json(data["attribution"])
            if data.get("attribution") is not None
            else None,
        )
        if "id" in data and data["id"] != result.id:
            raise ValueError(f"cell {data['id']!r}: its cell fields make the id {result.id!r}")
        return result


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
        f"could not write {path}: {exc.strerror or exc}; {consequence}.",
        context=f"The cells recorded before this are in {STREAM_NAME} beside it.",
        hint="free space there or pass --results DIR.",
    )


def results_file(path: Path) -> Path:
    """The results.json at `path`: a run folder (results/<run-id>) or the file itself."""
    return path / RESULTS_NAME if path.is_dir() else path


READ_HINT: Final = "pass a run folder (results/<run-id>) or the results.json in it"


def read_document(path: Path) -> dict[str, Any]:
    """A results.json (or the run folder holding it) of this schema version, or an InputError
    naming the file and what to do."""
    file = results_file(path)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{file}: no such file", hint=READ_HINT) from exc
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{file}: not a readable results.json", context=str(exc), hint=READ_HINT
        ) from exc
    if not isinstance(document, dict) or "schema_version" not in document:
        raise InputError(
            f"{file}: key 'schema_version': missing; not a wheelclash results.json",
            hint=READ_HINT,
        )
    if document["schema_version"] != SCHEMA_VERSION:
        raise InputError(
            f"{file}: results of schema_version {document['schema_version']!r}; this "
            f"wheelclash ({__version__}) reads schema_version {SCHEMA_VERSION} only",
            hint="re-run the scenarios with this wheelclash (`wheelclash run ...`)",
        )
    return document


def read_cells(file: Path, document: Mapping[str, Any]) -> tuple[CellResult, ...]:
    """The cells of a results document read by `read_document`, or an InputError."""
    cells = document.get("cells")
    if not isinstance(cells, list):
        raise InputError(
            f"{file}: key 'cells': missing or not a list; not a wheelclash results.json",
            hint=READ_HINT,
        )
    results = []
    for number, cell in enumerate(cells):
        try:
            results.append(CellResult.from_json(cell))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(
                f"{file}: key cells[{number}]: not a wheelclash cell",
                context=f"{type(exc).__name__}: {exc}",
                hint="each cell needs an id, its cell and its outcome "
                "(harness/resources/results.schema.json)",
            ) from exc
    return tuple(results)


def load_results(path: Path) -> tuple[dict[str, Any], tuple[CellResult, ...]]:
    """A results.json (or the folder holding it): its raw document and its cells."""
    document = read_document(path)
    return document, read_cells(results_file(path), document)
