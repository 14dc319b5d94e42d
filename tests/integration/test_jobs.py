"""-j on ONE group on this machine: its cells run in several supervisor batches at once in the
group's venv, with the verdicts and order of -j 1; a batch's crash, or its supervisor's, leaves
the other alone; an interrupt stops every batch at once; a killed -j 2 run resumes."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest

from harness import paths
from harness.cells.backends.local import LocalBackend
from harness.cells.jobs import CellJob, batch
from harness.cli import main
from harness.common.verdicts import Verdict
from tests.integration.cli_process import CliSpawner
from tests.integration.conftest import REPO, SCENARIOS, built_for, cells_in, probes_watched

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
SLEEP_FOREVER = REPO / "tests" / "data" / "hostile" / "hostile-sleep-forever.toml"
TOKEN = f"wheelclash-jobs-{secrets.token_hex(4)}"


def results_in(root: Path) -> dict[str, Any]:
    (path,) = root.glob("*/results.json")
    document: dict[str, Any] = json.loads(path.read_text())
    jsonschema.validate(document, SCHEMA)
    return document


def check(root: Path, jobs: int) -> tuple[int, dict[str, Any]]:
    """`check` of the call-once pair on this machine: one group of 8 cells, two of which
    (global:a, a before b) segfault while b loads; the others sleep 1 s after the imports."""
    wheels = built_for("call-once", LocalBackend(), "host")
    code = main(
        [
            "check",
            str(wheels["a"].path),
            str(wheels["b"].path),
            "--dlopen",
            "local,global:wc_call_once_a",
            "--repeat",
            "2",
            "--no-victims",
            "--no-singletons",
            "--exercise",
            f"import time; time.sleep(1)  # {TOKEN}",
            "--backend",
            "local",
            "-j",
            str(jobs),
            "--results",
            str(root),
        ]
    )
    return code, results_in(root)


def essence(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must agree cell for cell: the order, ids and verdicts, not the timings."""
    return [(c.cell.index, c.id, c.outcome.verdict, c.outcome.signal) for c in cells_in(document)]


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The check with -j 1, what -j 2 must equal."""
    root = tmp_path_factory.mktemp("serial")
    with probes_watched(TOKEN) as counts:
        code, document = check(root, 1)
    assert code == 1
    assert max(counts) == 1, "-j 1 ran two probes at once"
    return document


def test_two_jobs_run_one_groups_cells_two_at_a_time(
    tmp_path: Path, serial: dict[str, Any]
) -> None:
    with probes_watched(TOKEN) as counts:
        code, document = check(tmp_path, 2)
    assert code == 1
    assert max(counts) == 2, "one group with -j 2 should run two probes at once"
    assert essence(document) == essence(serial)
    cells = cells_in(document)
    assert [c.cell.index for c in cells] == list(range(8))
    assert sorted(c.outcome.verdict for c in cells) == ["pass"] * 6 + ["segfault"] * 2
    (run_dir,) = tmp_path.glob("*/")
    lines = (run_dir / "cells.jsonl").read_text().splitlines()
    streamed = [json.loads(line)["id"] for line in lines]
    assert sorted(streamed) == sorted(c.id for c in cells)  # each cell streamed once


def supervisors_of(me: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in me.children(recursive=True):
        try:
            parent = child.parent()
            launcher = parent is not None and any(
                p.endswith("supervisor.py") for p in parent.cmdline()
            )
            if any(p.endswith("supervisor.py") for p in child.cmdline()) and not launcher:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def busy(supervisor: psutil.Process) -> bool:
    """Whether the supervisor's probe of a sleeping cell runs."""
    try:
        # The probe's parent is the supervisor's launcher (resources/supervisor.py).
        probes = supervisor.children(recursive=True)
        return any(TOKEN in " ".join(p.cmdline()) for p in probes)
    except psutil.NoSuchProcess:
        return False


