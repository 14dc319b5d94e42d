"""The explain predictors' table (resources/predictors.toml): every bad value is reported with
its own key, and none is used in place of what the file meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.explain import PREDICTORS_TOML, load_predictors
from harness.errors import InvalidInputFile

SHIPPED_PATTERN = "'^_ZSt16__once_call_impl',"


def edited(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = PREDICTORS_TOML.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "predictors.toml"
    path.write_text(text)
    return path


def test_the_shipped_table_loads() -> None:
    table = load_predictors()
    assert table.call_once and all(p.pattern != "(?!)" for p in table.call_once)
    assert table.tls_surplus["x86_64"] > 0


def test_a_bad_call_once_pattern_is_an_error_naming_its_entry(tmp_path: Path) -> None:
    path = edited(tmp_path, (SHIPPED_PATTERN, "'^_ZSt16__once_call_impl(',"))
    with pytest.raises(InvalidInputFile) as caught:
        load_predictors(path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.key) == (str(path), "call_once.patterns[1]")
    assert "not a regular expression" in problem.message


def test_bad_values_are_reported_under_their_own_keys(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        ("surplus_bytes = { x86_64 = 1664,", 'surplus_bytes = { x86_64 = "big",'),
        ("'^libgcc_s\\.so\\.'", "'^libgcc_s[.so'"),
        ("pattern = '^__once_proxy$'", "pattern = '^__once_proxy)'"),
    )
    with pytest.raises(InvalidInputFile) as caught:
        load_predictors(path)
    keys = sorted(p.key for p in caught.value.problems)
    assert keys == [
        "runtime.libraries[1]",
        "runtime_internal[3].pattern",
        "static_tls.surplus_bytes.x86_64",
    ]
