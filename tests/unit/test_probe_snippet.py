"""The probe runs a snippet with `# step: LABEL` lines as steps of their own."""

from __future__ import annotations

from harness import paths
from tests.unit.helpers import resource_script

probe = resource_script(paths.PROBE)


def test_a_plain_snippet_is_one_unnamed_step() -> None:
    assert probe.snippet_parts("x = 1\nassert x") == [("", "x = 1\nassert x")]
    assert probe.snippet_parts("") == []


def test_step_lines_split_the_snippet_keeping_line_numbers() -> None:
    snippet = "# step: fiona\nimport os\n# step: rasterio\nx = 1\n\n# step: empty\n"
    parts = probe.snippet_parts(snippet)
    assert [label for label, _ in parts] == ["fiona", "rasterio"]
    fiona, rasterio = (code for _, code in parts)
    assert fiona.splitlines()[1] == "import os"
    assert rasterio.splitlines()[3] == "x = 1" and not any(rasterio.splitlines()[:2])
    namespace: dict[str, object] = {}
    for _, code in parts:
        exec(compile(code, "<exercise>", "exec"), namespace)
    assert namespace["x"] == 1 and "os" in namespace


def test_a_failing_part_reports_its_line_in_the_whole_snippet() -> None:
    parts = probe.snippet_parts("# step: a\npass\n# step: b\n\nraise ValueError('b')")
    try:
        exec(compile(parts[1][1], "<exercise>", "exec"), {})
    except ValueError as exc:
        assert exc.__traceback__ is not None
        assert exc.__traceback__.tb_next is not None
        assert exc.__traceback__.tb_next.tb_lineno == 5
    else:
        raise AssertionError("part b did not raise")
