"""Fixture runtime requirements: read from fixture.json, validated, naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.build.runtime_requires import runtime_requirements
from harness.errors import InvalidInputFile

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cpp"


def test_the_cffi_fixture_needs_cffi_and_the_others_nothing() -> None:
    assert runtime_requirements(FIXTURES / "cffi_once") == ("cffi",)
    assert runtime_requirements(FIXTURES / "call_once") == ()  # no fixture.json
    assert runtime_requirements(FIXTURES / "tls_desc") == ()  # fixture.json without the key


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("{not json", "not readable JSON"),
        ('{"runtime_requires": "cffi"}', "runtime_requires: must be a list"),
        ('{"runtime_requires": [3]}', "runtime_requires: must be a list"),
        ('{"runtime_requires": ["cffi >>> 1"]}', "is not a requirement"),
    ],
)
def test_a_bad_fixture_json_names_the_file_and_key(tmp_path: Path, text: str, wanted: str) -> None:
    (tmp_path / "fixture.json").write_text(text)
    with pytest.raises(InvalidInputFile) as caught:
        runtime_requirements(tmp_path)
    assert str(tmp_path / "fixture.json") in str(caught.value)
    assert wanted in str(caught.value)
