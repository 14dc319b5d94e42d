"""Capture settings, cell folders, evidence from stored files, and flaky repeats."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.cells import capture_request
from harness.cells.jobs import CellJob
from harness.cells.outcome import Outcome
from harness.common.verdicts import Verdict
from harness.evidence import capture, flakes
from harness.evidence.classify import Classified
from harness.evidence.results import CellResult, Evidence
from harness.report import terminal as report
from harness.scenario.plan import Cell, Expected
from tests.unit.test_crashparse import FATAL, KERNEL_CORE_BT

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())


@pytest.mark.parametrize(
    ("cell_id", "prefix"),
    [
        ("call-once/host/global:a/plain/a,b#1", "call-once__host__global_a__plain__a,b__1-"),
        ("x/debian-bookworm-x86_64/local/plain/a=gcc-10+b=gcc-12/b,a#2", "x__debian-bookworm"),
        ("../../etc/passwd", "__..__etc__passwd-"),
    ],
)
def test_cell_folders_are_safe_and_distinct(cell_id: str, prefix: str) -> None:
    folder = capture_request.cell_folder(cell_id)
    assert folder.startswith(prefix.lstrip("._"))
    assert "/" not in folder and ":" not in folder and "#" not in folder
    assert not folder.startswith(".")
    assert capture_request.cell_folder(cell_id.replace(":", "_")) != folder or ":" not in cell_id


def test_the_supervisor_gets_the_folder_where_the_cell_runs(tmp_path: Path) -> None:
    settings = capture_request.CaptureSettings(run_dir=tmp_path, debug_bindings=True)
    spec = settings.spec_for("s/host/local/plain/a#1")
    job = CellJob(
        cell_id="s/host/local/plain/a#1",
        imports=(),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=10,
        capture=spec,
    )
    local = job.to_json()["capture"]
    assert local["dir"] == str(tmp_path / capture_request.cell_folder(job.cell_id))
    assert local["bindings"] is True and local["kernel_cores"] is True
    assert job.to_json("/wheelclash/capture")["capture"]["dir"] == (
        "/wheelclash/capture/" + capture_request.cell_folder(job.cell_id)
    )
    plain = CellJob(**{**vars(job), "capture": None})
    assert "capture" not in plain.to_json() and plain.budget_s == 15
    assert job.budget_s > plain.budget_s + 2 * job.timeout_s


def test_outcome_reads_the_capture_entry() -> None:
    report_line = {
        "id": "c",
        "signal": 11,
        "capture": {
            "artefacts": {"core": "core.gz", "backtrace": "backtrace.txt"},
            "notes": ["the re-run under gdb did not stop on a signal (a flaky crash?)"],
        },
    }
    outcome = Outcome.from_report(report_line)
    assert outcome.artefacts == (("backtrace", "backtrace.txt"), ("core", "core.gz"))
    assert outcome.capture_notes == (
        "the re-run under gdb did not stop on a signal (a flaky crash?)",
    )
    assert Outcome.from_report({"id": "c", "capture": "garbage"}).artefacts == ()


def test_evidence_from_a_cell_folder(tmp_path: Path) -> None:
    settings = capture_request.CaptureSettings(run_dir=tmp_path)
    spec = settings.spec_for("s/host/local/plain/s,b#1")
    spec.folder.mkdir()
    (spec.folder / "backtrace.txt").write_text(KERNEL_CORE_BT)
    (spec.folder / "stderr.txt").write_text(FATAL)
    (spec.folder / "core.gz").write_bytes(b"")
    outcome = Outcome(
        cell_id="s/host/local/plain/s,b#1",
        signal=11,
        stderr_tail="(tail)",
        artefacts=(("backtrace", "backtrace.txt"), ("core", "core.gz"), ("stderr", "stderr.txt")),
    )
    evidence = capture.gather(outcome, spec, tmp_path)
    folder = spec.folder.name
    assert evidence.artefacts == {
        "backtrace": f"{folder}/backtrace.txt",
        "core": f"{folder}/core.gz",
        "libraries": f"{folder}/libraries.txt",
        "python_stack": f"{folder}/python-stack.txt",
        "stderr": f"{folder}/stderr.txt",
    }
    assert evidence.native_top[0] == "#3 ?? (a jump to address 0) in ?"
    assert evidence.python_stack.startswith("Fatal Python error: Segmentation fault")
    libraries = (spec.folder / "libraries.txt").read_text().splitlines()
    assert libraries[1].endswith("wc_healthy_s.abi3.so")


def test_a_capture_that_left_no_files_keeps_its_note(tmp_path: Path) -> None:
    """A capture that failed (a full folder) or whose files could not be copied out has no
    artefacts; its note still reaches the evidence, else the loss is silent."""
    settings = capture_request.CaptureSettings(run_dir=tmp_path)
    spec = settings.spec_for("s/host/local/plain/s,b#1")
    note = "capture failed: OSError: [Errno 28] No space left on device"
    outcome = Outcome.from_report(
        {"id": "s/host/local/plain/s,b#1", "signal": 11, "capture": {"notes": [note]}}
    )
    evidence = capture.gather(outcome, spec, tmp_path)
    assert evidence.artefacts == {} and evidence.notes == (note,)
    assert not spec.folder.exists()


def test_a_pass_gets_its_duplicate_runtimes_without_any_capture() -> None:
    outcome = Outcome(
        cell_id="c",
        loaded_libraries=("/usr/lib/libgcc_s.so.1", "/usr/lib/llvm-14/lib/libunwind.so.1"),
    )
    evidence = capture.gather(outcome, None, None)
    assert evidence.duplicate_runtimes == (
        "two unwinders: /usr/lib/libgcc_s.so.1, /usr/lib/llvm-14/lib/libunwind.so.1",
    )
    assert evidence.artefacts == {}


def result(repeat: int, verdict: Verdict, expected: Verdict, **extra: Any) -> CellResult:
    cell = Cell(
        scenario="s", target="host", arch="x86_64", dlopen="local", host="plain",
        order=("a", "b"), repeat=repeat,
    )  # fmt: skip
    made = CellResult.make(
        cell,
        "local",
        Outcome(cell_id=cell.id, signal=11 if verdict == Verdict.SEGFAULT else None),
        Classified(verdict=verdict, detail="SIGSEGV during import b" if extra else ""),
        Expected(verdict=expected),
    )
    return replace(made, evidence=Evidence(**extra)) if extra else made


@pytest.mark.parametrize(
    ("verdicts", "expected", "flaky", "rate", "matches"),
    [
        (
            (Verdict.SEGFAULT, Verdict.SEGFAULT, Verdict.SEGFAULT),
            Verdict.SEGFAULT,
            False,
            0.0,
            True,
        ),
        ((Verdict.SEGFAULT, Verdict.PASS, Verdict.SEGFAULT), Verdict.SEGFAULT, True, 0.3333, False),
        ((Verdict.PASS, Verdict.HANG), Verdict.PASS, True, 0.5, False),
        ((Verdict.PASS,), Verdict.PASS, False, 0.0, True),
    ],
)
def test_flaky_repeats_are_marked_and_never_pass(
    verdicts: tuple[Verdict, ...], expected: Verdict, flaky: bool, rate: float, matches: bool
) -> None:
    results = [result(i + 1, v, expected) for i, v in enumerate(verdicts)]
    other = result(1, Verdict.PASS, Verdict.PASS)
    other = replace(other, cell=replace(other.cell, scenario="t"))
    assert other.id == "t/host/local/plain/a,b#1"
    annotated = flakes.annotate([*results, other])
    for cell in annotated[:-1]:
        assert cell.evidence.flaky is flaky and cell.evidence.flake_rate == rate
        assert sum(cell.evidence.verdict_counts.values()) == len(verdicts)
        assert all(c.outcome.matches_expectation is matches for c in annotated[:-1])
    assert annotated[-1].evidence.verdict_counts == {"pass": 1} and not annotated[-1].evidence.flaky
    if flaky:
        assert "flaky:" in annotated[0].outcome.detail
        assert "flaky(" in report.matrix(annotated)
        assert "1 flaky" in report.summary_line(annotated)


def test_evidence_round_trips_through_json_and_the_schema() -> None:
    cell = result(
        1,
        Verdict.SEGFAULT,
        Verdict.PASS,
        artefacts={"core": "c/core.gz", "backtrace": "c/backtrace.txt"},
        native_top=("#0 _FUN in wc_call_once_a.abi3.so",),
        python_stack="Fatal Python error: Segmentation fault",
        duplicate_runtimes=("two libstdc++: /a/libstdc++.so.6, /b/libstdc++.so.6",),
        bindings=("libstdc++.so.6 binds _ZSt11__once_call to wc_s.abi3.so (/v/wc_s.abi3.so)",),
    )
    (cell,) = flakes.annotate([cell])
    data = cell.to_json()
    schema = {**SCHEMA["$defs"]["cell"], "$defs": SCHEMA["$defs"]}
    jsonschema.validate(data, schema)
    assert CellResult.from_json(data) == cell
    # Evidence is optional, key by key; keys of a newer wheelclash are ignored.
    some = {k: v for k, v in data["evidence"].items() if k not in {"artefacts", "native_top"}}
    newer = {**data, "evidence": {**some, "from_the_future": 1}, "from_the_future": 1}
    assert CellResult.from_json(newer).evidence.artefacts == {}
    bare = {k: v for k, v in data.items() if k != "evidence"}
    assert CellResult.from_json(bare) == replace(cell, evidence=Evidence())
    # The id is made of the cell's fields: one that does not match them is refused.
    with pytest.raises(ValueError, match="its cell fields make the id"):
        CellResult.from_json({**data, "id": "s/host/local/plain/b,a#1"})
    block = report.failure_block(cell)
    assert "#0 _FUN in wc_call_once_a.abi3.so" in block
    assert "Python stack:" in block and "Fatal Python error" in block
    assert "duplicate runtime: two libstdc++" in block
    assert "binding: libstdc++.so.6 binds _ZSt11__once_call" in block
    assert "artefacts (backtrace, core) in c" in block
