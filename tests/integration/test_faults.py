"""Faults injected into real runs: signals, a vanishing engine, a killed container, a full disk,
a build that fails halfway. Each run is a real `wheelclash` process. Each must end with nothing
leaked, readable partial results, the affected cells `infra-error` with the cause (never a
verdict on the wheels) and a message, not a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import docker
import jsonschema
import psutil
import pytest

from harness import paths
from harness.cells.backends.docker import DockerBackend
from harness.evidence.results import CellResult
from harness.images.containers import LABEL_OWNER
from tests.integration.cli_process import CliSpawner, signal_name
from tests.integration.conftest import REPO, cells_in
from tests.integration.enginecut import EngineDoor

DATA: Final = REPO / "tests" / "data"
SLEEPER: Final = DATA / "hostile" / "hostile-sleep-forever.toml"  # 2 cells of 30 s
TORTURE: Final = DATA / "torture"
SCHEMA: Final = json.loads(paths.RESULTS_SCHEMA.read_text())


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"wheelclash ended before {what}: {proc.returncode}\n{err}")
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def probe_running(proc: subprocess.Popen[str]) -> bool:
    """A probe runs somewhere below the harness process (the local backend)."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    return any(str(paths.PROBE) in _cmdline(p) for p in family)


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def cells_of(results: Path) -> tuple[Path, list[CellResult]]:
    """The one run folder under `results` and its cells.jsonl, every line of which must parse."""
    [run_dir] = list(results.iterdir())
    lines = (run_dir / "cells.jsonl").read_text().splitlines()
    return run_dir, [CellResult.from_json(json.loads(line)) for line in lines]


def finished(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    _, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=signal_name)
def test_a_signal_mid_run_on_the_local_backend(
    spawn_cli: CliSpawner, tmp_path: Path, signum: int
) -> None:
    proc = spawn_cli(
        "run", SLEEPER, TORTURE / "pass.toml", "--backend", "local", "--results", tmp_path
    )
    wait_for(lambda: probe_running(proc), proc, "a probe ran")
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signum)
    err = finished(proc)
    assert proc.returncode == 130, err
    assert "interrupted; partial results are in the run's cells.jsonl" in err
    _, still = psutil.wait_procs(family, timeout=10)
    assert still == [], f"left running: {[(p.pid, _cmdline(p)) for p in still]}"
    run_dir, cells = cells_of(tmp_path)
    assert cells == []  # the cell in flight is not reported as anything
    document = json.loads((run_dir / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)


def test_a_full_results_disk(spawn_cli: CliSpawner, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(full)], check=True)
    try:
        quick = ("pass", "segv", "wrong-false", "orphan", "abort", "bus", "ill", "fpe")
        scenarios = [TORTURE / f"{n}.toml" for n in quick]
        proc = spawn_cli("run", *scenarios, "--backend", "local", "--results", full)
        err = finished(proc)
        assert proc.returncode == 3, err
        assert (
            "No space left on device" in err
            and "hint: free space there or pass --results DIR" in err
        )
        # The error that stopped the run is the one shown; the failed results.json write
        # that followed is added to it, never put in its place.
        assert re.search(r"error: could not write \S+/cells\.jsonl: .*the run stopped at", err), err
        assert "results.json is not written" in err, err
        run_dir, cells = cells_of(full)
        assert 0 < len(cells) < len(quick)  # what fitted, each line whole
        assert all(c.outcome.matches_expectation for c in cells)
        # No results.json, whole or partial: only what the run wrote before the disk filled.
        assert list(run_dir.glob("results.json*")) == []
    finally:
        subprocess.run(["umount", "-l", str(full)], check=True)


def test_a_build_that_fails_halfway(spawn_cli: CliSpawner, tmp_path: Path) -> None:
    proc = spawn_cli(
        "run",
        DATA / "faults" / "build-fails-halfway.toml",
        "--backend",
        "local",
        "--results",
        tmp_path,
    )
    err = finished(proc, timeout=600)
    assert proc.returncode == 2, err
    assert "fixture 'broken' (wheel 'b') did not build" in err
    assert "wc_no_such_function" in err  # the compiler's own words
    assert list(tmp_path.iterdir()) == []  # no run was started


def containers_of(client: docker.DockerClient, pid: int) -> list[Any]:
    found = client.containers.list(all=True, sparse=True, filters={"label": LABEL_OWNER})
    return [c for c in found if str(c.attrs["Labels"][LABEL_OWNER]).endswith(f":{pid}")]


def probe_in_container(client: docker.DockerClient, pid: int) -> bool:
    for container in containers_of(client, pid):
        try:
            top = client.api.top(container.id)
        except docker.errors.APIError:
            continue
        if any("probe.py" in " ".join(row) for row in top.get("Processes") or []):
            return True
    return False


def assert_infra_cells(cells: list[CellResult], cause: str) -> None:
    outcomes = [c.outcome for c in cells]
    assert [o.verdict for o in outcomes] == ["infra-error"] * len(cells), cells
    assert all(cause in o.detail for o in outcomes), [o.detail for o in outcomes]


