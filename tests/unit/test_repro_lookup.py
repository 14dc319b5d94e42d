"""Finding a cell's stored reproducer: newest run first, ids with or without #repeat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.common.verdicts import Verdict
from harness.errors import InputError
from harness.report.lookup import find_cell
from tests.unit.helpers import made_result, written_run

CELL = "s/host/local/plain/a,b"


def test_newest_run_wins_and_a_bare_id_means_the_first_repeat(tmp_path: Path) -> None:
    written_run(
        tmp_path / "20261201-100000-aaaa",
        [made_result("s", ("a", "b"), Verdict.PASS, reproducer="old")],
    )
    newer = [
        made_result("s", ("a", "b"), Verdict.SEGFAULT, 1, reproducer="new 1"),
        made_result("s", ("a", "b"), Verdict.SEGFAULT, 2, reproducer="new 2"),
    ]
    results = written_run(tmp_path / "20261201-110000-bbbb", newer)
    found = find_cell(CELL, tmp_path)
    assert (found.command, found.verdict, found.id) == ("new 1", "segfault", newer[0].id)
    assert find_cell(f"{CELL}#2", tmp_path).command == "new 2"
    assert find_cell(f"{CELL}#2", results).command == "new 2"


def test_unknown_cells_and_missing_reproducers_are_input_errors(tmp_path: Path) -> None:
    written_run(tmp_path / "r1", [made_result("s", ("x",), Verdict.INFRA_ERROR)])
    with pytest.raises(InputError, match="no cell 's/host/local/plain/y'"):
        find_cell("s/host/local/plain/y", tmp_path)
    with pytest.raises(InputError, match="has no reproducer"):
        find_cell("s/host/local/plain/x#1", tmp_path)
    with pytest.raises(InputError, match=r"no results\.json there"):
        find_cell("s/host/local/plain/x#1", tmp_path / "empty")
    with pytest.raises(InputError, match=r"'s/y' is not a cell id: 2 /-separated parts"):
        find_cell("s/y", tmp_path)


def test_a_run_of_another_schema_version_is_passed_over_and_named(tmp_path: Path) -> None:
    old = tmp_path / "20261101-100000-aaaa" / "results.json"
    old.parent.mkdir()
    old.write_text(json.dumps({"schema_version": 1, "cells": [{"id": f"{CELL}#1"}]}))
    written_run(
        tmp_path / "20261201-100000-bbbb",
        [made_result("s", ("a", "b"), Verdict.PASS, reproducer="r")],
    )
    assert find_cell(CELL, tmp_path).command == "r"
    with pytest.raises(InputError, match=r"1 results file\(s\) there could not be read") as caught:
        find_cell("s/host/local/plain/y", tmp_path)
    assert str(old) in str(caught.value) and "schema_version 1" in str(caught.value)
    with pytest.raises(InputError, match="re-run the scenarios"):
        find_cell(CELL, old)
