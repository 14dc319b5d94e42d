"""Crash evidence from real crashes and hangs on this machine (the local backend)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.build.toolchains import load_catalogue
from harness.cells.backends.local import LocalBackend
from harness.cells.capture_request import CaptureSettings
from harness.cli import main
from harness.common.ids import CellId
from harness.run.runner import run_group, wheels_for
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan
from tests.integration.conftest import REPO, SCENARIOS

HOSTILE = REPO / "tests" / "data" / "hostile"
SELECT = ("call-once/*/global:a/plain/*", "first-loader-hijack/*/plain/*")


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def core_bytes(run_dir: Path, cell: dict[str, Any]) -> bytes:
    with gzip.open(run_dir / cell["artefacts"]["core"]) as core:
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


def venv_python(libraries: list[str]) -> Path:
    module = next(p for p in libraries if "/site-packages/" in p)
    return Path(module.split("/lib/python", 1)[0]) / "bin" / "python"


def check_crash_evidence(run_dir: Path, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every failing cell has its files; passing cells have none. Returns the failing ones."""
    failing = {}
    for cell in document["cells"]:
        if cell["verdict"] == "pass":
            assert cell["artefacts"] == {} and cell["native_top"] == []
            continue
        assert cell["verdict"] == "segfault", cell["id"]
        failing[cell["id"]] = cell
        assert {"core", "backtrace", "python_stack", "libraries", "stderr"} <= set(
            cell["artefacts"]
        ), cell["artefacts"]
        for path in cell["artefacts"].values():
            assert (run_dir / path).is_file() and not path.startswith("/")
        assert_is_a_core_file(core_bytes(run_dir, cell))
        summary = json.loads((run_dir / cell["artefacts"]["summary"]).read_text())
        assert "frames" in summary["core_check"], summary
        assert cell["python_stack"].startswith("Fatal Python error: Segmentation fault")
        assert "import_module" in cell["python_stack"] or "run_exercise" in cell["python_stack"]
        libraries = (run_dir / cell["artefacts"]["libraries"]).read_text().splitlines()
        assert any(p.endswith("wc_call_once_b.abi3.so") for p in libraries)
        assert any("/libstdc++.so.6" in p for p in libraries)
        backtrace = (run_dir / cell["artefacts"]["backtrace"]).read_text()
        assert "@@wheelclash all-threads" in backtrace and "Thread 1 " in backtrace
        top = "\n".join(cell["native_top"])
        if cell["id"].startswith("call-once/"):
            # a's exported call_once trampoline, running on a's private, empty once-state
            assert "_FUN() in wc_call_once_a.abi3.so" in top, top
        else:
            assert "a jump to address 0" in cell["native_top"][0], top
            assert "in wc_call_once_b.abi3.so" in top, top
            assert any("_ZSt11__once_call" in b and "wc_healthy_s" in b for b in cell["bindings"])
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
    assert cell["libraries"] == _map(run_dir, cell)  # the map at the moment of the crash
    again = gdb_backtrace(venv_python(cell["libraries"]), core)
    assert "#0  0x0000000000000000 in ?? ()" in again or "<signal handler called>" in again
    assert "wc_call_once_b" in again or "call_once" in again, again


def _map(run_dir: Path, cell: dict[str, Any]) -> list[str]:
    return (run_dir / str(cell["artefacts"]["libraries"])).read_text().splitlines()


def test_without_a_kernel_core_gdb_reruns_the_cell(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "first-loader-hijack.toml", load_catalogue())
    backend = LocalBackend()
    cells = [c for c in plan(scenario, targets=["host"]) if c.id.endswith("/plain/s,b#1")]
    wheels = wheels_for(scenario, cells[0], backend)
    settings = CaptureSettings(run_dir=tmp_path, kernel_cores=False)
    (result,) = run_group(scenario, cells, backend, wheels, capture=settings)
    assert result.verdict == "segfault"
    summary = json.loads((tmp_path / result.artefacts["summary"]).read_text())
    assert summary["core_check"].startswith("gdb loaded the core (gdb re-ran the cell)")
    backtrace = (tmp_path / result.artefacts["backtrace"]).read_text()
    assert "Program received signal SIGSEGV" in backtrace
    assert result.native_top[0].startswith("#0 ?? (a jump to address 0)")
    with gzip.open(tmp_path / result.artefacts["core"]) as core:
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
    hang, after = document["cells"]
    assert hang["verdict"] == "hang"
    assert 3 <= hang["duration_s"] < 3 + 2, hang["duration_s"]  # killed right after its timeout
    assert "sleep_forever" in hang["python_stack"]
    assert {"hang_stack", "core", "libraries", "python_stack"} <= set(hang["artefacts"])
    native = (run_dir / hang["artefacts"]["hang_stack"]).read_text()
    assert "@@wheelclash crash-thread" in native and "sleep" in native, native[-2000:]
    with gzip.open(run_dir / hang["artefacts"]["core"]) as core:
        assert_is_a_core_file(core.read())
    assert after["verdict"] == "pass" and after["artefacts"] == {}


@pytest.fixture(autouse=True)
def _gdb_is_installed() -> None:
    assert shutil.which("gdb"), "gdb is missing: ./bootstrap installs it"
