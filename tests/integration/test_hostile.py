"""Hostile wheels beyond tests/data/hostile's first three: the network, writing outside their
folder, escalating privileges. In a container each attempt must fail (the exercise checks that
itself and passes), the host must be untouched, and the second repeat must run normally. On the
unconfined local backend the same checks fail, which shows they can.

And wheels that go for the harness itself: killing the supervisor (by pid, by process group,
every process in reach), filling the disk. The cell that does it gets its own verdict, the
rest of its batch runs, and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Final

import docker
import pytest

from harness.cells.backends.docker import load_settings, size_bytes
from harness.cli import main
from harness.evidence.results import CellResult
from harness.images.containers import LABEL_OWNER
from tests.integration.conftest import REPO, cells_in
from tests.integration.test_torture import leaked_probes, probes

HOSTILE: Final = REPO / "tests" / "data" / "hostile"
NAMES: Final = ("network", "write-outside", "escalate")
MARKER: Final = "wheelclash-hostile-was-here"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[CellResult]]:
    code = main(["run", *args, "--json"])
    return code, cells_in(json.loads(capsys.readouterr().out))


@pytest.mark.docker
def test_hostile_attempts_fail_inside_the_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = [str(HOSTILE / f"hostile-{n}.toml") for n in NAMES]
    code, cells = run(capsys, *scenarios, "--backend", "docker", "--results", str(tmp_path))
    assert code == 0, [(c.id, c.outcome.verdict, c.outcome.detail) for c in cells]
    assert len(cells) == 2 * len(NAMES)
    assert {(c.outcome.verdict, c.outcome.detail) for c in cells} == {("pass", "")}
    # The host is untouched: the marker went to the container's /tmp, and nowhere here.
    assert not any(Path(folder, MARKER).exists() for folder in ("/", "/tmp", "/etc", "/root"))
    client = docker.from_env()
    try:
        mine = client.containers.list(all=True, filters={"label": LABEL_OWNER})
        assert [c for c in mine if c.labels[LABEL_OWNER].endswith(f":{os.getpid()}")] == []
    finally:
        client.close()


def test_the_escalation_check_can_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unconfined, on this machine, the same exercise finds a way up (or no no_new_privs)."""
    scenario = str(HOSTILE / "hostile-escalate.toml")
    code, cells = run(capsys, scenario, "--backend", "local", "--results", str(tmp_path))
    assert code == 1
    outcomes = [c.outcome for c in cells]
    assert {o.verdict for o in outcomes} == {"wrong-result"}
    assert all("worked" in o.detail or "no_new_privs" in o.detail for o in outcomes), cells


# The batch's first cell of each scenario does it (the rest of the cells pass): kill the
# probe's parent by pid, its parent's process group, its own group, or signal the supervisor
# (its parent's parent on the host) every catchable way.
KILLERS: Final = ("kill-parent", "kill-parent-group", "kill-own-group", "signal-grandparent")
LAUNCHER_NOTE: Final = "the probe's parent (its launcher"


def by_scenario(cells: list[CellResult]) -> dict[str, list[CellResult]]:
    found: dict[str, list[CellResult]] = {}
    for cell in sorted(cells, key=lambda c: c.id):
        found.setdefault(cell.cell.scenario, []).append(cell)
    return found


def first_does_it_rest_pass(cells: list[CellResult], verdict: str, detail: str) -> None:
    """The scenario's first cell got `verdict` with a detail starting `detail`; the others,
    later in the same batch, passed. (Cells of a batch run in order; a batch split in parallel
    parts would have one first cell per part, so at least one passing cell is asked.)"""
    doers = [c for c in cells if c.outcome.verdict != "pass"]
    assert doers and cells[0] in doers, [(c.id, c.outcome.verdict) for c in cells]
    for cell in doers:
        assert cell.outcome.verdict == verdict, (cell.id, cell.outcome.detail)
        assert cell.outcome.detail.startswith(detail), (cell.id, cell.outcome.detail)
    assert len(doers) < len(cells)


