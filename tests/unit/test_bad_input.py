"""The bad-input corpus (tests/data/bad-input): each malformed input gets one clear message.

Every case goes through `wheelclash` itself (`cli.main`, as the console script calls it): exit 2,
the message names the file and the key, and no traceback reaches the user. Nothing here starts
a process; every case fails while the input is read, before any build or backend.
"""

from __future__ import annotations

import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from harness import cli

DATA: Final = Path(__file__).resolve().parents[1] / "data"
CORPUS: Final = DATA / "bad-input"
GOOD: Final = DATA / "torture" / "pass.toml"


@dataclass(frozen=True, kw_only=True)
class ScenarioCase:
    file: str
    key: str
    message: str
    problems: int = 1


def scenario_cases() -> list[ScenarioCase]:
    document = tomllib.loads((CORPUS / "cases.toml").read_text())
    return [ScenarioCase(**row) for row in document["scenario"]]


SCENARIO_CASES: Final = scenario_cases()


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr of `wheelclash ARGV`, whether it returns or argparse exits."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def test_the_corpus_is_large_and_every_file_is_listed() -> None:
    on_disk = sorted(p.name for p in (CORPUS / "files").glob("*.toml"))
    assert sorted(c.file for c in SCENARIO_CASES) == on_disk
    assert len(on_disk) + len(CLI_CASES) >= 50


