"""Sharded atlas runs on this machine (local backend): two shards run at once, merged with
`wheelclash merge` and written as an edition, give the edition one unsharded run gives: the
same cells with the same verdicts (extra runs of failing cells included), and the same
verdict and conflict tables in summary.md."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from harness.cli import main
from harness.evidence.results import load_results
from tests.integration.cli_process import CliSpawner
from tests.integration.test_atlas import SCHEMA, atlas, corpus, fixture_wheels, only_folder


def tables(summary: Path) -> list[str]:
    """summary.md's tables (verdicts, conflicts), without the lines naming the run."""
    return [line for line in summary.read_text().splitlines() if line.startswith("|")]


def test_two_shards_merged_give_the_edition_of_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spawn_cli: CliSpawner
) -> None:
    once, _, healthy = fixture_wheels()
    path = corpus(tmp_path, once["a"], once["b"], healthy)
    common = ("--no-previous", "--backend", "local", "--repeat-failures", "2")

    whole = ("--results", str(tmp_path / "whole"), "--editions", str(tmp_path / "e-whole"))
    assert atlas(str(path), *whole, "--no-previous") == 0
    capsys.readouterr()

    shards = [
        spawn_cli("atlas", path, *common, "--shard", f"{k}/2", "--results", tmp_path / f"s{k}")
        for k in (1, 2)
    ]
    for shard in shards:
        out, err = shard.communicate(timeout=600)
        assert shard.returncode == 0, err
        assert "a shard writes no edition" in out
    parts = [str(only_folder(tmp_path / f"s{k}") / "results.json") for k in (1, 2)]
    _, first = load_results(Path(parts[0]))
    _, second = load_results(Path(parts[1]))
    assert first and second and not {c.id for c in first} & {c.id for c in second}

    # merge exits 1: the crashing cells are unexpected (every pair is expected to pass)
    assert main(["merge", *parts, "--results", str(tmp_path / "merged")]) == 1
    merged = only_folder(tmp_path / "merged")
    document, _ = load_results(merged)
    jsonschema.validate(document, SCHEMA)
    # each shard shared an environment among its own wheel sets; the merge keeps both apart
    pools = document["run"]["pools"]
    assert sorted(pool["name"] for pool in pools) == ["1/2 pool-1", "2/2 pool-1"]
    assert sorted(g for pool in pools for g in pool["groups"]) == sorted(
        {c.cell.group for c in (*first, *second)}
    )
    assert len(document["reuse"]["environments"]) == 6 and document["reuse"]["from"] is None
    edition = ("--corpus", str(path), "--editions", str(tmp_path / "e-sharded"))
    assert main(["atlas", "edition", str(merged), *edition]) == 0

    one = only_folder(tmp_path / "e-whole")
    sharded = only_folder(tmp_path / "e-sharded")
    _, one_cells = load_results(one)
    _, sharded_cells = load_results(sharded)
    verdicts = [(c.id, c.outcome.verdict, c.outcome.last_step) for c in one_cells]
    assert verdicts == [(c.id, c.outcome.verdict, c.outcome.last_step) for c in sharded_cells]
    assert len(verdicts) == 27 + 4 and {v for _, v, _ in verdicts} == {"pass", "segfault"}
    assert [c.attribution for c in one_cells] == [c.attribution for c in sharded_cells]
    assert tables(one / "summary.md") == tables(sharded / "summary.md")
    assert any("| a + b | global-all |" in line for line in tables(one / "summary.md"))
