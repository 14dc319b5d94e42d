"""Pure parts of check, explain and minimize: wheel contents, scenario rows for given wheels,
the check document, manylinux tags and ddmin (agreement: test_agreement.py)."""

from __future__ import annotations

import math
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from harness.analysis.ddmin import ddmin
from harness.analysis.explain import PREDICTORS_TOML, load_predictors
from harness.analysis.mechanisms import Mechanism
from harness.build.toolchains import load_catalogue
from harness.build.wheelhouse import TargetPython, match_requirements, version_prefix
from harness.cells.jobs import job_for
from harness.errors import InputError, InvalidInputFile
from harness.scenario.from_wheels import (
    CheckOptions,
    Input,
    parse_inputs,
    scenario_for,
    write_scenario,
)
from harness.scenario.load import OrderMode, load_scenario
from harness.scenario.plan import plan
from harness.scenario.wheel_contents import read_contents


def make_wheel(folder: Path, name: str, files: list[str]) -> Path:
    """A wheel-shaped zip with these (empty) members plus its dist-info."""
    path = folder / name
    project = name.split("-")[0]
    with zipfile.ZipFile(path, "w") as archive:
        for member in files:
            archive.writestr(member, b"")
        archive.writestr(f"{project}-1.0.dist-info/RECORD", b"")
    return path


def test_imports_are_read_from_the_file_list(tmp_path: Path) -> None:
    numpy = make_wheel(
        tmp_path,
        "numpy-2.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        [
            "numpy/__init__.py",
            "numpy/_core/__init__.py",
            "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
            "numpy/_core/_multiarray_tests.cpython-311-x86_64-linux-gnu.so",
            "numpy/linalg/_umath_linalg.cpython-311-x86_64-linux-gnu.so",
            "numpy/random/mtrand.cpython-311-x86_64-linux-gnu.so",
            "numpy.libs/libopenblas64_p-r0-0cf96a72.3.23.dev.so",
            "numpy.libs/libgfortran-040039e1.so.5.0.0",
        ],
    )
    contents = read_contents(numpy)
    assert contents.project == "numpy"
    # The package, then its shallowest public extension module; private ones only through it.
    assert contents.imports() == ("numpy", "numpy.random.mtrand")
    assert len(contents.libraries) == 2
    cv2 = make_wheel(
        tmp_path,
        "opencv_python_headless-4.0-cp37-abi3-manylinux_2_28_x86_64.whl",
        ["cv2/__init__.py", "cv2/cv2.abi3.so", "opencv_python_headless.libs/libpng16-1a2b3c4d.so"],
    )
    assert read_contents(cv2).imports() == ("cv2",)
    plain = make_wheel(tmp_path, "m-1.0-cp38-abi3-linux_x86_64.whl", ["m.abi3.so", "libz.so"])
    assert read_contents(plain).imports() == ("m",)
    assert read_contents(plain).libraries == ("libz.so",)


def test_a_prebuilt_row_imports_what_the_wheel_holds(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "pkg_one-1.0-cp38-abi3-linux_x86_64.whl", ["one.abi3.so"])
    other = make_wheel(tmp_path, "two-1.0-py3-none-any.whl", ["two-1.0.data/data/two.txt"])
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "given"\ndescription = "d"\nexercise = "import one"\n'
        f'[[wheels]]\nid = "one"\nwheel = "{wheel.name}"\nexercise = "go"\n'
        '[[wheels]]\nid = "two"\nrequirement = "two>=1"\nmodules = ["two.core"]\n'
        '[matrix]\ndlopen = ["local", "global:one"]\n'
    )
    scenario = load_scenario(path, load_catalogue())
    assert scenario.wheel("one").wheel == wheel.resolve()
    assert scenario.wheel("one").imports == ("one",)
    assert scenario.wheel("two").requirement == "two>=1"
    job = job_for(scenario, plan(scenario)[-1])
    assert [(i.module, i.rtld_global) for i in job.imports] == [("two.core", False), ("one", True)]
    assert job.snippet == "import one"
    assert job.to_json()["spec"]["snippet"] == "import one"

    path.write_text(
        'name = "given"\ndescription = "d"\nexercise = "import ("\n'
        f'[[wheels]]\nid = "one"\nwheel = "{other.name}"\n'
        '[[wheels]]\nid = "two"\nwheel = "nothere.whl"\nrequirement = "x"\n'
        '[[wheels]]\nid = "three"\nrequirement = "no such ! thing"\nfixture = "x"\n'
    )
    with pytest.raises(InvalidInputFile) as info:
        load_scenario(path, load_catalogue())
    keys = sorted(p.key for p in info.value.problems)
    assert keys == [
        "exercise",
        "wheels[0].wheel",
        "wheels[1]",
        "wheels[2].fixture",
        "wheels[2].requirement",
    ]


