"""The tests' way of starting `wheelclash` children (cli_process.py): the signal dispositions
they start with, and that a test ending mid-run leaves no process and no open pipe."""

from __future__ import annotations

import gc
import signal
import subprocess
import time
import warnings
from pathlib import Path

import psutil
import pytest

from harness import paths
from tests.integration.cli_process import CliSpawner, signal_name
from tests.integration.conftest import REPO

SLEEPER = REPO / "tests" / "data" / "hostile" / "hostile-sleep-forever.toml"  # 2 cells of 30 s


def dispositions(pid: int) -> tuple[int, int]:
    """The child's blocked-by-ignore and caught signal masks, from /proc."""
    status = dict(
        line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(status["SigIgn"], 16), int(status["SigCgt"], 16)


def wait_for_a_probe(proc: subprocess.Popen[str]) -> None:
    """Until a cell's probe runs below the CLI: it is inside `main` by then."""
    deadline = time.monotonic() + 300
    while True:
        assert proc.poll() is None, f"the CLI ended: {proc.returncode}"
        assert time.monotonic() < deadline, "no probe ran"
        try:
            family = psutil.Process(proc.pid).children(recursive=True)
            if any(str(paths.PROBE) in p.cmdline() for p in family):
                return
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)


@pytest.mark.parametrize(
    "ignored", [(), (signal.SIGINT,), (signal.SIGHUP,)], ids=["none", "SIGINT", "SIGHUP"]
)
def test_the_cli_starts_with_the_asked_dispositions(
    spawn_cli: CliSpawner, tmp_path: Path, ignored: tuple[signal.Signals, ...]
) -> None:
    """Whatever this pytest inherited (run it under `trap '' INT`): only `ignoring` is ignored."""
    proc = spawn_cli("run", SLEEPER, "--backend", "local", "--results", tmp_path, ignoring=ignored)
    wait_for_a_probe(proc)
    ignoring, catching = dispositions(proc.pid)
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        bit = 1 << (signum - 1)
        name = signal_name(signum)
        assert bool(ignoring & bit) == (signum in ignored), f"{name} ignored: {ignoring:x}"
        assert bool(catching & bit) == (signum not in ignored), f"{name} caught: {catching:x}"


def test_ending_a_child_mid_run_leaves_no_process_and_no_open_pipe(tmp_path: Path) -> None:
    """What a test that fails while its child runs leaves: a Popen whose communicate timed out
    (as `test_interrupting_a_run_removes_its_container` did when SIGINT was inherited ignored).
    Left alone, `subprocess` keeps a still-running child, pipes and all, in its list of
    active children; the pipes were then found unclosed much later, by a garbage collection
    in whichever test ran then (the minimize test, inside pyelftools)."""
    spawner = CliSpawner(REPO)
    proc = spawner("run", SLEEPER, "--backend", "local", "--results", tmp_path)
    wait_for_a_probe(proc)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.communicate(timeout=1)
    family = psutil.Process(proc.pid).children(recursive=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        spawner.end_all()
        code = proc.returncode
        del proc
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert code == 130  # SIGTERM first: the run unwound as interrupted, not killed
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], f"left running: {alive}"
