"""A results.json read for rendering: typed views of cells, provenance, findings, baseline.

Readers of results take every optional field as optional (see the data contracts): the
capture fields (artefacts, native_top, python_stack, flaky, duplicate_runtimes), the static
`findings` and `agreement`, the `baseline` comparison and each cell's `reproducer`. A results
file without them renders, with those parts left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.baseline import statuses
from harness.common.ids import CellId
from harness.common.verdicts import Verdict
from harness.errors import InputError
from harness.evidence.results import RESULTS_NAME


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _texts(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True, kw_only=True)
class CellView:
    id: str
    scenario: str
    target: str
    arch: str
    variant: str
    backend: str
    order: str
    mode: str
    repeat: int
    verdict: Verdict
    subkind: str
    expected: str
    matches: bool
    detail: str
    signal: str
    returncode: str
    last_step: str
    stderr: str
    stdout: str
    hang_stack: str
    libraries: tuple[str, ...]
    reproducer: str
    native_top: tuple[str, ...]
    python_stack: str
    artefacts: tuple[tuple[str, str], ...]
    duplicate_runtimes: tuple[str, ...]
    flaky: bool
    baseline: str

    @property
    def logical(self) -> str:
        return str(CellId.parse(self.id).logical)

    @property
    def table(self) -> str:
        """The matrix this cell belongs to: scenario on target (arch, variant)."""
        where = f"{self.target} ({self.arch}{', ' + self.variant if self.variant else ''})"
        return f"{self.scenario} on {where}"

    @property
    def verdict_text(self) -> str:
        return f"{self.verdict}:{self.subkind}" if self.subkind else str(self.verdict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], baseline: Mapping[str, str]) -> CellView:
        artefacts = data.get("artefacts")
        order = data.get("order")
        return cls(
            id=_text(data, "id"),
            scenario=_text(data, "scenario"),
            target=_text(data, "target"),
            arch=_text(data, "arch"),
            variant=_text(data, "variant"),
            backend=_text(data, "backend"),
            order=",".join(str(o) for o in order) if isinstance(order, list) else "",
            mode=f"{_text(data, 'dlopen')}/{_text(data, 'host')}",
            repeat=int(data.get("repeat") or 1),
            verdict=Verdict(data["verdict"]),
            subkind=_text(data, "subkind"),
            expected=_text(data, "expected"),
            matches=bool(data.get("matches_expectation", True)),
            detail=_text(data, "detail"),
            signal=_text(data, "signal"),
            returncode=_text(data, "returncode"),
            last_step=_text(data, "last_step"),
            stderr=_text(data, "stderr_tail"),
            stdout=_text(data, "stdout_tail"),
            hang_stack=_text(data, "hang_stack"),
            libraries=_texts(data, "libraries"),
            reproducer=_text(data, "reproducer"),
            native_top=_texts(data, "native_top"),
            python_stack=_text(data, "python_stack"),
            artefacts=tuple(
                (str(k), str(v))
                for k, v in (artefacts.items() if isinstance(artefacts, dict) else ())
            ),
            duplicate_runtimes=_texts(data, "duplicate_runtimes"),
            flaky=bool(data.get("flaky", False)),
            baseline=baseline.get(str(CellId.parse(_text(data, "id")).logical), ""),
        )


@dataclass(frozen=True, kw_only=True)
class Finding:
    wheel: str
    predictor: str
    mechanism: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class RunView:
    name: str
    provenance: Mapping[str, Any]
    cells: tuple[CellView, ...]
    findings: tuple[Finding, ...]
    agreement: tuple[Mapping[str, Any], ...]
    baseline: Mapping[str, Any]

    @property
    def unexpected(self) -> tuple[CellView, ...]:
        return tuple(c for c in self.cells if not c.matches)

    def image_for(self, cell: CellView) -> str:
        """The image (id and digest) the cell's target ran from, when the results say."""
        for facts in self.provenance.get("targets") or []:
            if facts.get("target") == cell.target and facts.get("arch") == cell.arch:
                parts = [str(facts.get("image_id") or ""), str(facts.get("image_digest") or "")]
                return " ".join(p for p in parts if p)
        return ""

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for cell in self.cells:
            found[str(cell.verdict)] = found.get(str(cell.verdict), 0) + 1
        return dict(sorted(found.items()))


def run_view(document: Mapping[str, Any], name: str = "") -> RunView:
    """The view of a results document; raises KeyError/ValueError on a malformed one."""
    by_status = statuses(document)
    findings = document.get("findings")
    agreement = document.get("agreement")
    baseline = document.get("baseline")
    provenance = document.get("provenance")
    return RunView(
        name=name,
        provenance=provenance if isinstance(provenance, Mapping) else {},
        cells=tuple(CellView.from_json(c, by_status) for c in document["cells"]),
        findings=tuple(
            Finding(
                wheel=_text(f, "wheel") or _text(f, "wheel_id"),
                predictor=_text(f, "predictor"),
                mechanism=_text(f, "mechanism"),
                detail=_text(f, "detail"),
            )
            for f in (findings if isinstance(findings, list) else [])
            if isinstance(f, Mapping)
        ),
        agreement=tuple(
            a for a in (agreement if isinstance(agreement, list) else []) if isinstance(a, Mapping)
        ),
        baseline=baseline if isinstance(baseline, Mapping) else {},
    )


def results_file(path: Path) -> Path:
    """The results.json at `path` (a run folder or the file itself), or an InputError."""
    found = path / RESULTS_NAME if path.is_dir() else path
    if not found.is_file():
        raise InputError(
            f"{path}: no results.json there; pass a run folder (results/<run-id>) or its "
            "results.json"
        )
    return found


def load_view(path: Path) -> tuple[Path, Mapping[str, Any], RunView]:
    """The results file, its raw document and its view; bad files are an InputError."""
    found = results_file(path)
    try:
        document = json.loads(found.read_text(encoding="utf-8"))
        view = run_view(document, name=found.parent.name)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{found}: not a wheelclash results.json ({type(exc).__name__}: {exc}); "
            "every cell needs at least an id and a verdict"
        ) from None
    return found, document, view
