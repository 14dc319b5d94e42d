"""Integration tests use real compilers, wheels, processes and (when marked) containers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.evidence.results import CellResult

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
PROXY = REPO / "tests" / "integration" / "engine_proxy.py"
ENGINE_SOCKET = "/var/run/docker.sock"


def cells_in(document: Mapping[str, Any]) -> list[CellResult]:
    """The cells of a results document (results.json, or `run --json`'s output), read."""
    return [CellResult.from_json(cell) for cell in document["cells"]]


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
