"""`wheelclash doctor` against this machine and its real Docker engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.images.doctor_checks import load_table
from tests.integration.conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.integration]


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "doctor", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def by_name(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    document = json.loads(done.stdout)
    assert document["schema_version"] == 1
    return {check["name"]: check for check in document["checks"]}


def test_engine_and_storage_driver_lines_say_what_the_engine_reports() -> None:
    client = docker.from_env(timeout=30)
    try:
        version, driver = client.version()["Version"], client.info()["Driver"]
    finally:
        client.close()
    done = doctor("--json")
    checks = by_name(done)
    assert checks["engine"]["status"] == "ok", checks["engine"]
    assert f"Docker Engine {version} " in checks["engine"]["detail"]
    storage = checks["storage-driver"]
    assert storage["detail"].startswith(driver)
    if driver in load_table().slow_drivers:  # this machine's engine: fuse-overlayfs
        assert storage["status"] == "warn"
        assert "daemon.json" in storage["fix"] and "overlay2" in storage["fix"]
    else:
        assert storage["status"] == "ok"
    statuses = {check["status"] for check in checks.values()}
    assert statuses <= {"ok", "warn", "fail"}
    assert done.returncode == (1 if "fail" in statuses else 0), done.stdout
    assert json.loads(done.stdout)["runnable"] is (done.returncode == 0)
    assert {"cgroup", "disk:images", "disk:cache", "mmdebstrap", "index:pypi"} <= set(checks)
    assert {"toolchain:gcc", "toolchain:zig", "binfmt:aarch64"} <= set(checks)


def test_a_dead_engine_fails_the_engine_line_and_the_exit_status(tmp_path: Path) -> None:
    dead = f"unix://{tmp_path / 'no-engine.sock'}"
    done = doctor(env={"DOCKER_HOST": dead})
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    engine = next(line for line in lines if line.split()[1:2] == ["engine"])
    assert engine.startswith("fail  engine ") and dead in engine and "fix: " in engine
    assert "a run cannot work here" in lines[-1]
    # One line per check, each led by its status, the same checks as --json gives.
    checks = by_name(doctor("--json", env={"DOCKER_HOST": dead}))
    rows = [line.split()[:2] for line in lines[: len(checks)]]
    assert [name for _, name in rows] == list(checks)
    assert [status for status, _ in rows] == [c["status"] for c in checks.values()]
    assert checks["engine"]["status"] == "fail"
