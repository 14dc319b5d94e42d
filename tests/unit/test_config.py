from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InvalidInputFile
from harness.scenario.config import Defaults


def test_no_pyproject_gives_the_built_in_defaults(tmp_path: Path) -> None:
    assert Defaults.from_pyproject(tmp_path / "pyproject.toml") == Defaults()
    assert Defaults().backend == "auto" and Defaults().targets is None


def test_tool_table_overrides(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "x"\n[tool.wheelclash]\nbackend = "docker"\n'
        'targets = ["debian:trixie"]\nresults = "out"\n'
    )
    assert Defaults.from_pyproject(path) == Defaults(
        backend="docker", targets=("debian:trixie",), results=Path("out")
    )


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.wheelclash]\nbackends = "docker"\n')
    with pytest.raises(InvalidInputFile, match=r"tool\.wheelclash\.backends: unknown key"):
        Defaults.from_pyproject(path)