@pytest.mark.docker
def test_a_container_killed_from_outside(
    spawn_cli: CliSpawner, tmp_path: Path, client: docker.DockerClient
) -> None:
    proc = spawn_cli("run", SLEEPER, "--backend", "docker", "--results", tmp_path)
    wait_for(lambda: probe_in_container(client, proc.pid), proc, "a probe ran in the container")
    [container] = containers_of(client, proc.pid)
    container.kill()
    err = finished(proc)
    assert proc.returncode == 3, err
    run_dir, cells = cells_of(tmp_path)
    assert len(cells) == 2
    assert_infra_cells(cells, "the in-container supervisor stopped reporting")
    jsonschema.validate(json.loads((run_dir / "results.json").read_text()), SCHEMA)
    assert containers_of(client, proc.pid) == []


@pytest.mark.docker
def test_the_engine_going_away_mid_run(
    spawn_cli: CliSpawner, tmp_path: Path, client: docker.DockerClient
) -> None:
    door = EngineDoor(tmp_path / "engine.sock")
    results = tmp_path / "results"
    try:
        proc = spawn_cli(
            "run",
            SLEEPER,
            "--backend",
            "docker",
            "--results",
            results,
            env={"DOCKER_HOST": door.docker_host},
        )
        wait_for(lambda: probe_in_container(client, proc.pid), proc, "a probe ran")
        door.cut()
        err = finished(proc)
    finally:
        door.close()
    assert proc.returncode == 3, err
    assert "the next run removes it" in err
    run_dir, cells = cells_of(results)
    assert len(cells) == 2
    assert_infra_cells(cells, "the in-container supervisor stopped reporting")
    jsonschema.validate(json.loads((run_dir / "results.json").read_text()), SCHEMA)
    # The engine never heard the harness say goodbye: its container waits for the janitor,
    # which the next run (here, directly) runs as soon as the owner is gone.
    DockerBackend().remove_leftovers()  # (another test's janitor may have been quicker)
    assert containers_of(client, proc.pid) == []


@pytest.mark.docker
def test_a_run_killed_outright_mid_build(
    spawn_cli: CliSpawner, tmp_path: Path, client: docker.DockerClient
) -> None:
    """SIGKILL leaves the builder container behind; the next run's janitor removes it."""
    shutil.copytree(
        DATA / "fixtures" / "cpp" / "torture", tmp_path / "fixtures" / "cpp" / "torture"
    )
    scenario = tmp_path / "scenarios" / "fresh.toml"
    scenario.parent.mkdir()
    # A module name never built before: its wheel is not in the cache, so a build starts.
    text = (TORTURE / "pass.toml").read_text()
    scenario.write_text(text.replace('"wc_torture"', f'"wc_torture_{uuid.uuid4().hex[:12]}"'))
    proc = spawn_cli("run", scenario, "--backend", "docker", "--results", tmp_path / "results")
    wait_for(lambda: bool(containers_of(client, proc.pid)), proc, "a builder container started")
    proc.kill()
    proc.communicate(timeout=60)
    assert containers_of(client, proc.pid), "the builder container was already gone"
    DockerBackend().remove_leftovers()  # (another test's janitor may have been quicker)
    assert containers_of(client, proc.pid) == []


def test_an_interrupted_run_is_finished_by_resume(spawn_cli: CliSpawner, tmp_path: Path) -> None:
    """SIGINT while a hang runs (the third of four scenarios); `--resume` runs what is left."""
    brief = DATA / "hostile" / "hostile-sleep-briefly.toml"  # one cell, 3 s timeout
    scenarios = [TORTURE / "pass.toml", TORTURE / "segv.toml", brief, TORTURE / "abort.toml"]
    proc = spawn_cli("run", *scenarios, "--backend", "local", "--no-capture", "--results", tmp_path)

    def in_the_hang() -> bool:
        runs = list(tmp_path.glob("*/cells.jsonl"))
        done = len(runs[0].read_text().splitlines()) if runs else 0
        return done >= 2 and probe_running(proc)

    wait_for(in_the_hang, proc, "the hang's probe ran")
    proc.send_signal(signal.SIGINT)
    finished(proc)
    assert proc.returncode == 130
    run_dir, before = cells_of(tmp_path)
    assert 2 <= len(before) < 4
    resumed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--resume", str(run_dir), "--no-capture"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    _, after = cells_of(tmp_path)
    assert after[: len(before)] == before  # finished cells were not run again
    document = json.loads((run_dir / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["run"]["complete"]
    cells = cells_in(document)
    verdicts = sorted(c.outcome.verdict for c in cells)
    assert len(verdicts) == len({c.id for c in cells}) >= 4
    assert {"pass", "segfault", "hang", "abort"} <= set(verdicts)
    assert all(c.outcome.matches_expectation for c in cells)


def test_a_damaged_run_json_under_resume_is_an_input_error(tmp_path: Path) -> None:
    """A run.json cut short (a disk filled while it was written, a hand edit): exit 2 with a
    message naming the file and what to do, not a traceback."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"scenarios": ["scenarios/healthy.toml"], "backe')
    resumed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert resumed.returncode == 2, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert f"{run_dir / 'run.json'}: is not readable JSON" in resumed.stderr
    assert "Start a new run" in resumed.stderr
