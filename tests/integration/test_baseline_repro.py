"""Baselines and reproducers end to end on this machine: an injected regression (wheel a
rebuilt with a crashing link mode) exits 1 against its baseline, an unchanged run exits 0,
and a failing cell's stored one-liner segfaults without wheelclash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.analysis import reproducer
from harness.cells.jobs import CellJob, Import
from harness.cli import main
from tests.integration.conftest import REPO, cells_in

DATA = REPO / "tests" / "data" / "baseline"
BEFORE, AFTER = DATA / "before.toml", DATA / "after.toml"
CRASH = "injected-regression/host/global:a/plain/a,b"
SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
# Only what a shell needs: nothing of wheelclash's environment leaks into the reproducer.
BARE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def run(
    capsys: pytest.CaptureFixture[str], root: Path, scenario: Path, *extra: str
) -> tuple[int, str, dict[str, Any]]:
    """`wheelclash run` into a fresh results root: its exit code, stdout and results."""
    code = main(["run", str(scenario), "--backend", "local", "--results", str(root), *extra])
    out = capsys.readouterr().out
    (results,) = root.glob("*/results.json")
    document: dict[str, Any] = json.loads(results.read_text())
    jsonschema.validate(document, SCHEMA)
    return code, out, document


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {c["cell"]: c["status"] for c in document["baseline"]["cells"]}


def test_injected_regression_exits_1_only_against_its_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, healthy = run(capsys, tmp_path / "r1", BEFORE)
    assert code == 0 and healthy["summary"]["verdicts"] == {"pass": 4}
    old = next((tmp_path / "r1").glob("*/results.json"))

    code, out, regressed = run(capsys, tmp_path / "r2", AFTER, "--baseline", str(old))
    assert code == 1
    assert f"regressed    {CRASH}: pass -> segfault" in out
    assert "1 regressed, 3 unchanged" in out
    assert statuses(regressed) == {
        CRASH: "regressed",
        "injected-regression/host/global:a/plain/b,a": "unchanged",
        "injected-regression/host/local/plain/a,b": "unchanged",
        "injected-regression/host/local/plain/b,a": "unchanged",
    }
    run_dir = next((tmp_path / "r2").iterdir())
    summary = (run_dir / "summary.md").read_text()
    assert f"| regressed | `{CRASH}` | pass | segfault |" in summary
    assert 'data-baseline="regressed"' in (run_dir / "report.html").read_text()

    # The same healthy wheels again: unchanged, exit 0.
    code, out, same = run(capsys, tmp_path / "r3", BEFORE, "--baseline", str(old))
    assert code == 0 and set(statuses(same).values()) == {"unchanged"}

    # The crash again, against the crashing run: its expectation still fails (without a
    # baseline that is exit 1) but nothing regressed, so exit 0.
    crashed = next((tmp_path / "r2").glob("*/results.json"))
    code, out, again = run(capsys, tmp_path / "r4", AFTER, "--baseline", str(crashed.parent))
    assert again["summary"]["unexpected"] == 1
    assert code == 0 and set(statuses(again).values()) == {"unchanged"}

    # And the fix, against the crash: fixed, exit 0.
    code, out, fixed = run(capsys, tmp_path / "r5", BEFORE, "--baseline", str(crashed))
    assert code == 0 and statuses(fixed)[CRASH] == "fixed"


def test_the_one_liner_reproduces_the_segfault_without_wheelclash(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _, document = run(capfd, tmp_path / "runs", AFTER)
    assert code == 1
    cells = {c.id: c for c in cells_in(document)}
    crash, healthy = cells[f"{CRASH}#1"], cells["injected-regression/host/global:a/plain/b,a#1"]
    assert crash.outcome.verdict == "segfault" and healthy.outcome.verdict == "pass"
    assert crash.cell.reproducer.startswith("env ") and "\n" not in crash.cell.reproducer

    done = subprocess.run(
        crash.cell.reproducer,
        shell=True,
        capture_output=True,
        text=True,
        env=BARE_ENV,
        cwd=tmp_path,
    )
    assert done.returncode in (-11, 139), done.stderr  # the shell reports 128 + SIGSEGV
    assert "Segmentation fault" in done.stderr and reproducer.DONE_MESSAGE not in done.stdout
    done = subprocess.run(
        healthy.cell.reproducer, shell=True, capture_output=True, text=True, env=BARE_ENV
    )
    assert done.returncode == 0 and reproducer.DONE_MESSAGE in done.stdout

    # `wheelclash repro` finds the newest run's cell and runs it in this terminal.
    capfd.readouterr()
    assert main(["repro", CRASH, "--results", str(tmp_path / "runs")]) == 139
    _, err = capfd.readouterr()
    assert f"# {CRASH}#1: recorded verdict segfault" in err
    assert "Fatal Python error: Segmentation fault" in err
    assert "ended with exit 139 (signal 11, SIGSEGV)" in err
    assert main(["repro", "no/such/cell", "--results", str(tmp_path / "runs")]) == 2


def test_junit_names_each_cell_and_says_why_it_failed(pytester: pytest.Pytester) -> None:
    shutil.copytree(REPO / "fixtures", pytester.path / "fixtures")
    (pytester.path / "scenarios").mkdir()
    shutil.copy(AFTER, pytester.path / "scenarios" / "injected.toml")
    result = pytester.runpytest_subprocess(
        "scenarios", "-p", "no:cacheprovider", "--junitxml=junit.xml"
    )
    result.assert_outcomes(passed=3, failed=1)
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {
        f"{CRASH}#1",
        "injected-regression/host/global:a/plain/b,a#1",
        "injected-regression/host/local/plain/a,b#1",
        "injected-regression/host/local/plain/b,a#1",
    }
    assert {case.get("classname") for case in cases.values()} == {"scenarios.injected.toml"}
    failure = cases[f"{CRASH}#1"].find("failure")
    assert failure is not None
    assert (failure.get("message") or "").startswith(f"segfault, expected pass: {CRASH}#1")
    text = failure.text or ""
    assert "SIGSEGV during import wc_call_once_b" in text
    assert "reproduce without wheelclash:" in text and "RTLD_GLOBAL" in text


def snippet_job(snippet: str) -> CellJob:
    """A cell of two standard-library imports and the scenario's exercise code."""
    return CellJob(
        cell_id="s/host/local/plain/a,b",
        imports=(Import(module="json", rtld_global=False), Import(module="csv", rtld_global=True)),
        exercises=(),
        victims=True,
        preload="",
        timeout_s=30,
        snippet=snippet,
    )


