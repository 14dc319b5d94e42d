"""Crash evidence from real crashes and hangs on this machine (the local backend)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.build.toolchains import load_catalogue
from harness.cells.backends.local import LocalBackend
from harness.cells.capture_request import CaptureSettings
from harness.cli import main
from harness.common.ids import CellId
from harness.evidence.results import CellResult
from harness.run.runner import run_group, wheels_for
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan
from tests.integration.conftest import REPO, SCENARIOS, cells_in

HOSTILE = REPO / "tests" / "data" / "hostile"
SELECT = ("call-once/*/global:a/plain/*", "first-loader-hijack/*/plain/*")


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def core_bytes(run_dir: Path, cell: CellResult) -> bytes:
    with gzip.open(run_dir / cell.evidence.artefacts["core"]) as core:
        return core.read()


def assert_is_a_core_file(data: bytes) -> None:
    assert data[:4] == b"\x7fELF"
    assert int.from_bytes(data[16:18], "little") == 4  # e_type ET_CORE


def gdb_backtrace(python: Path, core: Path) -> str:
    """Re-make a backtrace later, from the stored core and the same binaries."""
    done = subprocess.run(
        ["gdb", "-batch", "-nx", "-ex", "bt", str(python), str(core)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout


def venv_python(libraries: Sequence[str]) -> Path:
    module = next(p for p in libraries if "/site-packages/" in p)
    return Path(module.split("/lib/python", 1)[0]) / "bin" / "python"


def check_crash_evidence(run_dir: Path, document: dict[str, Any]) -> dict[str, CellResult]:
    """Every failing cell has its files; passing cells have none. Returns the failing ones."""
    failing = {}
    for cell in cells_in(document):
        evidence = cell.evidence
        if cell.outcome.verdict == "pass":
            assert evidence.artefacts == {} and evidence.native_top == ()
            continue
        assert cell.outcome.verdict == "segfault", cell.id
        failing[cell.id] = cell
        assert {"core", "backtrace", "python_stack", "libraries", "stderr"} <= set(
            evidence.artefacts
        ), evidence.artefacts
        for path in evidence.artefacts.values():
            assert (run_dir / path).is_file() and not path.startswith("/")
        assert_is_a_core_file(core_bytes(run_dir, cell))
        summary = json.loads((run_dir / evidence.artefacts["summary"]).read_text())
        assert "frames" in summary["core_check"], summary
        stack = evidence.python_stack
        assert stack.startswith("Fatal Python error: Segmentation fault")
        assert "import_module" in stack or "run_exercise" in stack
        libraries = (run_dir / evidence.artefacts["libraries"]).read_text().splitlines()
        assert any(p.endswith("wc_call_once_b.abi3.so") for p in libraries)
        assert any("/libstdc++.so.6" in p for p in libraries)
        backtrace = (run_dir / evidence.artefacts["backtrace"]).read_text()
        assert "@@wheelclash all-threads" in backtrace and "Thread 1 " in backtrace
        top = "\n".join(evidence.native_top)
        if cell.id.startswith("call-once/"):
            # a's exported call_once trampoline, running on a's private, empty once-state
            assert "_FUN() in wc_call_once_a.abi3.so" in top, top
        else:
            assert "a jump to address 0" in evidence.native_top[0], top
            assert "in wc_call_once_b.abi3.so" in top, top
            assert any("_ZSt11__once_call" in b and "wc_healthy_s" in b for b in evidence.bindings)
    assert sorted({CellId.parse(i).logical.scenario for i in failing}) == [
        "call-once",
        "first-loader-hijack",
    ]
    folders = {p.name for p in run_dir.iterdir() if p.is_dir()}
    assert len(folders) == len(failing)  # passing cells left nothing behind
    return failing


def test_crashes_leave_core_backtrace_stack_map_and_bindings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = [str(SCENARIOS / "call-once.toml"), str(SCENARIOS / "first-loader-hijack.toml")]
    selects = [arg for pattern in SELECT for arg in ("--select", pattern)]
    code, document = run_json(
        capsys, *scenarios, *selects, "--backend", "local", "--debug-bindings",
        "--results", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    run_dir = next(tmp_path.iterdir())
    failing = check_crash_evidence(run_dir, document)
    assert len(failing) == 4
    # The stored core alone gives the backtrace again, later, with the same binaries.
    cell = failing["first-loader-hijack/host/local/plain/s,b#1"]
    core = tmp_path / "core"
    core.write_bytes(core_bytes(run_dir, cell))
    libraries = cell.evidence.libraries
    assert list(libraries) == _map(run_dir, cell)  # the map at the moment of the crash
    again = gdb_backtrace(venv_python(libraries), core)
    assert "#0  0x0000000000000000 in ?? ()" in again or "<signal handler called>" in again
    assert "wc_call_once_b" in again or "call_once" in again, again


def _map(run_dir: Path, cell: CellResult) -> list[str]:
    return (run_dir / cell.evidence.artefacts["libraries"]).read_text().splitlines()


def test_without_a_kernel_core_gdb_reruns_the_cell(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "first-loader-hijack.toml", load_catalogue())
    backend = LocalBackend()
    cells = [c for c in plan(scenario, targets=["host"]) if c.id.endswith("/plain/s,b#1")]
    wheels = wheels_for(scenario, cells[0], backend)
    settings = CaptureSettings(run_dir=tmp_path, kernel_cores=False)
    (result,) = run_group(scenario, cells, backend, wheels, capture=settings)
    assert result.outcome.verdict == "segfault"
    summary = json.loads((tmp_path / result.evidence.artefacts["summary"]).read_text())
    assert summary["core_check"].startswith("gdb loaded the core (gdb re-ran the cell)")
    backtrace = (tmp_path / result.evidence.artefacts["backtrace"]).read_text()
    assert "Program received signal SIGSEGV" in backtrace
    assert result.evidence.native_top[0].startswith("#0 ?? (a jump to address 0)")
    with gzip.open(tmp_path / result.evidence.artefacts["core"]) as core:
        assert_is_a_core_file(core.read())


def test_a_hang_is_dumped_then_killed_and_the_run_carries_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = [
        str(HOSTILE / "hostile-sleep-briefly.toml"),
        str(SCENARIOS / "first-loader-hijack.toml"),
    ]
    code, document = run_json(
        capsys, *scenarios, "--backend", "local", "--results", str(tmp_path),
        "--select", "hostile-sleep-briefly/*", "--select", "first-loader-hijack/*/plain/b,s#1",
    )  # fmt: skip
    assert code == 0
    run_dir = next(tmp_path.iterdir())
    hang, after = cells_in(document)
    assert hang.outcome.verdict == "hang"
    duration = hang.outcome.duration_s
    assert 3 <= duration < 3 + 2, duration  # killed right after its timeout
    assert "sleep_forever" in hang.evidence.python_stack
    artefacts = hang.evidence.artefacts
    assert {"hang_stack", "core", "libraries", "python_stack"} <= set(artefacts)
    native = (run_dir / artefacts["hang_stack"]).read_text()
    assert "@@wheelclash crash-thread" in native and "sleep" in native, native[-2000:]
    with gzip.open(run_dir / artefacts["core"]) as core:
        assert_is_a_core_file(core.read())
    assert after.outcome.verdict == "pass" and after.evidence.artefacts == {}


@pytest.fixture(autouse=True)
def _gdb_is_installed() -> None:
    assert shutil.which("gdb"), "gdb is missing: ./bootstrap installs it"


@pytest.mark.parametrize("kernel_cores", [True, False], ids=["kernel-core", "gdb-rerun"])
def test_an_extra_run_of_a_failing_cell_keeps_its_backtrace_but_no_core(
    tmp_path: Path, kernel_cores: bool
) -> None:
    scenario = load_scenario(SCENARIOS / "first-loader-hijack.toml", load_catalogue())
    backend = LocalBackend()
    planned = [c for c in plan(scenario, targets=["host"]) if "/plain/s,b#" in c.id]
    assert [c.repeat for c in planned] == list(range(1, scenario.matrix.repeat + 1))
    # as --repeat-failures makes it: past the planned runs
    extra = replace(planned[-1], repeat=scenario.matrix.repeat + 1)
    wheels = wheels_for(scenario, planned[0], backend)
    settings = CaptureSettings(run_dir=tmp_path, kernel_cores=kernel_cores)
    *kept, dropped = run_group(scenario, [*planned, extra], backend, wheels, capture=settings)
    assert [c.id for c in kept] == [c.id for c in planned] and dropped.id == extra.id
    assert {c.outcome.verdict for c in (*kept, dropped)} == {"segfault"}
    for cell in kept:  # every planned run keeps its core
        assert_is_a_core_file(core_bytes(tmp_path, cell))
    assert "core" not in dropped.evidence.artefacts
    folder = tmp_path / Path(dropped.evidence.artefacts["backtrace"]).parent
    assert not list(folder.glob("*core*")), list(folder.iterdir())
    assert any("no core kept" in note for note in dropped.evidence.notes), dropped.evidence
    assert dropped.evidence.native_top[0] == kept[0].evidence.native_top[0]
