"""Scale features end to end on the local backend, with real wheels and processes: covering
arrays past six wheels, -j, shards and merge, and resuming a run killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest

from harness import paths
from harness.cli import main
from harness.scenario.covering import sca_rows
from tests.covering_check import missing_orders
from tests.integration.cli_process import CliSpawner
from tests.integration.conftest import SCENARIOS, cells_in

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
PAIR = [str(SCENARIOS / "call-once.toml"), str(SCENARIOS / "healthy.toml")]


def results_of(root: Path) -> dict[str, Any]:
    (path,) = root.glob("*/results.json")
    document: dict[str, Any] = json.loads(path.read_text())
    jsonschema.validate(document, SCHEMA)
    return document


def essence(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must agree cell for cell between runs: not timings, not stderr addresses."""
    return [
        (c.id, o.verdict, o.subkind, c.cell.expected, o.matches_expectation, o.signal)
        for c in cells_in(document)
        for o in [c.outcome]
    ]


def test_ten_wheels_run_a_verified_three_way_covering_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = SCENARIOS / "healthy-ten.toml"
    code = main(["run", str(scenario), "--backend", "local", "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    size = len(sca_rows(10, 3))
    assert f"{size} orders of 3,628,800 (10!)" in out and "best published 14" in out
    document = results_of(tmp_path)
    cells = cells_in(document)
    orders = [list(c.cell.order) for c in cells]
    assert len(orders) == size
    assert missing_orders(orders, [f"h{i}" for i in range(10)], 3) == []
    assert {c.outcome.verdict for c in cells} == {"pass"}
    (entry,) = document["run"]["orders"]
    assert entry == {
        "scenario": "healthy-ten",
        "wheels": 10,
        "strength": 3,
        "orders": size,
        "permutations": 3628800,
        "published_best": 14,
    }


def test_two_shards_merged_equal_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = tmp_path / "whole"
    assert main(["run", *PAIR, "--backend", "local", "--results", str(whole)]) == 0
    for k in (1, 2):
        shard = ["--shard", f"{k}/2", "-j", "2", "--results", str(tmp_path / f"shard{k}")]
        assert main(["run", *PAIR, "--backend", "local", *shard]) == 0
    parts = [results_of(tmp_path / f"shard{k}") for k in (1, 2)]
    # The plan's 40 cells split 20/20; the 24-cell healthy group is cut at the share.
    assert [len(p["cells"]) for p in parts] == [20, 20]
    assert not {c.id for c in cells_in(parts[0])} & {c.id for c in cells_in(parts[1])}
    capsys.readouterr()
    code = main(
        [
            "merge",
            *(str(next((tmp_path / f"shard{k}").glob("*/"))) for k in (1, 2)),
            "--results",
            str(tmp_path / "merged"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "40 cells: 36 pass, 4 segfault; 0 unexpected" in out
    merged = results_of(tmp_path / "merged")
    assert essence(merged) == essence(results_of(whole))
    assert merged["run"]["shards"] == ["1/2", "2/2"] and merged["run"]["complete"]
    (merged_dir,) = (tmp_path / "merged").glob("*/")
    assert "40 cells" in (merged_dir / "summary.md").read_text()
    assert (merged_dir / "report.html").read_text().count('class="cell ') >= 40


def test_merge_refuses_other_wheel_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", PAIR[0], "--backend", "local", "--results", str(tmp_path / "a")]) == 0
    document = results_of(tmp_path / "a")
    document["cells"] = [
        replace(c, cell=replace(c.cell, scenario="other")).to_json() for c in cells_in(document)
    ]
    document["provenance"]["wheels"][0]["sha256"] = "0" * 64
    other = tmp_path / "other.json"
    other.write_text(json.dumps(document))
    capsys.readouterr()
    code = main(["merge", str(next((tmp_path / "a").glob("*/"))), str(other)])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot merge: the wheel wc_call_once_" in err and "share ~/.cache/wheelclash" in err


def test_a_killed_run_resumes_to_the_same_results(
    spawn_cli: CliSpawner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = tmp_path / "whole"
    assert main(["run", *PAIR, "--backend", "local", "--results", str(whole)]) == 0
    killed = tmp_path / "killed"
    proc = spawn_cli(
        "run",
        *PAIR,
        "--backend",
        "local",
        "--results",
        killed,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    harness = psutil.Process(proc.pid)
    stream: Path | None = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(killed.glob("*/cells.jsonl"))
        if found and len(found[0].read_bytes().splitlines()) >= 15:
            stream = found[0]
            break
        time.sleep(0.05)
    family = harness.children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert stream is not None, "the run never got 15 cells done"
    # The kernel tells the supervisor its harness died; it kills the cell in flight and goes.
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], f"left running after the harness died: {alive}"
    before = stream.read_bytes()
    finished = len(before.splitlines())
    assert 15 <= finished < 40, f"{finished} cells were done when the harness died"
    assert not (stream.parent / "results.json").exists()
    capsys.readouterr()
    assert main(["run", "--resume", str(stream.parent)]) == 0
    after = stream.read_bytes()
    assert after.startswith(before.rstrip(b"\n").rsplit(b"\n", 1)[0])
    assert len(after.splitlines()) == 40, "each missing cell ran once, no finished one again"
    assert essence(results_of(killed)) == essence(results_of(whole))
    assert results_of(killed)["run"]["complete"]
