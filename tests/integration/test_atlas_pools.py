"""The atlas's shared environments, end to end on this machine (local backend): pairs that can
be installed together run in one environment, each cell hiding what its own pair would not
install, and give the verdicts that an environment per pair gives.

The corpus is three small wheels built here. `peek`'s exercise fails when it can find
`other`: so it passes alone and beside `third` only if the hiding works, and fails beside
`other`, where `other` is really installed, in both ways of running."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from harness import paths
from harness.cli import main
from harness.evidence.results import load_results
from tests.unit.helpers import build_wheel

PEEK = (
    "import importlib.util, importlib.metadata\n"
    "assert importlib.util.find_spec('other') is None, 'other is visible'\n"
    "try:\n"
    "    importlib.metadata.version('other')\n"
    "except importlib.metadata.PackageNotFoundError:\n"
    "    pass\n"
    "else:\n"
    "    raise AssertionError('other has metadata')\n"
)


def corpus(folder: Path) -> Path:
    wheels = folder / "wheels"
    wheels.mkdir()
    tag = "py3-none-any"
    peek = build_wheel(wheels, "peek", {"peek/__init__.py": "VALUE = 1\n"}, tag=tag)
    other = build_wheel(wheels, "other", {"other.py": "VALUE = 2\n"}, tag=tag)
    third = build_wheel(wheels, "third", {"third/__init__.py": "VALUE = 3\n"}, tag=tag)
    path = folder / "corpus.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "pools"
            description = "a wheel that must not see another"
            timeout = 60

            [[wheel]]
            id = "peek"
            wheel = "{peek}"
            exercise = {json.dumps(PEEK)}

            [[wheel]]
            id = "other"
            wheel = "{other}"

            [[wheel]]
            id = "third"
            wheel = "{third}"
            """
        )
    )
    return path


def run(path: Path, results: Path, *more: str) -> dict[str, str]:
    code = main(
        [
            "atlas",
            str(path),
            "--backend",
            "local",
            "--repeat-failures",
            "1",
            "--no-previous",
            "--results",
            str(results),
            "--editions",
            str(results / "editions"),
            *more,
        ]
    )
    assert code in (0, 1)
    (run_dir,) = [p for p in results.iterdir() if p.is_dir() and p.name != "editions"]
    document, cells = load_results(run_dir)
    jsonschema.validate(document, json.loads(paths.RESULTS_SCHEMA.read_text()))
    return {
        "pools": json.dumps(document["run"].get("pools", [])),
        **{c.id: c.outcome.verdict for c in cells},
    }


def test_pooled_cells_see_only_their_pair_and_agree_with_own_environments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus(tmp_path)
    pooled = run(path, tmp_path / "pooled")
    own = run(path, tmp_path / "own", "--own-environments")

    pools = json.loads(pooled.pop("pools"))
    assert json.loads(own.pop("pools")) == []
    (pool,) = pools
    assert sorted(pool["groups"]) == sorted({"/".join(cell.split("/")[:2]) for cell in pooled})
    assert len(pool["groups"]) == 6  # three wheels alone, three pairs

    assert pooled == own
    failing = {cell for cell, verdict in pooled.items() if verdict != "pass"}
    assert failing and all(cell.startswith("other--peek/") for cell in failing)
    assert {pooled[c] for c in failing} == {"wrong-result"}
    assert all(v == "pass" for c, v in pooled.items() if c.startswith(("peek/", "peek--third/")))


def test_a_resumed_run_opens_and_records_the_pools_of_the_whole_run(tmp_path: Path) -> None:
    path = corpus(tmp_path)
    results = tmp_path / "pooled"
    whole = run(path, results)
    (run_dir,) = [p for p in results.iterdir() if p.is_dir() and p.name != "editions"]
    # stopped after the first wheel set's cells: the sets left are not all of the pool's
    stream = run_dir / "cells.jsonl"
    lines = stream.read_text().splitlines(keepends=True)
    first = json.loads(lines[0])["id"].split("/")[0]
    kept = [line for line in lines if json.loads(line)["id"].split("/")[0] == first]
    assert 0 < len(kept) < len(lines)
    stream.write_text("".join(kept))
    (run_dir / "results.json").unlink()

    code = main(["atlas", str(path), "--resume", str(run_dir), "--editions", str(tmp_path / "e")])
    assert code in (0, 1)
    document, cells = load_results(run_dir)
    assert json.dumps(document["run"]["pools"]) == whole.pop("pools")
    assert {c.id: c.outcome.verdict for c in cells} == whole
