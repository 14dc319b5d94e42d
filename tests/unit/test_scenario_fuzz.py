"""Fuzz the scenario loader: whatever the file holds, it raises nothing but `InputError`s,
and whatever it accepts, the scenario JSON Schema accepts too.

Three generators: arbitrary text; arbitrary TOML documents whose keys come mostly from the
scenario's own vocabulary; and a valid scenario with one value replaced by junk. Each
document is written to a real file and read with `load_scenario`, as the CLI does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import paths
from harness.build.toolchains import load_catalogue
from harness.common.verdicts import Verdict
from harness.errors import InputError, InvalidInputFile
from harness.scenario import vocabulary
from harness.scenario.load import Scenario, load_scenario
from tests.unit.helpers import toml_document

VOCABULARY: Final = sorted(
    {key for table in vocabulary.tables().values() for key in table.names} | {"colour", "a", "b"}
)
WORDS: Final = [
    "a",
    "b",
    "torture",
    "gcc",
    "clang-libcxx",
    "shared",
    "local",
    "global:a",
    "global-all",
    "plain",
    "x86_64",
    "debian:bookworm",
    *Verdict,
    "undefined-symbol",
    "",
]
SCHEMA: Final = jsonschema.Draft202012Validator(json.loads(paths.SCENARIO_SCHEMA.read_text()))
FUZZ: Final = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
scalars = st.one_of(
    st.sampled_from(WORDS),
    text,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
keys = st.one_of(st.sampled_from(VOCABULARY), text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, max_size=6)


VALID: Final[dict[str, Any]] = {
    "name": "fuzzed",
    "description": "a valid scenario, then one value replaced",
    "wheels": [
        {"id": "a", "fixture": "torture", "exercise": "pass_"},
        {"id": "b", "fixture": "torture", "module": "wc_b", "toolchain": ["gcc", "gcc-12"]},
    ],
    "matrix": {"dlopen": ["local", "global:a"], "repeat": 2, "timeout": 5},
    "expect": [
        {"when": {"before": ["a", "b"], "toolchain": {"b": "gcc"}}, "verdict": "segfault"},
        {"verdict": "pass"},
    ],
}


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a document where a value can be replaced."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths_of(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths_of(inner, (*prefix, index))


PLACES: Final = list(paths_of(VALID))


def replaced(document: Any, place: tuple[Any, ...], junk: Any) -> Any:
    copy = json.loads(json.dumps(document))
    holder = copy
    for step in place[:-1]:
        holder = holder[step]
    holder[place[-1]] = junk
    return copy


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "fixtures" / "cpp" / "torture").mkdir(parents=True)
    (root / "scenarios").mkdir()
    return root / "scenarios" / "fuzzed.toml"


def load_or_input_error(path: Path) -> Scenario | None:
    """The scenario, or None when it was refused with an InputError naming the file."""
    try:
        return load_scenario(path, load_catalogue())
    except InvalidInputFile as exc:
        assert exc.problems and all(p.file == str(path) for p in exc.problems), exc
        assert all(p.message for p in exc.problems)
        return None
    except InputError:
        return None


def test_the_valid_base_loads(scenario_file: Path) -> None:
    scenario_file.write_text(toml_document(VALID))
    assert load_or_input_error(scenario_file) is not None
    SCHEMA.validate(VALID)


@FUZZ
@given(st.text(max_size=400))
def test_any_text(scenario_file: Path, content: str) -> None:
    scenario_file.write_text(content, encoding="utf-8", errors="surrogatepass")
    load_or_input_error(scenario_file)


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes(scenario_file: Path, content: bytes) -> None:
    scenario_file.write_bytes(content)
    load_or_input_error(scenario_file)


@FUZZ
@given(documents)
def test_any_document(scenario_file: Path, document: dict[str, Any]) -> None:
    scenario_file.write_text(toml_document(document))
    if load_or_input_error(scenario_file) is not None:
        SCHEMA.validate(document)


@FUZZ
@given(st.sampled_from(PLACES), values)
def test_valid_scenario_with_one_value_replaced(
    scenario_file: Path, place: tuple[Any, ...], junk: Any
) -> None:
    document = replaced(VALID, place, junk)
    scenario_file.write_text(toml_document(document))
    if load_or_input_error(scenario_file) is not None:
        SCHEMA.validate(document)
