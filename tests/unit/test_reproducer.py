"""Reproducer one-liners: what the Python does, and that the shell quoting round-trips."""

from __future__ import annotations

import ast
import shlex

from harness.analysis import reproducer
from harness.cells.backends.docker import load_settings
from harness.cells.jobs import CellJob, Exercise, Import

JOB = CellJob(
    cell_id="s/host/global:a/preload-libstdcxx/a,b#1",
    imports=(Import(module="wc_a", rtld_global=True), Import(module="wc_b", rtld_global=False)),
    exercises=(
        Exercise(module="wc_a", function="exercise", threads=1),
        Exercise(module="wc_b", function="exercise", threads=2),
    ),
    victims=True,
    preload="libstdc++.so.6",
    timeout_s=30,
    env=(("MALLOC_CHECK_", "3"), ("ODD", "it's $HOME")),
)
SETTINGS = load_settings()
HELD = {"confinement": SETTINGS.confinement, "venv": SETTINGS.venv, "cells": SETTINGS.cells}


def test_script_imports_in_order_with_the_cells_dlopen_flags() -> None:
    script = reproducer.python_script(JOB)
    assert "\n" not in script
    ast.parse(script)  # valid Python
    steps = script.split(";")
    a = steps.index("import wc_a as m0")
    assert steps[a - 1] == "sys.setdlopenflags(f|os.RTLD_GLOBAL)"
    assert steps[a + 1] == "sys.setdlopenflags(f)"
    b = steps.index("import wc_b as m1")
    assert b > a and "RTLD_GLOBAL" not in steps[b - 1]
    assert "assert m0.exercise() is not False" in steps
    assert "assert threaded(m1.exercise,2)" in steps
    assert steps.index("assert threaded(m1.exercise,2)") > b
    assert any(s.startswith("import hashlib,ssl,sqlite3") for s in steps)
    assert steps[-1] == f'print("{reproducer.DONE_MESSAGE}")'


def test_script_without_exercises_or_victims_only_imports() -> None:
    job = CellJob(
        cell_id="x",
        imports=(Import(module="m", rtld_global=False),),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=5,
    )
    script = reproducer.python_script(job)
    assert "threaded" not in script and "hashlib" not in script and "RTLD_GLOBAL" not in script


def test_local_command_round_trips_through_the_shell() -> None:
    command = reproducer.local_command(JOB, "/cache/venvs/k y/bin/python")
    words = shlex.split(command)
    assert words[0] == "env"
    assert "LD_PRELOAD=libstdc++.so.6" in words
    assert "MALLOC_CHECK_=3" in words and "ODD=it's $HOME" in words
    assert "PYTHONDONTWRITEBYTECODE=1" in words
    assert words[-3:] == ["/cache/venvs/k y/bin/python", "-c", reproducer.python_script(JOB)]


def test_docker_command_is_confined_and_mounts_the_wheels_read_only() -> None:
    wheels = ["/cache/wheels/1/wc_a-1.0-cp38-abi3-manylinux_2_34_x86_64.whl", "/c/w/wc_b.whl"]
    command = reproducer.docker_command(JOB, image="sha256:abc", wheels=wheels, **HELD)
    assert "\n" not in command
    words = shlex.split(command)
    assert words[:4] == ["docker", "run", "--rm", "--init"]
    for flag in ("--network none", "--read-only", "--cap-drop ALL", "--pids-limit 512"):
        assert flag in command
    # The cells' own scratch folders, sizes and owners (docker.toml), and nothing else writable
    # but the venv's anonymous volume.
    tmpfs = [words[i + 1] for i, word in enumerate(words) if word == "--tmpfs"]
    assert tmpfs == [f"{s.path}:{s.options()},exec" for s in SETTINGS.confinement.scratch]
    assert "/wheelclash/cells:size=1g,uid=10001,gid=10001,mode=0700,exec" in tmpfs
    assert words[words.index("-v") + 1] == SETTINGS.harness_dir
    assert f"{wheels[0]}:/wheels/wc_a-1.0-cp38-abi3-manylinux_2_34_x86_64.whl:ro" in words
    assert f"{wheels[1]}:/wheels/wc_b.whl:ro" in words
    image = words.index("sha256:abc")
    assert words[image + 1 : image + 3] == ["sh", "-c"]
    script = words[image + 3]
    python = reproducer.python_script(JOB, cwd=SETTINGS.cells)
    assert script.endswith(python.replace('"', '\\"') + '"')
    assert f"os.chdir('{SETTINGS.cells}')" in python
    # Root installs; the cell runs as the cells' user, who cannot write the venv.
    assert "exec setpriv --reuid=10001 --regid=10001 --clear-groups env HOME=/wheelclash" in script
    assert "LD_PRELOAD=libstdc++.so.6" in script
    assert f"{SETTINGS.venv}/bin/python -c" in script
    assert "--no-index" in script and "/wheels/wc_b.whl" in script
    assert "--no-deps" in script  # no wheelhouse: the wheels alone


def test_docker_command_installs_dependencies_from_the_mounted_wheelhouses() -> None:
    command = reproducer.docker_command(
        JOB,
        image="sha256:abc",
        wheels=["/c/w/wc_b.whl"],
        **HELD,
        wheelhouses=["/cache/wheelhouses/k1", "/cache/wheelhouses/k2"],
    )
    words = shlex.split(command)
    assert "/cache/wheelhouses/k1:/wheelhouse0:ro" in words
    assert "/cache/wheelhouses/k2:/wheelhouse1:ro" in words
    script = words[words.index("sha256:abc") + 3]
    assert "--find-links /wheelhouse0 --find-links /wheelhouse1" in script
    assert "--no-deps" not in script
