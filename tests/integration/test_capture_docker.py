"""Crash evidence from inside confined containers (debian:bookworm): cores, stacks, hangs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from harness.build.toolchains import load_catalogue
from harness.cells.backends.docker import DockerBackend, load_settings
from harness.cells.capture_request import CaptureSettings
from harness.run.runner import run_group, wheels_for
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan
from tests.integration.conftest import SCENARIOS
from tests.integration.test_capture import (
    HOSTILE,
    assert_is_a_core_file,
    check_crash_evidence,
    run_json,
)

pytestmark = pytest.mark.docker
TARGET = "debian:bookworm"
# One crash of each mechanism and one pass (test_docker_backend runs the whole matrix).
SELECT = (
    "call-once/*/global:a/plain/a,b#1",
    "first-loader-hijack/*/plain/s,b#1",
    "first-loader-hijack/*/plain/b,s#1",
)


def test_crashes_in_a_container_leave_their_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = [str(SCENARIOS / "call-once.toml"), str(SCENARIOS / "first-loader-hijack.toml")]
    selects = [arg for pattern in SELECT for arg in ("--select", pattern)]
    code, document = run_json(
        capsys, *scenarios, *selects, "--backend", "docker", "--target", TARGET,
        "--debug-bindings", "--results", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    run_dir = next(tmp_path.iterdir())
    failing = check_crash_evidence(run_dir, document)
    assert len(failing) == 2 and len(document["cells"]) == 3
    for cell in failing.values():
        assert cell.cell.backend == "docker"
        libraries = cell.evidence.libraries
        venv = load_settings().venv + "/"  # the wheels' libraries
        assert all(p.startswith(("/usr/", "/lib", venv)) for p in libraries), libraries


def test_gdb_reruns_and_attaches_inside_the_confined_container(tmp_path: Path) -> None:
    """No kernel core: gdb re-runs the crash, and attaches to a hang, under cap-drop ALL."""
    backend = DockerBackend()
    settings = CaptureSettings(run_dir=tmp_path, kernel_cores=False)
    hijack = load_scenario(SCENARIOS / "first-loader-hijack.toml", load_catalogue())
    cells = [c for c in plan(hijack, targets=[TARGET]) if c.id.endswith("/plain/s,b#1")]
    (crash,) = run_group(
        hijack, cells, backend, wheels_for(hijack, cells[0], backend), capture=settings
    )
    assert crash.outcome.verdict == "segfault", crash.outcome.detail
    summary = json.loads((tmp_path / crash.evidence.artefacts["summary"]).read_text())
    assert summary["core_check"].startswith("gdb loaded the core (gdb re-ran the cell)"), summary
    assert (
        "Program received signal SIGSEGV"
        in (tmp_path / crash.evidence.artefacts["backtrace"]).read_text()
    )
    assert crash.evidence.native_top[0].startswith("#0 ?? (a jump to address 0)")
    with gzip.open(tmp_path / crash.evidence.artefacts["core"]) as core:
        assert_is_a_core_file(core.read())

    sleeper = load_scenario(HOSTILE / "hostile-sleep-briefly.toml", load_catalogue())
    cells = list(plan(sleeper, targets=[TARGET]))
    (hang,) = run_group(
        sleeper, cells, backend, wheels_for(sleeper, cells[0], backend), capture=settings
    )
    assert hang.outcome.verdict == "hang" and 3 <= hang.outcome.duration_s < 5, (
        hang.outcome.duration_s
    )
    assert "sleep_forever" in hang.evidence.python_stack
    native = (tmp_path / hang.evidence.artefacts["hang_stack"]).read_text()
    assert "@@wheelclash all-threads" in native and "Thread 1 " in native, native[-2000:]
    summary = json.loads((tmp_path / hang.evidence.artefacts["summary"]).read_text())
    assert summary["core_check"].startswith("gdb loaded the core (gdb attached"), summary
