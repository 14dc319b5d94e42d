"""`wheelclash minimize` with real cells: a failing five-wheel order shrinks to its pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.integration.conftest import cells_in

FIVE = Path(__file__).resolve().parents[1] / "data" / "minimize-five.toml"
CELL = "minimize-five/host/global:a/plain/h1,a,h2,b,h3#1"


def test_a_failing_five_wheel_order_reduces_to_the_responsible_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--backend", "local", "--results", str(tmp_path), "--json", "--select", CELL]
    code = main(["run", str(FIVE), *args])
    document = json.loads(capsys.readouterr().out)
    assert code == 0  # the scenario expects the a-before-b orders to segfault
    assert [c.outcome.verdict for c in cells_in(document)] == ["segfault"]

    assert main(["minimize", str(FIVE), CELL, "--backend", "local", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["verdict"] == "segfault"
    assert found["minimal_order"] == ["a", "b"]
    assert found["failing_orders"] == [["a", "b"]] and found["other_orders"] == [["b", "a"]]
    assert found["runs"] == len(found["trials"]) <= 20
    assert found["trials"][0] == {
        "order": ["h1", "a", "h2", "b", "h3"],
        "verdict": "segfault",
        "subkind": None,
    }

    # From the results of that run, with the wheels as they were recorded.
    run_dir = next(tmp_path.iterdir())
    assert main(["minimize", str(run_dir), CELL, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["minimal_order"] == ["a", "b"]
