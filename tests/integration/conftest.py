"""Integration tests use real compilers, wheels, processes and (when marked) containers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli_process import CliSpawner

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def spawn_cli() -> Iterator[CliSpawner]:
    """Starts `wheelclash` children with known signal dispositions (see cli_process.py)."""
    spawner = CliSpawner(REPO)
    yield spawner
    spawner.end_all()
