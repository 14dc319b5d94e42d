"""Integration tests use real compilers, wheels, processes and (when marked) containers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.evidence.results import CellResult

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


def cells_in(document: Mapping[str, Any]) -> list[CellResult]:
    """The cells of a results document (results.json, or `run --json`'s output), read."""
    return [CellResult.from_json(cell) for cell in document["cells"]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
