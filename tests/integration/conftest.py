"""Integration tests use real compilers, wheels, processes and (when marked) containers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import psutil
import pytest

from harness.build.toolchains import load_catalogue
from harness.build.wheels import BuiltWheel
from harness.cells.backends import docker as docker_backend
from harness.evidence.results import CellResult
from harness.run.runner import wheels_for
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan
from tests.integration.cli_process import CliSpawner

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
PROXY = REPO / "tests" / "integration" / "engine_proxy.py"
ENGINE_SOCKET = "/var/run/docker.sock"


def cells_in(document: Mapping[str, Any]) -> list[CellResult]:
    """The cells of a results document (results.json, or `run --json`'s output), read."""
    return [CellResult.from_json(cell) for cell in document["cells"]]


def built_for(name: str, backend: Any, target: str) -> dict[str, BuiltWheel]:
    scenario = load_scenario(SCENARIOS / f"{name}.toml", load_catalogue())
    cell = plan(scenario, targets=[target])[0]
    return {w.wheel_id: w for w in wheels_for(scenario, cell, backend)}


@contextmanager
def probes_watched(token: str) -> Iterator[list[int]]:
    """While the block runs, count the probe processes whose command line holds `token` (in
    containers too: their processes are this kernel's), every 20 ms; yields the counts."""
    counts: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            mine = 0
            for proc in psutil.process_iter(["cmdline"]):
                line = " ".join(proc.info["cmdline"] or ())
                mine += "probe.py" in line and token in line
            counts.append(mine)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield counts
    finally:
        done.set()
        watcher.join(timeout=10)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def second_engine(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A second engine endpoint (a unix socket proxying to this engine) and its request log."""
    sock, log = Path(f"/tmp/wheelclash-engine-{time.monotonic_ns()}.sock"), tmp_path / "req.log"
    log.touch()
    proxy = subprocess.Popen([sys.executable, str(PROXY), str(sock), ENGINE_SOCKET, str(log)])
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        assert sock.exists(), "the engine proxy did not start"
        yield f"unix://{sock}", log
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        sock.unlink(missing_ok=True)


@pytest.fixture
def spawn_cli() -> Iterator[CliSpawner]:
    """Starts `wheelclash` children with known signal dispositions (see cli_process.py)."""
    spawner = CliSpawner(REPO)
    yield spawner
    spawner.end_all()


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    """A client of this machine's engine, closed after the test module (its requests may
    wait for an image to be built: up to 10 minutes)."""
    engine = docker.from_env(timeout=600)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def installs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The docker backend installs every wheel set in the container, keeping none between
    containers (cells/backends/environments.py): for tests of how it installs."""
    settings = replace(docker_backend.load_settings(), kept_environments=0)
    monkeypatch.setattr(docker_backend, "load_settings", lambda: settings)
