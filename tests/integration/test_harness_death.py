"""A harness killed outright (SIGKILL) leaves no supervisor and no probe behind on the host."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psutil

from tests.integration.cli_process import CliSpawner
from tests.integration.conftest import REPO

SLEEP_FOREVER = REPO / "tests" / "data" / "hostile" / "hostile-sleep-forever.toml"


def test_a_hanging_cell_dies_with_its_harness(spawn_cli: CliSpawner, tmp_path: Path) -> None:
    proc = spawn_cli(
        "run",
        SLEEP_FOREVER,
        "--backend",
        "local",
        "--no-capture",
        "--results",
        tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    harness = psutil.Process(proc.pid)
    probe: psutil.Process | None = None
    deadline = time.monotonic() + 120
    while probe is None and time.monotonic() < deadline:
        for process in harness.children(recursive=True):
            try:
                if any(part.endswith("probe.py") for part in process.cmdline()):
                    probe = process
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.05)
    assert probe is not None, "no probe started"
    time.sleep(1)  # into its sleep: the cell's timeout (30 s) is far away
    family = harness.children(recursive=True)
    assert probe in family
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    # Well inside the cell's 30 s timeout: the supervisor heard of its caller's death.
    _, alive = psutil.wait_procs(family, timeout=8)
    assert alive == [], f"left running after the harness died: {alive}"
