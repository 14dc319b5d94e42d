"""Incremental atlas editions on this machine (local backend): a second edition in which one
corpus wheel changed (b's `-Bsymbolic-functions` twin in b's place) runs only b's pairs again
and takes the unchanged pair's cells from the first edition, saying which and from where."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from harness import paths
from harness.evidence.results import load_results
from tests.integration.test_atlas import atlas, corpus, fixture_wheels

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())


def test_a_changed_wheel_reruns_only_its_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    once, fixed, healthy = fixture_wheels()
    editions = tmp_path / "editions"
    out = ("--editions", str(editions))

    first_corpus = corpus(tmp_path, once["a"], once["b"], healthy)
    assert atlas(str(first_corpus), "--results", str(tmp_path / "r1"), *out) == 0
    text = capsys.readouterr().out
    assert "no previous results used (no previous edition of this target)" in text
    (first,) = editions.iterdir()
    document, first_cells = load_results(first)
    assert document["reuse"]["from"] is None and document["reuse"]["cells"] == []
    assert set(document["reuse"]["environments"]) == {
        "a--b/host",
        "a--h/host",
        "b--h/host",
        "a/host",
        "b/host",
        "h/host",
    }

    (tmp_path / "two").mkdir()
    second_corpus = corpus(tmp_path / "two", once["a"], fixed["b"], healthy)
    assert atlas(str(second_corpus), "--results", str(tmp_path / "r2"), *out) == 0
    text = capsys.readouterr().out
    (second,) = [p for p in editions.iterdir() if p != first]
    previous = first / "results.json"
    assert f"reused 12 cells of 3 of 6 environments from {previous}" in text
    assert "the latest edition of host" in text

    document, cells = load_results(second)
    jsonschema.validate(document, SCHEMA)
    record = document["reuse"]
    assert record["from"] == str(previous)
    assert record["groups"] == ["a--h/host", "a/host", "h/host"]
    taken = {c.id for c in first_cells if c.cell.scenario in ("a--h", "a", "h")}
    assert set(record["cells"]) == taken and len(taken) == 6 + 3 + 3
    # the taken cells are the first edition's, verdicts, durations and all
    before = {c.id: c.outcome for c in first_cells}
    assert all(c.outcome == before[c.id] for c in cells if c.id in taken)
    # b's pairs ran again: b's twin no longer crashes when a is global first
    ran = {(c.cell.scenario, c.cell.dlopen, ",".join(c.cell.order)): c for c in cells}
    assert ran[("a--b", "global-first", "a,b")].outcome.verdict == "pass"
    assert ran[("a--b", "global-first", "b,a")].outcome.verdict == "segfault"
    assert (
        record["environments"]["a--h/host"]
        == json.loads(previous.read_text())["reuse"]["environments"]["a--h/host"]
    )
    assert (
        record["environments"]["a--b/host"]
        != json.loads(previous.read_text())["reuse"]["environments"]["a--b/host"]
    )
    # 3 pairs × 2 orders × 3 modes, 3 wheels alone × 3 modes, 2 failing cells run again
    assert len(cells) == 18 + 9 + 2
    summary = (second / "summary.md").read_text()
    assert f"12 of 29 cells (3 unchanged environments) were taken from `{previous}`" in summary

    # the same corpus again: everything is taken from the second edition; --no-previous
    # takes nothing
    assert atlas(str(second_corpus), "--results", str(tmp_path / "r3"), *out) == 0
    assert f"reused 29 cells of 6 of 6 environments from {second / 'results.json'}" in (
        capsys.readouterr().out
    )
    shutil.rmtree(tmp_path / "r3")
    assert atlas(str(second_corpus), "--results", str(tmp_path / "r4"), "--no-previous") == 0
    assert "reused" not in capsys.readouterr().out.split("no previous results used")[0]