def run_reproducer(job: CellJob) -> subprocess.CompletedProcess[str]:
    command = reproducer.local_command(job, sys.executable)
    return subprocess.run(command, shell=True, capture_output=True, text=True, check=False)


def test_the_reproducer_runs_the_scenarios_exercise_code_and_fails_where_it_fails() -> None:
    # Quotes, a dollar, a backslash and several lines survive the shell and Python quoting.
    failing = snippet_job(
        "import json\n"
        "text = 'it\\'s \"$HOME\" \\\\ ok'\n"
        "assert json.loads('[1]') == [2], 'wrong on purpose: ' + text\n"
    )
    done = run_reproducer(failing)
    assert done.returncode == 1, done.stderr
    assert 'AssertionError: wrong on purpose: it\'s "$HOME" \\ ok' in done.stderr
    assert 'File "<exercise>", line 3' in done.stderr
    assert reproducer.DONE_MESSAGE not in done.stdout

    passing = snippet_job("import json\nassert json.loads('[1]') == [1]\nprint('snippet ran')")
    done = run_reproducer(passing)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["snippet ran", reproducer.DONE_MESSAGE]
    # The snippet runs after the imports and before the victims, as in the probe.
    steps = reproducer.python_script(passing)
    assert steps.index("import csv as m1") < steps.index("exec(") < steps.index("import hashlib")