def test_a_killed_supervisor_fails_only_its_own_batch(
    tmp_path: Path, serial: dict[str, Any]
) -> None:
    """SIGKILL one of the group's two supervisors while both run a cell: the cells of its
    batch that had not ended are infra-errors, the other batch's cells end as with -j 1."""
    killed: list[int] = []
    done = threading.Event()

    def kill_one() -> None:
        me = psutil.Process()
        while not done.is_set() and not killed:
            running = supervisors_of(me)
            if len(running) == 2 and all(busy(s) for s in running):
                running[0].kill()
                killed.append(running[0].pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    try:
        code, document = check(tmp_path, 2)
    finally:
        done.set()
        killer.join(timeout=10)
    assert killed, "never saw both supervisors running a cell"
    assert code == 3
    cells = cells_in(document)
    assert [c.cell.index for c in cells] == list(range(8))
    place = {c.id: i for i, c in enumerate(cells)}
    broken = [c for c in cells if c.outcome.verdict == Verdict.INFRA_ERROR]
    assert broken and all("supervisor stopped reporting" in c.outcome.detail for c in broken)
    # The group's cells were dealt to the two batches by turns: a batch's cells share the
    # parity of their place in the plan.
    (parity,) = {place[c.id] % 2 for c in broken}
    expected = {c.id: c.outcome.verdict for c in cells_in(serial)}
    others = [c for c in cells if place[c.id] % 2 != parity]
    assert len(others) == 4
    assert all(c.outcome.verdict == expected[c.id] for c in others)


def family_of(harness: psutil.Process) -> list[psutil.Process]:
    try:
        return harness.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def probes_in(family: list[psutil.Process]) -> list[psutil.Process]:
    found = []
    for process in family:
        try:
            if any(part.endswith("probe.py") for part in process.cmdline()):
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_stops_every_batch_at_once(
    spawn_cli: CliSpawner, tmp_path: Path, signum: int
) -> None:
    """Two cells that sleep forever, one group, -j 2: both probes run; the signal ends the
    run long before their 30 s timeout, with nothing left running and no cell recorded.
    The run starts with the signal at its default, however pytest was started (spawn_cli)."""
    args = ["run", SLEEP_FOREVER, "-j", "2", "--backend", "local", "--no-capture"]
    harness = spawn_cli(*args, "--results", tmp_path, stdout=subprocess.DEVNULL)
    watched = psutil.Process(harness.pid)  # the spawner execs the CLI in place
    deadline = time.monotonic() + 120
    while len(probes_in(family_of(watched))) < 2 and time.monotonic() < deadline:
        assert harness.poll() is None, harness.communicate()[1]
        time.sleep(0.05)
    family = family_of(watched)
    assert len(probes_in(family)) == 2, "the two batches' probes never ran at once"
    time.sleep(1)  # into their sleep
    started = time.monotonic()
    harness.send_signal(signum)
    _, err = harness.communicate(timeout=60)
    assert harness.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert time.monotonic() - started < 15, "the run waited for its cells in flight"
    _, alive = psutil.wait_procs(family, timeout=5)
    assert alive == [], f"left running after the interrupt: {alive}"
    (run_dir,) = tmp_path.glob("*/")
    assert (run_dir / "cells.jsonl").read_text() == ""  # abandoned cells are not results
    document = json.loads((run_dir / "results.json").read_text())
    assert document["cells"] == [] and not document["run"]["complete"]


def test_a_killed_two_job_run_resumes_to_the_same_results(tmp_path: Path) -> None:
    scenario = str(SCENARIOS / "call-once.toml")
    whole = tmp_path / "whole"
    assert main(["run", scenario, "--backend", "local", "--results", str(whole)]) == 0
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "harness.cli", "run", scenario, "--backend", "local"]
    harness = psutil.Popen(
        [*command, "-j", "2", "--results", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stream: Path | None = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and harness.poll() is None:
        found = list(killed.glob("*/cells.jsonl"))
        if found and len(found[0].read_bytes().splitlines()) >= 5:
            stream = found[0]
            break
        time.sleep(0.02)
    family = family_of(harness)
    harness.kill()
    harness.wait(10)
    assert stream is not None, "the run never got 5 cells done"
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], f"left running after the harness died: {alive}"
    finished = len(stream.read_bytes().splitlines())
    assert finished < 16, "the run ended before it was killed"
    assert main(["run", "--resume", str(stream.parent), "-j", "2"]) == 0
    ids = [json.loads(line)["id"] for line in stream.read_bytes().splitlines() if line.strip()]
    assert len(ids) == len(set(ids)) == 16, "each missing cell ran once, no finished one again"
    assert essence(results_in(killed)) == essence(results_in(whole))


def sleeping_batch(folder: Path, name: str) -> Path:
    """A batch file of one cell whose probe sleeps 60 s, for a supervisor on this machine."""
    job = CellJob(
        cell_id=name,
        imports=(),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=60,
        snippet=f"import time; time.sleep(60)  # {TOKEN} {name}",
    )
    # Each batch its own working folder, as the backends give them: a supervisor empties its
    # folder before and after every cell.
    workdir = folder / f"work-{name}"
    document = batch([job], python=sys.executable, probe=str(paths.PROBE), workdir=str(workdir))
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def two_supervisors(tmp_path: Path) -> Iterator[tuple[Path, list[psutil.Popen]]]:
    files = [sleeping_batch(tmp_path, name) for name in ("one", "two")]
    running = [
        psutil.Popen(
            [sys.executable, str(paths.SUPERVISOR), str(path)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        for path in files
    ]
    try:
        yield files[0], running
    finally:
        for supervisor in running:
            for process in [*family_of(supervisor), supervisor]:
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass
            supervisor.wait(10)


def test_stopping_one_batch_leaves_the_others_running(
    two_supervisors: tuple[Path, list[psutil.Popen]],
) -> None:
    """`supervisor.py --stop FILE`, as the docker backend runs it in a container when it
    gives up on a batch: that batch's supervisor and probe end, the other batch runs on."""
    first, (one, two) = two_supervisors
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(probes_in(family_of(s)) for s in (one, two)):
        time.sleep(0.05)
    probes = [probes_in(family_of(s)) for s in (one, two)]
    assert all(probes), "the supervisors never started their probes"
    stop = [sys.executable, str(paths.SUPERVISOR), "--stop", str(first)]
    done = subprocess.run(stop, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"stopped": 1, "left": []}
    _, alive = psutil.wait_procs([one, *probes[0]], timeout=5)
    assert alive == []
    assert one.returncode == 143  # its SIGTERM handler killed its probe and left
    assert two.is_running() and all(p.is_running() for p in probes[1])
