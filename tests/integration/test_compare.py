"""`wheelclash compare` on real runs: call-once twice agrees (exit 0); call-once against its
fixed twin under the same cell ids changes exactly the crashing cell (exit 1).

Each run is the installed `wheelclash` program on the local backend, real wheels and real
processes, kept small with --select (global:a, plain host: two orders, two repeats each).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Final

import jsonschema
import pytest

from harness import paths
from tests.integration.conftest import REPO, SCENARIOS

WHEELCLASH: Final = Path(sys.executable).with_name("wheelclash")
SELECT: Final = "call-once/*/global:a/plain/*"
CRASHING: Final = "call-once/host/global:a/plain/a,b"
SCHEMA: Final = json.loads(paths.COMPARE_SCHEMA.read_text())


def wheelclash(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WHEELCLASH), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def run(scenario: Path, results: Path) -> Path:
    """One real run; returns its folder."""
    done = wheelclash(
        "run", scenario, "--backend", "local", "--select", SELECT, "--results", results
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [folder] = results.iterdir()
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    # The fixed twin renamed to call-once: the same cell ids, b linked -Bsymbolic-functions.
    twin = root / "call-once-fixed.toml"
    text = (SCENARIOS / "call-once-bsymbolic.toml").read_text()
    twin.write_text(text.replace('name = "call-once-bsymbolic"', 'name = "call-once"', 1))
    return {
        "first": run(SCENARIOS / "call-once.toml", root / "first"),
        "second": run(SCENARIOS / "call-once.toml", root / "second"),
        "fixed": run(twin, root / "fixed"),
    }


def test_the_same_scenario_twice_changes_no_verdict(runs: dict[str, Path]) -> None:
    done = wheelclash("compare", runs["first"], runs["second"] / "results.json")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "0 of 2 cells in both runs changed verdict" in lines
    assert "flake rate: A 0.00%, B 0.00%, both runs together 0.00%" in lines


def test_the_fixed_twin_changes_the_crashing_cell_only(runs: dict[str, Path]) -> None:
    done = wheelclash("compare", runs["first"], runs["fixed"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"  {CRASHING}  segfault -> pass" in done.stdout.splitlines()
    assert "1 of 2 cells in both runs changed verdict" in done.stdout

    machine = wheelclash("compare", runs["first"], runs["fixed"], "--json")
    assert machine.returncode == 1, machine.stderr
    document = json.loads(machine.stdout)
    jsonschema.validate(document, SCHEMA)
    assert document["schema_version"] == 1
    assert document["changed"] == [{"cell": CRASHING, "a": ["segfault"], "b": ["pass"]}]
    assert document["only_in_a"] == document["only_in_b"] == []
    # Stable within each run (two repeats alike), half and half over both runs.
    [cell] = document["flake_rate"]["cells"]
    assert cell == {
        "cell": CRASHING,
        "flake_rate": {"a": 0.0, "b": 0.0, "both": 0.5},
        "distribution": {"pass": 2, "segfault": 2},
    }


def test_a_run_folder_without_results_is_exit_2_naming_the_file(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    done = wheelclash("compare", runs["first"], tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"{tmp_path / 'results.json'}: no such file" in done.stderr
    assert "Traceback" not in done.stderr
