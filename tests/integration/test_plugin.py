"""The pytest plugin end to end, in a separate pytest process (pytester)."""

from __future__ import annotations

import shutil
from xml.etree import ElementTree

import pytest

from tests.integration.conftest import REPO, SCENARIOS


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(REPO / "fixtures", pytester.path / "fixtures")
    (pytester.path / "scenarios").mkdir()
    shutil.copy(SCENARIOS / "first-loader-hijack.toml", pytester.path / "scenarios")
    return pytester


def test_each_cell_is_an_item_and_expectations_pass(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("scenarios", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        [
            "*first-loader-hijack/host/local/plain/s,b#1*PASSED*",
            "*wheelclash matrix*",
            "*local/plain*segfault*pass*",
            "*8 cells: 6 pass, 2 segfault; 0 unexpected*",
        ]
    )


def test_wrong_expectation_fails_with_a_readable_report(project: pytest.Pytester) -> None:
    path = project.path / "scenarios" / "first-loader-hijack.toml"
    path.write_text(path.read_text().replace('verdict = "segfault"', 'verdict = "abort"'))
    result = project.runpytest_subprocess("scenarios", "-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*verdict segfault, expected abort*",
            "*order s, b; dlopen local; host plain*",
            "*SIGSEGV during import wc_call_once_b*",
            "*native frames (crashing thread, innermost first):*",
            "*?? (a jump to address 0) in ?*",
            "*in wc_call_once_b.abi3.so*",
            "*Python stack:*",
            "*Segmentation fault*",
            "*artefacts (backtrace, core, libraries, python_stack, stderr, summary) in *",
        ]
    )
    cores = {p.parent.name.split("__")[-2] for p in project.path.glob("results/*/*/core.gz")}
    assert cores == {"s,b"}, cores  # only the failing cells left evidence


def test_bad_scenario_is_a_collection_error_naming_the_key(project: pytest.Pytester) -> None:
    path = project.path / "scenarios" / "first-loader-hijack.toml"
    path.write_text(path.read_text().replace('toolchain = "gcc"', 'toolchain = "gcc-99"', 1))
    result = project.runpytest_subprocess("scenarios", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "wheels[0].toolchain: unknown toolchain 'gcc-99'" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_failing_items_carry_their_culprits_into_the_report_and_junit(
    project: pytest.Pytester,
) -> None:
    """The plugin attributes a group's failing cells as a run's finish step does: s and b
    each pass alone (two runs), so the crash of s before b is cross-wheel, s+b."""
    path = project.path / "scenarios" / "first-loader-hijack.toml"
    path.write_text(path.read_text().replace('verdict = "segfault"', 'verdict = "abort"'))
    junit = project.path / "junit.xml"
    result = project.runpytest_subprocess(
        "scenarios", "-p", "no:cacheprovider", f"--junitxml={junit}"
    )
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*culprits: s+b (cross-wheel)*",
            "*Captured attribution call*",
            "*step: import wc_call_once_b*",
            "*failures by culprit: cross-wheel: s+b ×2 (segfault at import wc_call_once_b)*",
        ]
    )
    tree = ElementTree.parse(junit)
    failed = [case for case in tree.iter("testcase") if case.find("failure") is not None]
    assert len(failed) == 2
    for case in failed:
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert properties["culprits"] == "s+b" and properties["failure_kind"] == "cross-wheel"
    passed = [case for case in tree.iter("testcase") if case.find("failure") is None]
    assert not any(p.get("name") == "culprits" for case in passed for p in case.iter("property"))