@pytest.mark.parametrize("case", SCENARIO_CASES, ids=[c.file for c in SCENARIO_CASES])
def test_bad_scenario_gets_one_clear_message(
    case: ScenarioCase, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = CORPUS / "files" / case.file
    argv = ["run", str(path), "--backend", "local", "--results", str(tmp_path)]
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert f"{case.problems} problem(s) found" in err, err
    where = f"{path}: {case.key}: " if case.key else f"{path}: "
    lines = [line for line in err.splitlines() if where in line]
    assert any(case.message in line for line in lines), err
    assert not any(tmp_path.iterdir()), "a bad input must not start a run"


@dataclass(frozen=True, kw_only=True)
class CliCase:
    id: str
    argv: tuple[str, ...]
    message: str


CLI_CASES: Final = (
    CliCase(id="no-command", argv=(), message="the following arguments are required: COMMAND"),
    CliCase(id="unknown-command", argv=("frobnicate",), message="invalid choice: 'frobnicate'"),
    CliCase(
        id="run-without-scenario", argv=("run",), message="give one or more scenario .toml files"
    ),
    CliCase(
        id="unknown-option", argv=("run", str(GOOD), "--colour"), message="unrecognized arguments"
    ),
    CliCase(
        id="missing-file",
        argv=("run", str(CORPUS / "no-such.toml")),
        message="no-such.toml: no such file; check the path",
    ),
    CliCase(id="directory", argv=("run", str(CORPUS)), message="cannot be read"),
    CliCase(
        id="unknown-backend",
        argv=("run", str(GOOD), "--backend", "podman"),
        message="unknown backend 'podman'; valid: auto, local, docker",
    ),
    CliCase(
        id="select-matches-nothing",
        argv=("run", str(GOOD), "--backend", "local", "--select", "nothing/*"),
        message="--select 'nothing/*' matches no cell; cell ids look like",
    ),
    CliCase(
        id="same-scenario-twice",
        argv=("run", str(GOOD), str(GOOD), "--backend", "local"),
        message="name: 'torture-pass' is used by another scenario of this run",
    ),
    CliCase(
        id="print-plan-bad-file",
        argv=("run", str(CORPUS / "files" / "unknown-arch.toml"), "--print-plan"),
        message="matrix.arch: unknown arch 'riscv128'",
    ),
    CliCase(
        id="jobs-zero",
        argv=("run", str(GOOD), "-j", "0"),
        message="argument -j/--jobs: 0: give 1 or more",
    ),
    CliCase(
        id="arch-unknown",
        argv=("run", str(GOOD), "--arch", "x86_64,riscv128"),
        message="argument --arch: unknown arch 'riscv128'; valid: x86_64",
    ),
    CliCase(
        id="engine-without-arch",
        argv=("run", str(GOOD), "--engine", "ssh://arm-box"),
        message="argument --engine: must be ARCH=URL",
    ),
    CliCase(
        id="shard-out-of-range",
        argv=("run", str(GOOD), "--shard", "3/2"),
        message="argument --shard: --shard '3/2': k must be between 1 and n (2)",
    ),
    CliCase(
        id="check-dlopen-unknown",
        argv=("check", "a.whl", "b.whl", "--dlopen", "local", "--dlopen", "globl"),
        message="argument --dlopen: 'globl' is not a dlopen mode",
    ),
    CliCase(
        id="check-host-unknown",
        argv=("check", "a.whl", "b.whl", "--host", "fancy"),
        message="argument --host: unknown host mode 'fancy'; valid: plain, preload-libstdcxx",
    ),
    CliCase(
        id="check-timeout-negative",
        argv=("check", "a.whl", "b.whl", "--timeout", "-1"),
        message="argument --timeout: -1: give a positive number of seconds",
    ),
    CliCase(
        id="check-constraint-missing",
        argv=("check", "a.whl", "b.whl", "--constraint", str(CORPUS / "no-such.txt")),
        message="argument --constraint: " + str(CORPUS / "no-such.txt") + ": no such file",
    ),
    CliCase(
        id="build-bad-file",
        argv=("build", str(CORPUS / "files" / "unknown-toolchain.toml")),
        message="wheels[0].toolchain: unknown toolchain 'gcc-99'",
    ),
)


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_bad_usage_exits_2_without_a_traceback(
    case: CliCase, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [*case.argv]
    if argv[:1] == ["run"] and "--print-plan" not in argv:
        argv += ["--results", str(tmp_path)]
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert case.message in err, err


def test_bad_project_defaults_name_pyproject(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.wheelclash]\nbackend = 3\ncolour = "red"\n')
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(["run", str(GOOD)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "pyproject.toml: tool.wheelclash.backend: must be a string (is a int)" in err
    assert "pyproject.toml: tool.wheelclash.colour: unknown key" in err


def test_bad_toolchain_table_names_its_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "toolchains.toml"
    table.write_text("[toolchains.gcc\n")
    monkeypatch.setenv("WHEELCLASH_TOOLCHAINS", str(table))
    code, err = run_cli(["run", str(GOOD), "--backend", "local"], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{table}: is not valid TOML" in err, err


def _wheel(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize(
    "kind",
    ["corrupt", "truncated", "only-data", "missing", "not-a-wheel-name"],
)
def test_bad_wheels_given_to_check_get_one_clear_message(
    kind: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = "wc_bad-1.0-cp38-abi3-linux_x86_64.whl"
    good = _wheel(
        tmp_path / "wc_good-1.0-cp38-abi3-linux_x86_64.whl",
        {"wc_good.abi3.so": "\x7fELF", "wc_good-1.0.dist-info/RECORD": ""},
    )
    bad = tmp_path / name
    match kind:
        case "corrupt":
            bad.write_bytes(b"this is not a zip archive")
            message = f"{name}: not a readable wheel"
        case "truncated":
            whole = _wheel(tmp_path / "whole.zip", {"wc_bad.abi3.so": "\x7fELF" * 4096})
            bad.write_bytes(whole.read_bytes()[:300])
            message = f"{name}: not a readable wheel"
        case "only-data":
            bad = _wheel(
                tmp_path / "fonts-1.0-py3-none-any.whl",
                {
                    "fonts-1.0.data/data/share/fonts/a.ttf": "",
                    "tests/test_fonts.py": "",
                    "fonts-1.0.dist-info/RECORD": "",
                },
            )
            message = (
                "fonts-1.0-py3-none-any.whl holds no Python package or module to import "
                "(only data or tests?); name what to import with `modules` (check: --import "
                "ID=module)"
            )
        case "missing":
            message = f"{name}: no such wheel file"
        case "not-a-wheel-name":
            bad = tmp_path / "wheel.zip"
            bad.write_bytes(good.read_bytes())
            message = "wheel.zip' is neither a .whl file nor a requirement"
        case _:
            raise AssertionError(kind)
    argv = ["check", str(bad), str(good), "--backend", "local", "--results", str(tmp_path / "r")]
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert message in err, err
    assert len([line for line in err.splitlines() if line.startswith("wheelclash: error")]) == 1
    assert not (tmp_path / "r").exists(), "a bad wheel must not start a run"