def test_check_turns_wheels_into_a_scenario_that_run_accepts(tmp_path: Path) -> None:
    first = make_wheel(tmp_path, "first-1.0-cp38-abi3-linux_x86_64.whl", ["first.abi3.so"])
    twin = tmp_path / "twin"
    twin.mkdir()
    second = make_wheel(twin, "first-1.0-cp38-abi3-linux_x86_64.whl", ["first2.abi3.so"])
    with pytest.raises(InputError, match="--download"):
        parse_inputs([str(first), "numpy"], download=False)
    with pytest.raises(InputError, match="two or more"):
        parse_inputs([str(first)], download=False)
    inputs = parse_inputs([str(first), str(second), "numpy==2.1"], download=True)
    assert [i.id for i in inputs] == ["first", "first_2", "numpy"]
    options = CheckOptions(dlopen=("local", "global:first"), exercise="x = 1", pairs=True)
    scenario, text = scenario_for(inputs, options)
    assert scenario.matrix.orders is OrderMode.PAIRS
    # two modes × (three pairs in both orders, and each of the three wheels alone)
    assert len(plan(scenario)) == 2 * (3 * 2 + 3)
    assert scenario.matrix.singletons  # on by default for check
    plain, _ = scenario_for(inputs, replace(options, singletons=False))
    assert len(plan(plain)) == 2 * 3 * 2 and not plain.matrix.singletons
    saved = tmp_path / "saved.toml"
    saved.write_text(text.replace(str(tmp_path), "."))
    again = load_scenario(saved, load_catalogue())
    assert again.wheel_ids == scenario.wheel_ids and again.exercise == "x = 1"
    with pytest.raises(InputError, match=r"--dlopen: 'global:nobody' names no wheel"):
        scenario_for(inputs, CheckOptions(dlopen=("global:nobody",)))
    assert Input(id="x", requirement="y").wheel is None


def test_manylinux_tags_cover_every_older_glibc() -> None:
    tags = TargetPython(version="3.11", glibc="2.36", arch="x86_64").platforms()
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux2014_x86_64" in tags and "manylinux1_x86_64" in tags
    assert tags[-1] == "manylinux1_x86_64"
    assert version_prefix("3.11.2-1+b1") == "3.11"
    assert version_prefix("2.36-9+deb12u9") == "2.36"
    files = [Path("scikit_learn-1.5-cp311-cp311-manylinux_2_28_x86_64.whl")]
    assert match_requirements(["scikit-learn>=1"], files) == {"scikit-learn>=1": files[0]}


def test_ddmin_finds_the_responsible_pair_and_keeps_order() -> None:
    calls: list[tuple[str, ...]] = []

    def fails(order: tuple[str, ...]) -> bool:
        calls.append(order)
        return "a" in order and "b" in order and order.index("a") < order.index("b")

    assert ddmin(("h1", "a", "h2", "b", "h3"), fails) == ("a", "b")
    assert len(set(calls)) <= 15  # distinct runs; the tester caches repeats
    assert ddmin(("x", "y"), lambda order: "y" in order) == ("y",)


def test_predictor_table_loads_with_every_message() -> None:
    table = load_predictors()
    assert any(p.pattern.search("_ZSt11__once_call") for p in table.internals)
    assert any(p.search("_ZSt16__once_call_implIvE") for p in table.call_once)
    assert table.unique_soname.search("libfoo-1a2b3c4d.so.1")
    assert not table.unique_soname.search("libfoo.so.1")
    assert {p.mechanism for p in table.internals} == {None, Mechanism.FIRST_LOADER_HIJACK}


def test_predictor_table_refuses_an_unknown_mechanism(tmp_path: Path) -> None:
    text = PREDICTORS_TOML.read_text(encoding="utf-8")
    bad = tmp_path / "predictors.toml"
    bad.write_text(text.replace('mechanism = "2"', 'mechanism = "9"', 1), encoding="utf-8")
    with pytest.raises(InvalidInputFile) as caught:
        load_predictors(bad)
    assert f"{bad}: runtime_internal[2].mechanism: unknown mechanism '9'" in str(caught.value)


def test_check_writes_any_text_and_number_as_toml_the_loader_reads(tmp_path: Path) -> None:
    """Text outside the BMP and a non-finite --timeout once gave TOML that tomllib refused
    (JSON's surrogate-pair escapes, JSON's Infinity)."""
    first = make_wheel(tmp_path, "first-1.0-cp38-abi3-linux_x86_64.whl", ["first.abi3.so"])
    inputs = parse_inputs([str(first), "numpy==2.1"], download=True)
    exercise = 'assert "\U0001f600".encode() == b"\\xf0\\x9f\\x98\\x80"\nx = "tab\\there"'
    options = CheckOptions(exercise=exercise, timeout_s=2.5)
    scenario, text = scenario_for(inputs, options)
    assert scenario.exercise == exercise and scenario.matrix.timeout_s == 2.5
    assert tomllib.loads(text)["exercise"] == exercise
    saved = tmp_path / "out" / "check.toml"
    write_scenario(saved, inputs, options)
    assert load_scenario(saved, load_catalogue()).exercise == exercise
    for endless in (math.inf, math.nan):
        with pytest.raises(InputError, match="--timeout: must be a positive, finite number"):
            scenario_for(inputs, replace(options, timeout_s=endless))
