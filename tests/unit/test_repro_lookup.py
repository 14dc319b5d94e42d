"""Finding a cell's stored reproducer: newest run first, ids with or without #repeat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.report.lookup import find_cell


def write_run(root: Path, run_id: str, cells: list[dict[str, str]]) -> Path:
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"cells": cells}))
    return folder


def test_newest_run_wins_and_a_bare_id_means_the_first_repeat(tmp_path: Path) -> None:
    cell = {"id": "s/host/local/plain/a,b#1", "verdict": "pass", "reproducer": "old"}
    write_run(tmp_path, "20261201-100000-aaaa", [cell])
    newer = [
        {"id": "s/host/local/plain/a,b#1", "verdict": "segfault", "reproducer": "new 1"},
        {"id": "s/host/local/plain/a,b#2", "verdict": "segfault", "reproducer": "new 2"},
    ]
    folder = write_run(tmp_path, "20261201-110000-bbbb", newer)
    found = find_cell("s/host/local/plain/a,b", tmp_path)
    assert (found.command, found.verdict, found.id) == ("new 1", "segfault", newer[0]["id"])
    assert find_cell("s/host/local/plain/a,b#2", tmp_path).command == "new 2"
    assert find_cell("s/host/local/plain/a,b#2", folder / "results.json").command == "new 2"


def test_unknown_cells_and_missing_reproducers_are_input_errors(tmp_path: Path) -> None:
    stored = "s/host/local/plain/a#1"
    write_run(tmp_path, "r1", [{"id": stored, "verdict": "infra-error", "reproducer": ""}])
    with pytest.raises(InputError, match="no cell 's/host/local/plain/b'"):
        find_cell("s/host/local/plain/b", tmp_path)
    with pytest.raises(InputError, match="has no reproducer"):
        find_cell(stored, tmp_path)
    with pytest.raises(InputError, match=r"no results\.json there"):
        find_cell(stored, tmp_path / "empty")
    with pytest.raises(InputError, match=r"'s/y' is not a cell id: 2 /-separated parts"):
        find_cell("s/y", tmp_path)
