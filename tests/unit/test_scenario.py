from __future__ import annotations

from pathlib import Path

import pytest

from harness.build.toolchains import load_catalogue
from harness.common.verdicts import Verdict
from harness.errors import InvalidInputFile
from harness.scenario.load import HostMode, load_scenario
from tests.unit.helpers import GOOD_SCENARIO, write_scenario


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write_scenario(tmp_path, text)
    with pytest.raises(InvalidInputFile) as info:
        load_scenario(path, load_catalogue())
    assert all(p.file == str(path) for p in info.value.problems)
    return [f"{p.key}: {p.message}" for p in info.value.problems]


def test_good_scenario_loads_into_frozen_models(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, GOOD_SCENARIO), load_catalogue())
    assert scenario.name == "pair"
    assert scenario.wheel_ids == ("a", "b")
    assert scenario.wheel("a").link == ("static-libstdcxx-hidden",)
    assert scenario.wheel("a").module == "wc_call_once_a"
    assert scenario.wheel("b").exercise is None
    assert scenario.matrix.host == (HostMode.PLAIN, HostMode.PRELOAD_LIBSTDCXX)
    assert scenario.matrix.repeat == 2
    assert scenario.expectations[0].verdict is Verdict.SEGFAULT
    assert scenario.expectations[-1].when.unconditional
    with pytest.raises(AttributeError):
        scenario.name = "other"  # type: ignore[misc]


def test_malformed_toml_names_file_and_position(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, 'name = "x"\n[[wheels]\n')
    assert "is not valid TOML" in problem and "line 2" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        GOOD_SCENARIO.replace("toolchain = ", "x = ")
        .replace('id = "b"', 'id = "b"\ntoolchain = "gcc-99"\ncolour = "red"')
        .replace("repeat = 2", "repeat = 0\nspeed = 3")
    )
    problems = problems_of(tmp_path, text)
    assert any(
        p.startswith("wheels[1].toolchain: unknown toolchain 'gcc-99'; valid:") for p in problems
    )
    assert any("clang-libcxx" in p for p in problems if p.startswith("wheels[1].toolchain"))
    assert any(p.startswith("wheels[1].colour: unknown key") for p in problems)
    assert any(p.startswith("matrix.repeat: must be a whole number") for p in problems)
    assert any(p.startswith("matrix.speed: unknown key") for p in problems)
    assert len(problems) == 4


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        (
            ('fixture = "call_once"\nlink', 'fixture = "nope"\nlink'),
            "wheels[0].fixture",
            "known fixtures: call_once, ",
        ),
        (('id = "b"', 'id = "a"'), "wheels[1].id", "duplicate id 'a'"),
        (('id = "b"', 'id = "B-2"'), "wheels[1].id", "lower-case letter"),
        (
            (
                'link = "static-libstdcxx-hidden"',
                'link = "static-libstdcxx-hidden"\ntoolchain = "clang-libcxx"',
            ),
            "wheels[0].link",
            "needs libstdc++",
        ),
        (
            ('link = "static-libstdcxx-hidden"', 'link = "welded"'),
            "wheels[0].link",
            "unknown link mode 'welded'",
        ),
        (('"global:a"]', '"global:z"]'), "matrix.dlopen", "names no wheel"),
        (('dlopen = ["local"', 'dlopen = ["lazy"'), "matrix.dlopen", "not a dlopen mode"),
        (('"preload-libstdcxx"]', '"java"]'), "matrix.host", "unknown host mode 'java'"),
        (('verdict = "segfault"', 'verdict = "explodes"'), "expect[0].verdict", "unknown verdict"),
        (('before = ["a", "b"]', 'order = ["a"]'), "expect[0].when.order", "every wheel id once"),
        (
            ('before = ["a", "b"]', 'before = ["a", "q"]'),
            "expect[0].when.before",
            "two or more distinct",
        ),
        (('name = "pair"', 'name = "Pair Two"'), "name", "lower-case letters"),
        (('description = "two wheels"', ""), "description", "must be a string (is missing)"),
        (
            ('verdict = "segfault"', 'verdict = "segfault"\nsubkind = "static-tls"'),
            "expect[0].subkind",
            "only an import-error",
        ),
        # Empty strings are values too: no empty name, id, module or verdict slips through.
        (('name = "pair"', 'name = ""'), "name", "lower-case letters"),
        (('id = "b"', 'id = ""'), "wheels[1].id", "lower-case letter"),
        (('id = "b"', 'id = "b"\nmodule = ""'), "wheels[1].module", "valid Python module"),
        (('verdict = "segfault"', 'verdict = ""'), "expect[0].verdict", "unknown verdict ''"),
        # A subkind that is not a string is a problem, not a crash (found by fuzzing).
        (
            ('verdict = "segfault"', 'verdict = "segfault"\nsubkind = []'),
            "expect[0].subkind",
            "one of",
        ),
    ],
)
def test_single_problem_names_key_and_fix(
    tmp_path: Path, change: tuple[str, str], key: str, fragment: str
) -> None:
    old, new = change
    assert old in GOOD_SCENARIO
    problems = problems_of(tmp_path, GOOD_SCENARIO.replace(old, new, 1))
    assert [p for p in problems if p.startswith(f"{key}:") and fragment in p], problems


def test_default_must_be_last(tmp_path: Path) -> None:
    text = GOOD_SCENARIO + '\n[[expect]]\nwhen = { host = "plain" }\nverdict = "abort"\n'
    problems = problems_of(tmp_path, text)
    assert problems == [
        "expect[2]: comes after the unconditional default expectation, so it never applies"
    ]


def test_no_wheels_and_too_many_wheels(tmp_path: Path) -> None:
    assert problems_of(tmp_path, 'name = "x"\ndescription = "d"\n')[0].startswith(
        "wheels: needs at least one"
    )
    many = 'name = "x"\ndescription = "d"\n' + "".join(
        f'[[wheels]]\nid = "w{i}"\nfixture = "healthy"\n' for i in range(7)
    )
    assert any("7! orders" in p for p in problems_of(tmp_path, many))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputFile, match="no such file"):
        load_scenario(tmp_path / "absent.toml", load_catalogue())
