"""A docker cell's reproducer is a plain `docker run` of the target's image: it segfaults
for the call-once cell that crashed and passes for the one that passed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from harness.analysis import reproducer
from harness.cells.backends.docker import load_settings
from harness.cells.jobs import CellJob, Import
from harness.cli import main
from tests.integration.conftest import SCENARIOS, cells_in

pytestmark = pytest.mark.docker

CELLS = "call-once/debian-bookworm-x86_64/global:a/plain"


def test_docker_one_liner_reproduces_the_call_once_segfault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", str(SCENARIOS / "call-once.toml"), "--backend", "docker"]
    args += ["--target", "debian:bookworm", "--select", f"{CELLS}/*#1"]
    assert main([*args, "--results", str(tmp_path), "--json"]) == 0
    cells = {c.id: c for c in cells_in(json.loads(capsys.readouterr().out))}
    crash, healthy = cells[f"{CELLS}/a,b#1"], cells[f"{CELLS}/b,a#1"]
    assert crash.outcome.verdict == "segfault" and healthy.outcome.verdict == "pass"
    document = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    image = document["provenance"]["targets"][0]["image_id"]
    for flag in ("--network none", "--read-only", "--cap-drop ALL", "setpriv", image):
        assert flag in crash.cell.reproducer
    assert crash.cell.reproducer.count(":ro ") == 2  # both wheels, read-only from the cache

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for key in ("DOCKER_HOST", "DOCKER_CONFIG", "HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    done = subprocess.run(
        crash.cell.reproducer, shell=True, capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 139, done.stderr[-2000:]  # docker run: 128 + SIGSEGV
    assert "Fatal Python error: Segmentation fault" in done.stderr
    done = subprocess.run(
        healthy.cell.reproducer, shell=True, capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert reproducer.DONE_MESSAGE in done.stdout

    # The one-liner holds the code as the cells' containers do: the cells' user, in the cells'
    # folder, nothing writable but the scratch folders, no network, the venv read-only.
    words = shlex.split(crash.cell.reproducer)
    wheels = [w.split(":")[0] for w in words if w.endswith(".whl:ro")]
    settings = load_settings()
    probe = CellJob(
        cell_id="confinement",
        imports=(Import(module="wc_call_once_b", rtld_global=False),),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=60,
        snippet=CONFINED.format(cells=settings.cells, venv=settings.venv),
    )
    command = reproducer.docker_command(
        probe,
        image=image,
        wheels=wheels,
        confinement=settings.confinement,
        venv=settings.venv,
        cells=settings.cells,
    )
    done = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert reproducer.DONE_MESSAGE in done.stdout


CONFINED = """
import os, socket
assert (os.getuid(), os.getgid(), os.getgroups()) == (10001, 10001, []), os.getuid()
assert os.getcwd() == {cells!r} and os.environ["HOME"] == {cells!r}.rsplit("/", 1)[0]
for path in ("/", "/usr", "/etc/passwd-x", {venv!r} + "/x"):
    try:
        open(path if path != "/" else "/x", "w")
    except OSError:
        pass
    else:
        raise AssertionError("wrote " + path)
open("written", "w").write("the cells' folder is writable")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
except OSError:
    pass
else:
    raise AssertionError("reached the network")
"""
