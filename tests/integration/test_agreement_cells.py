"""Predictions against real cells of the fixture wheels: the call-once crash is credited to the
call-once prediction from the frames of its stored backtrace, and not to a bystander's
prediction (s exports runtime internals, mechanism 2, but it was never even imported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.agreement import summary_lines
from harness.cli import main
from tests.integration.conftest import cells_in

SCENARIO = """\
name = "bystander"
description = "The call-once pair, with the first-loader-hijack wheel s imported last."

[[wheels]]
id = "a"
fixture = "call_once"
toolchain = "gcc"
link = "static-libstdcxx-hidden"

[[wheels]]
id = "b"
fixture = "call_once"
toolchain = "gcc"
link = "shared"

[[wheels]]
id = "s"
fixture = "healthy"
toolchain = "gcc"
link = "nonshared"

[matrix]
dlopen = ["global:a"]
victims = false

[[expect]]
when = { before = ["a", "b"] }
verdict = "segfault"

[[expect]]
verdict = "pass"
"""


def test_a_crash_is_credited_to_its_prediction_not_to_a_bystander(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bystander.toml"
    scenario.write_text(SCENARIO)
    argv = ["run", str(scenario), "--backend", "local", "--results", str(tmp_path / "runs")]
    code = main([*argv, "--select", "*/a,b,s#*", "--select", "*/b,a,s#*", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, cells_in(document)
    verdicts = {tuple(c.cell.order): c.outcome.verdict for c in cells_in(document)}
    assert verdicts == {("a", "b", "s"): "segfault", ("b", "a", "s"): "pass"}
    rows = {(r.get("predictor"), r.get("wheel")): r for r in document["agreement"]}
    call_once = rows[("call-once-interposition", "a")]
    assert call_once["observed"] is True and call_once["explained"] == 1
    assert "in wc_call_once_a.abi3.so" in call_once["detail"], call_once["detail"]
    bystander = rows[("runtime-internals", "s")]
    assert bystander["mechanism"] == "2" and bystander["failed"] == 1
    assert bystander["observed"] is False and bystander["explained"] == 0
    assert "1 failed, not explained (segfault)" in bystander["detail"]
    assert (None, None) not in rows  # every failing cell is explained by something it names
    results = next((tmp_path / "runs").glob("*/results.json"))
    lines = summary_lines(results)
    assert len(lines) == len(set(lines)) == 1 + len(document["agreement"])
    assert any(line.startswith("  mechanism 1: predicted and observed:") for line in lines)
    assert any(
        line.startswith("  mechanism 2: predicted; failed, not explained:") for line in lines
    )
