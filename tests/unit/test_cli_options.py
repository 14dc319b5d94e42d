"""The options `run` and `check` share: repeated list options add up, files given to `check`
(--requirements, --constraint) are read and checked, and the placement takes pyproject's
defaults. Wheels are small real zip files; nothing here starts a process."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from harness import cli
from harness.cli.options import Placement
from harness.common.verdicts import FailureKind
from harness.errors import InputError, InvalidInputFile
from harness.scenario.config import Defaults
from harness.scenario.load import NO_TOOLCHAINS, load_scenario
from tests.unit.test_bad_input import GOOD


def fake_wheel(folder: Path, project: str) -> Path:
    """A wheel holding one (unloadable) extension module: enough to plan cells from."""
    path = folder / f"{project}-1.0-cp38-abi3-linux_x86_64.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{project}.abi3.so", "\x7fELF")
        archive.writestr(f"{project}-1.0.dist-info/RECORD", "")
    return path


def plan(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert cli.main_inner([*argv, "--backend", "local", "--print-plan"]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(
    ("argv", "dest", "expected"),
    [
        (
            ("run", "--target", "debian:bookworm", "--target", "a,b"),
            "target",
            ["debian:bookworm", "a", "b"],
        ),
        (
            ("run", "--arch", "x86_64", "--arch", "aarch64,i686"),
            "arch",
            ["x86_64", "aarch64", "i686"],
        ),
        (("run", "--select", "a/*", "--select", "b/*"), "select", ["a/*", "b/*"]),
        (
            ("run", "--engine", "aarch64=ssh://arm", "--engine", "s390x=zbox"),
            "engine",
            [("aarch64", "ssh://arm"), ("s390x", "zbox")],
        ),
        (
            ("check", "--dlopen", "local", "--dlopen", "global:x,global-all"),
            "dlopen",
            ["local", "global:x", "global-all"],
        ),
        (
            ("check", "--host", "plain", "--host", "preload-libstdcxx"),
            "host",
            ["plain", "preload-libstdcxx"],
        ),
        (
            ("check", "--target", "debian:bookworm", "--target", "debian:trixie"),
            "target",
            ["debian:bookworm", "debian:trixie"],
        ),
        (("check", "--arch", "x86_64", "--arch", "aarch64"), "arch", ["x86_64", "aarch64"]),
        (
            ("check", "--engine", "aarch64=ssh://a", "--engine", "aarch64=ssh://b"),
            "engine",
            [("aarch64", "ssh://a"), ("aarch64", "ssh://b")],
        ),
        (
            ("check", "--constraint", str(GOOD), "--constraint", str(GOOD)),
            "constraint",
            [GOOD, GOOD],
        ),
        (
            ("run", "--baseline-kinds", "cross-wheel", "--baseline-kinds", "single-wheel"),
            "baseline_kinds",
            [FailureKind.CROSS_WHEEL, FailureKind.SINGLE_WHEEL],
        ),
    ],
)
def test_every_list_option_adds_up_when_repeated(
    argv: tuple[str, ...], dest: str, expected: list[object]
) -> None:
    args = cli.build_parser().parse_args(list(argv))
    assert getattr(args, dest) == expected


def test_repeated_dlopen_reaches_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = fake_wheel(tmp_path, "wc_a"), fake_wheel(tmp_path, "wc_b")
    once = plan(capsys, "check", str(a), str(b), "--dlopen", "global:wc_b")
    twice = plan(capsys, "check", str(a), str(b), "--dlopen", "local", "--dlopen", "global:wc_b")
    assert {line.split("/")[2] for line in once} == {"global:wc_b"}
    assert {line.split("/")[2] for line in twice} == {"local", "global:wc_b"}
    # both orders, and (check runs singletons unless told not to) each wheel alone
    assert len(twice) == 2 * len(once) == 2 * (2 + 2)
    alone = plan(capsys, "check", str(a), str(b), "--dlopen", "global:wc_b", "--no-singletons")
    assert [line.split()[0] for line in alone] == [
        "check/host/global:wc_b/plain/wc_a,wc_b#1",
        "check/host/global:wc_b/plain/wc_b,wc_a#1",
    ]
    firsts = plan(capsys, "check", str(a), str(b), "--dlopen", "global-first", "--no-singletons")
    assert sorted(line.split()[0].split("/", 2)[2] for line in firsts) == [
        "global-first/plain/wc_a,wc_b#1",
        "global-first/plain/wc_b,wc_a#1",
    ]


def test_requirements_files_add_up_skipping_comments_and_blank_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.txt"
    first.write_text("# pinned for the check\nmsgpack==1.1.0  # the small one\n\n   \npyyaml\n")
    second = tmp_path / "second.txt"
    second.write_text("markupsafe>=2\n")
    args = cli.build_parser().parse_args(
        ["check", "--requirements", str(first), "--requirements", str(second)]
    )
    assert args.requirements == ["msgpack==1.1.0", "pyyaml", "markupsafe>=2"]
    # Requirements from a file need no --download; each becomes a wheel of the set.
    lines = plan(capsys, "check", "--requirements", str(first), "--requirements", str(second))
    orders = {line.split("/")[4].split("#")[0] for line in lines}
    assert "msgpack,pyyaml,markupsafe" in orders and len(orders) == 6 + 3  # and each alone


def test_bad_lines_of_a_requirements_file_are_named_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reqs.txt"
    path.write_text("numpy\n# fine\nnot a requirement!\n\n-r other.txt\npyyaml\n")
    with pytest.raises(InvalidInputFile) as raised:
        cli.main_inner(["check", "--requirements", str(path)])
    assert [(p.key, p.file) for p in raised.value.problems] == [
        ("line 3", str(path)),
        ("line 5", str(path)),
    ]
    assert cli.main(["check", "--requirements", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: line 3: 'not a requirement!' is not a requirement" in err
    assert f"{path}: line 5: pip options are not read here" in err
    assert "Traceback" not in err

    path.write_text("# only a comment\n\n")
    assert cli.main(["check", "--requirements", str(path)]) == 2
    assert f"{path}: holds no requirement" in capsys.readouterr().err


def test_constraints_are_saved_with_the_scenario_and_reach_each_requirement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = fake_wheel(tmp_path, "wc_mine")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("numpy<3\n")
    saved = tmp_path / "saved" / "check.toml"
    argv = ["check", str(mine), "numpy", "--download", "--constraint", str(constraints)]
    plan(capsys, *argv, "--write-scenario", str(saved))
    scenario = load_scenario(saved, NO_TOOLCHAINS)
    assert "constraints = [" in saved.read_text()
    by_id = {w.id: w for w in scenario.wheels}
    assert by_id["numpy"].constraints == (constraints.resolve(),)
    assert by_id["wc_mine"].constraints == ()

    # Constraints apply to downloads; with nothing to download they are a mistake.
    other = fake_wheel(tmp_path, "wc_other")
    assert cli.main(["check", str(mine), str(other), "--constraint", str(constraints)]) == 2
    err = capsys.readouterr().err
    assert "--constraint: constrains only what is downloaded" in err


def test_placement_takes_pyproject_defaults_and_options_win(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.wheelclash]\n"
        'backend = "local"\ntargets = ["debian:trixie"]\nresults = "out"\n'
        'engines = { aarch64 = "ssh://me@arm", s390x = "zbox" }\n'
    )
    defaults = Defaults.from_pyproject(pyproject)
    parser = cli.build_parser()
    plain = Placement.from_args(parser.parse_args(["run", str(GOOD)]), defaults)
    assert plain == Placement(
        backend="local",
        targets=("debian:trixie",),
        arches=None,
        engines={"aarch64": "ssh://me@arm", "s390x": "zbox"},
        jobs=1,
        results=Path("out"),
    )
    given = parser.parse_args(
        ["check", "--engine", "aarch64=ssh://other", "--target", "debian:bookworm", "-j", "3"]
    )
    placed = Placement.from_args(given, defaults)
    assert placed.engines == {"aarch64": "ssh://other", "s390x": "zbox"}
    assert placed.targets == ("debian:bookworm",) and placed.jobs == 3


def test_attribution_options_are_checked_as_they_are_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["run", "x.toml"]).attribution_budget == 20
    assert parser.parse_args(["check", "--attribution-budget", "0"]).attribution_budget == 0
    for argv, message in [
        (["run", "--attribution-budget", "-1"], "-1: give 0 or more"),
        (["run", "--baseline-kinds", "both"], "unknown failure kind 'both'"),
    ]:
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert message in capsys.readouterr().err
    with pytest.raises(InputError, match="--baseline-kinds limits the regressions of --baseline"):
        cli.main_inner(["run", "x.toml", "--baseline-kinds", "cross-wheel"])
