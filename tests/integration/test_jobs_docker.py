"""-j on ONE group with the docker backend: the group's cells run in several supervisor
batches at once in its one container (sized for them), with the verdicts and order of -j 1;
a batch given up on is stopped alone; an interrupt stops every batch and removes the
container."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker
import jsonschema
import pytest
from docker.models.containers import Container
from docker.utils import parse_bytes

from harness import paths
from harness.cells.backends.docker import DockerBackend, DockerSession, load_settings
from harness.cells.jobs import CellJob
from harness.cli import main
from harness.common.verdicts import Verdict
from harness.evidence.classify import classify
from harness.images import containers
from harness.images.containers import LABEL_OWNER
from tests.integration.conftest import REPO, built_for, cells_in, probes_watched

pytestmark = pytest.mark.docker

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
SLEEP_FOREVER = REPO / "tests" / "data" / "hostile" / "hostile-sleep-forever.toml"
TOKEN = f"wheelclash-jobs-docker-{secrets.token_hex(4)}"
TARGET = "debian:bookworm"


def owned_by(pid: int) -> list[Container]:
    engine = docker.from_env()
    try:
        found = engine.containers.list(all=True, sparse=True, filters={"label": LABEL_OWNER})
        return [c for c in found if str(c.attrs["Labels"][LABEL_OWNER]).endswith(f":{pid}")]
    finally:
        engine.close()


def check(root: Path, jobs: int) -> tuple[int, dict[str, Any]]:
    """`check` of the call-once pair on bookworm: one container of 8 cells, two of which
    (global:a, a before b) segfault while b loads; the others sleep 1 s after the imports."""
    wheels = built_for("call-once", DockerBackend(), TARGET)
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
            "docker",
            "--target",
            TARGET,
            "-j",
            str(jobs),
            "--results",
            str(root),
        ]
    )
    (path,) = root.glob("*/results.json")
    document: dict[str, Any] = json.loads(path.read_text())
    jsonschema.validate(document, SCHEMA)
    return code, document


def essence(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(c.cell.index, c.id, c.outcome.verdict, c.outcome.signal) for c in cells_in(document)]


def test_two_jobs_run_one_containers_cells_two_at_a_time(tmp_path: Path) -> None:
    with probes_watched(TOKEN) as counts:
        code, serial = check(tmp_path / "j1", 1)
    assert code == 1 and max(counts) == 1
    with probes_watched(TOKEN) as counts:
        code, document = check(tmp_path / "j2", 2)
    assert code == 1
    assert max(counts) == 2, "one container with -j 2 should run two probes at once"
    assert essence(document) == essence(serial)
    cells = cells_in(document)
    assert [c.cell.index for c in cells] == list(range(8))
    crashed = {",".join(c.cell.order) for c in cells if c.outcome.verdict == Verdict.SEGFAULT}
    assert crashed == {"wc_call_once_a,wc_call_once_b"}
    assert sum(c.outcome.verdict == Verdict.SEGFAULT for c in cells) == 2
    # The crashes' evidence came out of the shared container, each into its own folder.
    failing = [c for c in cells if c.outcome.verdict == Verdict.SEGFAULT]
    (run_dir,) = (tmp_path / "j2").glob("*/")
    traces = [run_dir / c.evidence.artefacts["backtrace"] for c in failing if c.evidence]
    assert len(traces) == 2 and all("wc_call_once" in t.read_text() for t in traces), failing
    assert owned_by(os.getpid()) == [], "the run left its container behind"


def sleeper(name: str, seconds: int) -> CellJob:
    return CellJob(
        cell_id=name,
        imports=(),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=120,
        snippet=f"import time; time.sleep({seconds})  # {TOKEN} {name}",
    )


def commands_in(container: Container) -> list[str]:
    top = container.top(ps_args="-eo pid,args")
    column = top["Titles"].index("COMMAND")
    return [str(row[column]) for row in top["Processes"]]


def test_a_batch_given_up_on_is_stopped_alone(tmp_path: Path) -> None:
    """Two batches in one session: the first (a cell sleeping 100 s) is given up on while
    the second runs; its supervisor and probe go, the container and the second batch stay.
    The container's limits are sized for two batches."""
    backend = DockerBackend()
    wheels = tuple(built_for("call-once", backend, TARGET).values())
    confinement = load_settings().confinement
    with backend.open(TARGET, "x86_64", wheels, batches=2) as session:
        assert isinstance(session, DockerSession)
        container = session.container
        container.reload()
        limits = container.attrs["HostConfig"]
        assert limits["PidsLimit"] == 2 * confinement.pids
        assert limits["Memory"] == 2 * parse_bytes(confinement.memory)
        # The scratch folders in memory are sized for two batches too (1 GiB cells folder,
        # 256 MiB /tmp in docker.toml).
        tmpfs = limits["Tmpfs"]
        assert tmpfs == containers.mounts(confinement.shared_by(2), {})[0]
        assert tmpfs[load_settings().cells].startswith("size=2g,"), tmpfs
        assert tmpfs["/tmp"].startswith("size=512m,"), tmpfs

        give_up = threading.Event()
        abandoned: list[Any] = []
        first = threading.Thread(
            target=lambda: abandoned.extend(session.run([sleeper("hang", 100)], give_up.is_set))
        )
        kept: list[Any] = []
        second = threading.Thread(
            target=lambda: kept.extend(session.run([sleeper(f"b{i}", 2) for i in range(3)]))
        )
        first.start()
        second.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                running = [c for c in commands_in(container) if TOKEN in c]
                if any("hang" in c for c in running) and any(" b0" in c for c in running):
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"the two batches' probes never ran at once: {commands_in(container)}")
            give_up.set()
            first.join(timeout=30)
            assert not first.is_alive()
            assert [classify(o).verdict for o in abandoned] == [Verdict.INFRA_ERROR]
            left = [c for c in commands_in(container) if "hang" in c and TOKEN in c]
            assert left == [], "the abandoned batch's probe runs on"
            supervisors = [c for c in commands_in(container) if "supervisor.py" in c]
            # the second batch's supervisor and its launcher (a forked copy of it)
            assert len(supervisors) == 2 and len(set(supervisors)) == 1, supervisors
        finally:
            give_up.set()
            second.join(timeout=60)
        found = [(o.cell_id, classify(o).verdict) for o in kept]
        assert found == [(f"b{i}", Verdict.PASS) for i in range(3)], kept
        container.reload()
        assert container.status == "running"


def test_an_interrupt_stops_every_batch_and_removes_the_container(tmp_path: Path) -> None:
    """Two cells that sleep forever, one container, -j 2: both probes run in it; SIGTERM ends
    the run long before their 30 s timeout and removes the container."""
    command = [sys.executable, "-m", "harness.cli", "run", str(SLEEP_FOREVER), "-j", "2"]
    proc = subprocess.Popen(
        [*command, "--backend", "docker", "--results", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        probes: list[str] = []
        while len(probes) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            for container in owned_by(proc.pid):
                try:
                    probes = [c for c in commands_in(container) if "probe.py" in c]
                except docker.errors.APIError:
                    probes = []  # not started yet
            time.sleep(0.2)
        assert len(probes) == 2, "the two batches' probes never ran at once"
        # each runs the probe its container's supervisor compiled, not the source
        assert all("/bin/probe.pyc " in c for c in probes), probes
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert time.monotonic() - started < 25, "the run waited for its cells in flight"
    assert owned_by(proc.pid) == []
