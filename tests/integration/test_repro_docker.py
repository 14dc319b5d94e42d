"""A docker cell's reproducer is a plain `docker run` of the target's image: it segfaults
for the call-once cell that crashed and passes for the one that passed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.analysis import reproducer
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
    for flag in ("--network none", "--user 10001:10001", "--cap-drop ALL", image):
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