def test_a_probe_that_kills_its_parent_kills_no_batch_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the host the probe runs as the harness's own user: what it can kill it kills, but
    its parent is a launcher, not the supervisor, and it dies with it; signals that reach the
    supervisor while the harness lives are ignored."""
    before = probes()
    scenarios = [str(HOSTILE / f"hostile-{n}.toml") for n in KILLERS]
    code, cells = run(capsys, *scenarios, "--backend", "local", "--results", str(tmp_path))
    assert code == 1  # the first cells' failures were not expected
    found = by_scenario(cells)
    assert set(found) == {f"hostile-{n}" for n in KILLERS}
    assert len(cells) == 3 * len(KILLERS)
    for name in ("kill-parent", "kill-parent-group"):
        scenario = found[f"hostile-{name}"]
        exercise = name.replace("-", "_")
        first_does_it_rest_pass(
            scenario, "other-signal", f"SIGKILL during exercise wc_hostile.{exercise}"
        )
        assert LAUNCHER_NOTE in scenario[0].outcome.stderr_tail
    own = found["hostile-kill-own-group"]
    first_does_it_rest_pass(
        own, "other-signal", "SIGKILL during exercise wc_hostile.kill_own_group"
    )
    assert LAUNCHER_NOTE not in own[0].outcome.stderr_tail  # it killed itself, and only itself
    assert [c.outcome.verdict for c in found["hostile-signal-grandparent"]] == ["pass"] * 3
    assert leaked_probes(before) == set()


@pytest.mark.docker
def test_a_probe_cannot_signal_its_supervisor_in_a_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a container the supervisor and the launcher keep a real user of their own: the
    probe's kill fails (its own wrong-result), killing its own group kills only itself, and
    `kill -1` reaches nothing but itself."""
    names = (*KILLERS, "kill-everyone")
    scenarios = [str(HOSTILE / f"hostile-{n}.toml") for n in names]
    code, cells = run(capsys, *scenarios, "--backend", "docker", "--results", str(tmp_path))
    assert code == 1
    found = by_scenario(cells)
    assert len(cells) == 3 * len(names)
    refused = "PermissionError: [Errno 1] Operation not permitted"
    for name in ("kill-parent", "kill-parent-group", "signal-grandparent"):
        exercise = name.replace("-", "_")
        first_does_it_rest_pass(
            found[f"hostile-{name}"],
            "wrong-result",
            f"exercise wc_hostile.{exercise}: {refused}",
        )
    first_does_it_rest_pass(
        found["hostile-kill-own-group"],
        "other-signal",
        "SIGKILL during exercise wc_hostile.kill_own_group",
    )
    assert [c.outcome.verdict for c in found["hostile-kill-everyone"]] == ["pass"] * 3
    assert mine(docker.from_env()) == ([], [])


def mine(client: docker.DockerClient) -> tuple[list[str], list[str]]:
    """Containers and volumes this process owns."""
    try:
        owner = f":{os.getpid()}"
        boxes = client.containers.list(all=True, sparse=True, filters={"label": LABEL_OWNER})
        volumes = client.volumes.list(filters={"label": LABEL_OWNER})
        return (
            [str(c.id) for c in boxes if str(c.attrs["Labels"][LABEL_OWNER]).endswith(owner)],
            [str(v.id) for v in volumes if str(v.attrs["Labels"][LABEL_OWNER]).endswith(owner)],
        )
    finally:
        client.close()


class FreeSpace:
    """The least free space seen on a filesystem, sampled while the run lasts."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.before = shutil.disk_usage(path).free
        self.least = self.before
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self) -> None:
        while not self.done.wait(0.1):
            self.least = min(self.least, shutil.disk_usage(self.path).free)

    def __enter__(self) -> FreeSpace:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


@pytest.mark.docker
def test_a_wheel_that_fills_the_disk_fills_only_its_scratch_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probe writes until ENOSPC in its working directory, /tmp and HOME: each is on a
    tmpfs of fixed size (the root filesystem is read-only; HOME is a private one in the
    working directory, so it fills the same tmpfs), the engine's disk does not shrink
    meanwhile, the cell's verdict is its own, and the next cell finds its working directory
    and its HOME empty again."""
    client = docker.from_env()
    root = str(client.info()["DockerRootDir"])
    client.close()
    assert Path(root).is_dir(), f"the engine's disk ({root}) is not on this machine"
    settings = load_settings()
    sizes = {s.path: size_bytes(s.size) for s in settings.confinement.scratch}
    scenarios = [str(HOSTILE / f"hostile-{n}.toml") for n in ("fill-disk", "contained")]
    with FreeSpace(root) as space:
        code, cells = run(capsys, *scenarios, "--backend", "docker", "--results", str(tmp_path))
    # Writing zeros to disk would have taken up to 3 GiB a folder; other work on this machine
    # may take some meanwhile.
    after = shutil.disk_usage(root).free
    assert space.before - min(space.least, after) < 1 << 30, (space.before, space.least, after)
    found = by_scenario(cells)
    assert [c.outcome.verdict for c in found["hostile-contained"]] == ["pass", "pass"]
    fills = found["hostile-fill-disk"]
    assert [c.outcome.verdict for c in fills] == ["wrong-result", "wrong-result"]
    took = re.compile(r"(/[\w/-]*) took (\d+) MiB, then (\w+)")

    def tmpfs(path: str) -> str:
        """A batch's working folder is its own, inside the cells' folder (-j); so is the
        private HOME of its probes, inside that (resources/supervisor.py)."""
        return settings.cells if path.startswith(settings.cells + "/") else path

    for cell in fills:
        assert "OSError: [Errno 28]" in cell.outcome.detail, cell.outcome.detail
        listed = [(m[1], int(m[2]) << 20, m[3]) for m in took.finditer(cell.outcome.detail)]
        wheres = [tmpfs(path) for path, _, _ in listed]
        assert wheres == [settings.cells, "/tmp", settings.cells], cell.outcome.detail
        assert listed[2][0] == listed[0][0] + "/home", cell.outcome.detail
        assert all(error == "ENOSPC" for _, _, error in listed), cell.outcome.detail
        for where in set(wheres):
            size = sum(n for (_, n, _), at in zip(listed, wheres, strict=True) if at == where)
            assert size <= (sizes[where] or 0), cell.outcome.detail
    # The first cell's files were gone when the second cell started: its working directory
    # took as much again.
    first, second = ([int(m[2]) for m in took.finditer(c.outcome.detail)] for c in fills)
    assert second[0] >= first[0] - 8
    assert code == 1
    assert mine(docker.from_env()) == ([], [])
