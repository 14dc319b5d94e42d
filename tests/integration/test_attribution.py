"""Attribution end to end on the local backend, with real fixture wheels and real runs: a
wheel that crashes alone is single-wheel in every order, the call-once pair is cross-wheel,
and a failing three-wheel order is reduced to that pair by runs made at the finish step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.common.verdicts import FailureKind, Verdict
from harness.evidence.results import Attribution
from tests.integration.conftest import REPO, SCENARIOS, cells_in

DATA = REPO / "tests" / "data" / "attribution"
ALONE = DATA / "crashes-alone.toml"
THREE = DATA / "call-once-among-three.toml"
SEGV_STEP = "exercise wc_torture.segv"
IMPORT_B = "import wc_call_once_b"


def run(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    """`wheelclash run` on the local backend; its exit code and results.json."""
    results = tmp_path / "results"
    code = main(["run", *argv, "--backend", "local", "--results", str(results)])
    (run_dir,) = results.iterdir()
    return code, json.loads((run_dir / "results.json").read_text())


def test_a_wheel_crashing_alone_is_the_single_wheel_culprit_of_every_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = run(tmp_path, str(ALONE))
    out = capsys.readouterr().out
    # The expectation selects on failure_kind, known only at the finish step, and holds.
    assert code == 0 and document["summary"]["unexpected"] == 0
    cells = {c.id: c for c in cells_in(document)}
    alone = Attribution(culprits=("t",), failure_kind=FailureKind.SINGLE_WHEEL, step=SEGV_STEP)
    failing = {i for i, c in cells.items() if c.outcome.verdict == Verdict.SEGFAULT}
    # t alone, and all six orders of the three wheels, each with t's exercise crashing
    assert failing == {i for i in cells if "t" in cells[i].cell.order}
    assert len(failing) == 7
    assert {cells[i].attribution for i in failing} == {alone}
    assert all(c.attribution is None for i, c in cells.items() if i not in failing)
    assert {cells[i].cell.expected for i in failing} == {"segfault"}
    # the singleton cells answered everything: no attribution run
    assert document["attribution"]["runs"] == 0 and document["attribution"]["cells"] == 7
    assert (
        "failures by culprit:\n  single-wheel: t ×7 (segfault at exercise wc_torture.segv)" in out
    )


def test_the_call_once_pair_is_cross_wheel_from_singletons_run_at_the_end(
    tmp_path: Path,
) -> None:
    """call-once has no singleton cells: attribution runs a and b alone (a RTLD_GLOBAL, b
    locally, as `global:a` loads them), sees neither crash, and names both."""
    select = "call-once/host/global:a/plain/*"
    code, document = run(tmp_path, str(SCENARIOS / "call-once.toml"), "--select", select)
    assert code == 0
    failing = [c for c in cells_in(document) if c.outcome.verdict != Verdict.PASS]
    assert [c.id for c in failing] == [
        "call-once/host/global:a/plain/a,b#1",
        "call-once/host/global:a/plain/a,b#2",
    ]
    pair = Attribution(culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step=IMPORT_B)
    assert {c.attribution for c in failing} == {pair}
    record = document["attribution"]
    assert record["runs"] == 2 and record["exhausted"] is False and record["wall_s"] > 0
    assert [(t["cell"], t["verdict"]) for t in record["trials"]] == [
        ("call-once/host/global:a/plain/a", "pass"),
        ("call-once/host/global:a/plain/b", "pass"),
    ]


def test_a_failing_three_wheel_order_is_reduced_to_the_pair_by_real_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = run(tmp_path, str(THREE))
    out = capsys.readouterr().out
    assert code == 0  # `failure_kind = "cross-wheel"` in the expectation holds
    failing = [c for c in cells_in(document) if c.outcome.verdict == Verdict.SEGFAULT]
    assert sorted(",".join(c.cell.order) for c in failing) == ["a,b,h", "a,h,b", "h,a,b"]
    pair = Attribution(culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step=IMPORT_B)
    assert {c.attribution for c in failing} == {pair}
    record = document["attribution"]
    ran = {t["cell"].rsplit("/", 1)[1]: (t["verdict"], t["step"]) for t in record["trials"]}
    # each wheel alone, then pairs until a, b crashes the same way; nothing twice
    assert ran["a,b"] == ("segfault", IMPORT_B)
    assert {ran[w][0] for w in ("h", "a", "b")} == {"pass"}
    assert record["runs"] == len(record["trials"]) == len(ran) <= 8
    assert "cross-wheel: a+b ×3 (segfault at import wc_call_once_b)" in out

    # With no runs allowed the whole order stands, and the notes say why.
    code, document = run(tmp_path / "none", str(THREE), "--attribution-budget", "0")
    failing = [c for c in cells_in(document) if c.outcome.verdict == Verdict.SEGFAULT]
    for cell in failing:
        found = cell.attribution
        assert found is not None and found.culprits == cell.cell.order
        assert found.failure_kind is FailureKind.CROSS_WHEEL
        wheels = ", ".join(cell.cell.order)
        assert found.notes[0].startswith(f"not known whether {wheels} fail alone: the ")
        assert "budget (0 runs) ran out" in found.notes[-1]
    assert document["attribution"]["runs"] == 0 and document["attribution"]["exhausted"]
    assert code == 0
