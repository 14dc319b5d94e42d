"""`wheelclash check WHEEL --against CORPUS` on this machine (local backend): the call-once
fixture's a against a tiny corpus (tests/data/against/corpus.toml) of the fixture's b and a
healthy wheel. a RTLD_GLOBAL with b crashes, attributed to the pair; the corpus wheels alone
come from the corpus's edition, which an atlas run wrote first."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import jsonschema
import pytest

from harness.cli import main
from harness.evidence.results import load_results
from tests.integration.test_atlas import SCHEMA, fixture_wheels

DATA = Path(__file__).resolve().parents[1] / "data" / "against" / "corpus.toml"


def test_a_wheel_against_a_corpus_crashes_with_its_wheel_and_reuses_the_edition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    once, _, healthy = fixture_wheels()
    corpus = tmp_path / "corpus.toml"
    shutil.copyfile(DATA, corpus)
    (tmp_path / "wheels").mkdir()
    names = [entry["wheel"] for entry in tomllib.loads(DATA.read_text())["wheel"]]
    for built, name in zip((once["b"], healthy), names, strict=True):
        shutil.copyfile(built.path, tmp_path / name)
    local = ("--backend", "local")

    assert main(["atlas", str(corpus), "--results", str(tmp_path / "r1"), *local]) == 0
    capsys.readouterr()
    (edition,) = (tmp_path / "editions").iterdir()

    results = tmp_path / "r2"
    argv = ["check", str(once["a"].path), "--against", str(corpus), "--results", str(results)]
    assert main([*argv, *local]) == 1  # a crash: as check, exit 1
    out = capsys.readouterr().out
    assert f"reused 6 cells of 2 of 5 environments from {edition / 'results.json'}" in out
    (run_dir,) = results.iterdir()
    document, cells = load_results(run_dir)
    jsonschema.validate(document, SCHEMA)
    assert {c.cell.scenario for c in cells} == {
        "b",
        "h",
        "wc-call-once-a",
        "b--wc-call-once-a",
        "h--wc-call-once-a",
    }
    assert document["reuse"]["groups"] == ["b/host", "h/host"]
    taken = {c.id for c in cells if c.cell.scenario in ("b", "h")}
    assert set(document["reuse"]["cells"]) == taken and len(taken) == 6
    verdicts = {
        (c.cell.scenario, c.cell.dlopen, ",".join(c.cell.order)): c.outcome.verdict for c in cells
    }
    failed = {key for key, verdict in verdicts.items() if verdict != "pass"}
    # a RTLD_GLOBAL before b, or b global before a: either binds the other's call_once
    # trampoline (tests/integration/test_atlas.py); with the healthy wheel all pass
    assert failed == {
        ("b--wc-call-once-a", mode, order)
        for mode in ("global-all", "global-first")
        for order in ("b,wc_call_once_a", "wc_call_once_a,b")
    }
    assert {verdicts[key] for key in failed} == {"segfault"}
    # attributed to the pair: each wheel alone passes (a's ran now, b's came from the edition)
    attributed = {c.attribution.culprits for c in cells if c.attribution}
    assert attributed == {("b", "wc_call_once_a"), ("wc_call_once_a", "b")}
    assert document["attribution"]["runs"] == 0
    assert (run_dir / "summary.md").is_file()
    assert "segfault" in (run_dir / "summary.md").read_text()
