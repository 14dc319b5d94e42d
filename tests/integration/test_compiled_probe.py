"""The supervisor compiles the probe once per batch when the probes' Python is its own, and
every cell of the batch starts from that .pyc; a crash's Python stack still names probe.py.
Real supervisor and probe processes on this machine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import paths

SHOW_ARGV = "import sys; print('argv0', sys.argv[0])"
SEGV = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


def supervise(tmp_path: Path, python: str, snippets: list[str]) -> list[dict[str, Any]]:
    """The supervisor's report lines for one batch of cells, each running a snippet."""
    cells = [
        {"id": f"c{i}", "spec": {"imports": [], "snippet": code}, "env": {}, "timeout": 60}
        for i, code in enumerate(snippets)
    ]
    batch = {
        "python": python,
        "probe": str(paths.PROBE),
        "workdir": str(tmp_path / "cells"),
        "tail_bytes": 4000,
        "output_cap": 1 << 20,
        "cells": cells,
    }
    done = subprocess.run(
        [sys.executable, str(paths.SUPERVISOR)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_batchs_cells_start_from_the_probe_compiled_once(tmp_path: Path) -> None:
    reports = supervise(tmp_path, sys.executable, [SHOW_ARGV, SHOW_ARGV, SEGV])
    compiled = f"argv0 {tmp_path / 'cells'}.probe.pyc"
    assert [r["stdout_tail"].strip() for r in reports[:2]] == [compiled, compiled]
    assert reports[2]["signal"] == signal.SIGSEGV
    # faulthandler's stack names the probe's source, not the .pyc
    assert f'File "{paths.PROBE}", line' in reports[2]["stderr_tail"]
    assert sorted(os.listdir(tmp_path)) == ["cells"]  # the .pyc went with the batch


def test_another_python_runs_the_probe_from_its_source(tmp_path: Path) -> None:
    """A .pyc holds one version's bytecode: probes of another interpreter than the
    supervisor's (here the system's Python beside the harness's venv) run probe.py."""
    other = shutil.which("python3.11", path="/usr/bin")
    if other is None or os.path.realpath(other) == os.path.realpath(sys.executable):
        pytest.fail("this machine has /usr/bin/python3.11 beside the harness's own Python")
    reports = supervise(tmp_path, other, [SHOW_ARGV, SHOW_ARGV])
    assert [r["stdout_tail"].strip() for r in reports] == [f"argv0 {paths.PROBE}"] * 2
