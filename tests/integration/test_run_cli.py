"""`wheelclash run` end to end on the mechanism scenarios, with real wheels and processes."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.cli import main
from harness.common.ids import CellId
from tests.integration.conftest import SCENARIOS, cells_in

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
HEAD = 'name = "x"\ndescription = "d"\n'
WHEEL = '[[wheels]]\nid = "a"\nfixture = "healthy"\n'


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def verdicts_by_cell(document: dict[str, Any]) -> dict[str, set[str]]:
    """Verdicts per cell id without its repeat number, over all repeats."""
    found: dict[str, set[str]] = defaultdict(set)
    for cell in cells_in(document):
        found[str(CellId.parse(cell.id).logical)].add(cell.outcome.verdict)
    return found


def test_mechanisms_crash_exactly_where_documented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = [
        SCENARIOS / f"{n}.toml"
        for n in (
            "call-once",
            "call-once-bsymbolic",
            "first-loader-hijack",
            "first-loader-hijack-version-script",
        )
    ]
    code, out, _ = run(
        capsys,
        "run",
        *map(str, scenarios),
        "--results",
        str(tmp_path),
        "--json",
        "--backend",
        "local",
    )
    assert code == 0
    document = json.loads(out)
    jsonschema.validate(document, SCHEMA)
    found = verdicts_by_cell(document)
    crashing = {cell for cell, verdicts in found.items() if verdicts != {"pass"}}
    assert crashing == {
        "call-once/host/global:a/plain/a,b",
        "call-once/host/global:a/preload-libstdcxx/a,b",
        "first-loader-hijack/host/local/plain/s,b",
    }
    # Deterministic over repeats: each crashing cell crashed every time, the same way.
    assert all(found[cell] == {"segfault"} for cell in crashing)
    provenance = document["provenance"]
    assert provenance["harness_version"]
    assert provenance["compilers"]["gcc @ host"].startswith("g++")
    assert {w["sha256"] for w in provenance["wheels"]} and provenance["targets"][0][
        "glibc"
    ].startswith("glibc")
    hijack = next(
        c.outcome
        for c in cells_in(document)
        if c.id == "first-loader-hijack/host/local/plain/s,b#1"
    )
    assert hijack.last_step == "import wc_call_once_b" and hijack.signal == 11
    assert "Segmentation fault" in hijack.stderr_tail


def test_wrong_expectation_exits_1_and_shows_the_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        (SCENARIOS / "first-loader-hijack.toml")
        .read_text()
        .replace('verdict = "segfault"', 'verdict = "pass"')
    )
    scenario = tmp_path / "scenarios" / "wrong.toml"
    scenario.parent.mkdir()
    scenario.write_text(text)
    (tmp_path / "fixtures").symlink_to(SCENARIOS.parent / "fixtures")
    code, out, _ = run(
        capsys, "run", str(scenario), "--results", str(tmp_path / "r"), "--select", "*/plain/s,b#*"
    )
    assert code == 1
    assert "segfault !" in out
    assert "verdict segfault, expected pass" in out and "Segmentation fault" in out
    assert "2 cells: 2 segfault; 2 unexpected" in out


def test_print_plan_lists_cells_with_expectations(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "run", str(SCENARIOS / "call-once.toml"), "--print-plan", "--backend", "local"
    )
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 16
    assert "call-once/host/global:a/plain/a,b#1  expect segfault" in lines


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n[[wheels]\n', "is not valid TOML"),
        (
            HEAD + "colour = 1\n" + WHEEL,
            "colour: unknown key",
        ),
        (
            HEAD + WHEEL + 'toolchain = "gcc-99"\n',
            "unknown toolchain 'gcc-99'; valid: clang-11-libcxx, clang-11-libstdcxx",
        ),
        (
            HEAD + WHEEL.replace("healthy", "nope"),
            "no fixture 'nope'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "scenarios" / "bad.toml"
    path.parent.mkdir()
    path.write_text(text)
    code, out, err = run(capsys, "run", str(path), "--results", str(tmp_path / "r"))
    assert code == 2
    assert out == ""
    assert message in err and str(path) in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_missing_compiler_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "toolchains.toml"
    table.write_text(
        '[toolchains.gcc-404]\ncxx = "g++-404"\nruntime = "libstdc++"\npackages = ["g++-404"]\n'
        '[link_modes.shared]\nruntimes = ["libstdc++"]\n'
    )
    monkeypatch.setenv("WHEELCLASH_TOOLCHAINS", str(table))
    scenario = tmp_path / "scenarios" / "s.toml"
    scenario.parent.mkdir()
    scenario.write_text(HEAD + WHEEL + 'toolchain = "gcc-404"\n')
    (tmp_path / "fixtures").symlink_to(SCENARIOS.parent / "fixtures")
    code, _, err = run(capsys, "run", str(scenario), "--results", str(tmp_path / "r"))
    assert code == 2
    assert "needs 'g++-404', which is not on PATH" in err and "apt-get install g++-404" in err
