"""A given wheel's imports and compiler comment, kept between runs by its sha256 and the
harness's code (harness/build/wheelfacts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.build import wheelfacts
from harness.common.digests import file_sha256
from tests.unit.helpers import build_wheel


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The wheels whose imports were worked out (not read back), in a cache of the test's."""
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path / "cache"))
    worked: list[Path] = []
    real = wheelfacts.imports_for

    def imports_for(wheel: Path) -> tuple[str, ...]:
        worked.append(wheel)
        return real(wheel)

    monkeypatch.setattr(wheelfacts, "imports_for", imports_for)
    return worked


def a_wheel(folder: Path) -> Path:
    files = {"kept/__init__.py": "", "kept/core.py": "VALUE = 1\n"}
    return build_wheel(folder, "kept", files, tag="py3-none-any")


def test_facts_are_worked_out_once_per_wheel(tmp_path: Path, counted: list[Path]) -> None:
    wheel = a_wheel(tmp_path)
    sha = file_sha256(wheel)
    first = wheelfacts.facts(wheel, sha)
    assert first.imports == ("kept",) and first.elf_comment == ""  # no extension in it
    assert wheelfacts.facts(wheel, sha) == first
    assert counted == [wheel]
    (kept,) = [path for path, _ in wheelfacts.stored()]
    assert kept.name == f"{sha}-{wheelfacts.code_hash()}.json"


def test_another_harness_works_them_out_again(
    tmp_path: Path, counted: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = a_wheel(tmp_path)
    sha = file_sha256(wheel)
    wheelfacts.facts(wheel, sha)
    monkeypatch.setattr(wheelfacts, "code_hash", lambda: "another")
    assert wheelfacts.facts(wheel, sha).imports == ("kept",)
    assert counted == [wheel, wheel]


def test_a_damaged_file_is_worked_out_again(tmp_path: Path, counted: list[Path]) -> None:
    wheel = a_wheel(tmp_path)
    sha = file_sha256(wheel)
    wheelfacts.facts(wheel, sha)
    ((path, _),) = wheelfacts.stored()
    for damage in ('{"imports": ', '{"imports": ["kept"]}', "[]"):
        path.write_text(damage)
        assert wheelfacts.facts(wheel, sha).imports == ("kept",)
    assert len(counted) == 4
    assert wheelfacts.facts(wheel, sha).imports == ("kept",) and len(counted) == 4


def test_the_code_hash_covers_the_harness() -> None:
    assert len(wheelfacts.code_hash()) == 16
    assert (wheelfacts.HARNESS / "build" / "wheelfacts.py").is_file()
