"""What a harness error looks like on the terminal: the message, then what the harness saw
(context), then what to do (hint), each on lines of its own; the exception behind it only with
-v, and the traceback only with -vv. Every case is a real bad input given to `wheelclash`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from harness import cli
from harness.errors import InputError, InvalidInputFile
from tests.unit.test_bad_input import GOOD


def broken_baseline(tmp_path: Path) -> Path:
    path = tmp_path / "results.json"
    path.write_text('{"cells": [')
    return path


def baseline_argv(tmp_path: Path) -> list[str]:
    results = tmp_path / "r"
    return [
        "run",
        str(GOOD),
        "--backend",
        "local",
        "--baseline",
        str(broken_baseline(tmp_path)),
        "--results",
        str(results),
    ]


def test_the_error_keeps_its_cause_and_its_parts(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        cli.main_inner(baseline_argv(tmp_path))
    error = raised.value
    assert isinstance(error.__cause__, json.JSONDecodeError)
    assert error.message.endswith("results.json: not a readable results.json")
    assert error.context == str(error.__cause__)
    assert error.hint.startswith("pass the results.json of an earlier run")


def test_message_then_context_then_hint_each_on_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(baseline_argv(tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    baseline = tmp_path / "results.json"
    assert err.splitlines() == [
        f"wheelclash: error: --baseline {baseline}: not a readable results.json",
        "  Expecting value: line 1 column 12 (char 11)",
        "hint: pass the results.json of an earlier run (results/<run-id>/results.json) or its "
        "folder.",
    ]
    assert not (tmp_path / "r").exists(), "a bad baseline must not start a run"


def test_the_cause_shows_with_v_and_the_traceback_with_vv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = baseline_argv(tmp_path)
    plain = capsys.readouterr().err if cli.main(argv) == 2 else ""
    assert "caused by" not in plain and "Traceback" not in plain

    assert cli.main(["-v", *argv]) == 2
    verbose = capsys.readouterr().err
    cause = "caused by: json.decoder.JSONDecodeError: Expecting value: line 1 column 12 (char 11)"
    assert verbose.splitlines()[:4] == [*plain.splitlines(), cause]
    assert "Traceback" not in verbose

    assert cli.main(["-vv", *argv]) == 2
    very = capsys.readouterr().err
    assert cause in very
    assert "Traceback (most recent call last)" in very and "load_baseline" in very


def test_a_problem_list_is_the_context_and_the_parser_error_its_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.wheelclash\n")
    monkeypatch.chdir(tmp_path)
    argv = ["run", str(GOOD), "--results", str(tmp_path / "r")]
    with pytest.raises(InvalidInputFile) as raised:
        cli.main_inner(argv)
    assert isinstance(raised.value.__cause__, tomllib.TOMLDecodeError)

    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "wheelclash: error: 1 problem(s) found:"
    assert lines[1].startswith(f"  - {pyproject}: is not valid TOML: ")
    assert not any(line.startswith("caused by") for line in lines)

    assert cli.main(["--verbose", *argv]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("caused by: tomllib.TOMLDecodeError: ")
