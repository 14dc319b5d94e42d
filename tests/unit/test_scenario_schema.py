"""The scenario JSON Schema (harness/scenario/schema.py) says what the loader says.

The checked-in file is the generator's current output; every scenario file validates;
each key's kind and default in resources/scenario_keys.toml is what the loader checks and
fills in; and a key of the wrong kind is refused by both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import jsonschema
import pytest

from harness import paths
from harness.build.toolchains import load_catalogue
from harness.errors import InvalidInputFile
from harness.scenario.load import Scenario, load_scenario
from harness.scenario.schema import render, scenario_schema
from harness.scenario.tomlload import read_toml
from harness.scenario.vocabulary import Kind, tables
from tests.unit.helpers import toml_document

REPO: Final = Path(__file__).resolve().parents[2]
SCHEMA: Final = json.loads(paths.SCENARIO_SCHEMA.read_text(encoding="utf-8"))
VALIDATOR: Final = jsonschema.Draft202012Validator(SCHEMA)

BASE: Final[dict[str, Any]] = {
    "name": "kinds",
    "description": "one wheel of each shape",
    "wheels": [
        {"id": "a", "fixture": "call_once"},
        {"id": "b", "fixture": "call_once"},
        {"id": "p", "requirement": "numpy"},
    ],
    "matrix": {},
    "expect": [{"when": {}, "verdict": "pass"}],
}
# Where each table sits in BASE, as the loader names it in its problems.
PLACES: Final = {
    "top": "",
    "wheel": "wheels[0].",
    "prebuilt": "wheels[2].",
    "matrix": "matrix.",
    "expect": "expect[0].",
    "when": "expect[0].when.",
}
WRONG: Final[dict[Kind, Any]] = {
    Kind.STRING: 7,
    Kind.STRINGS: [1],
    Kind.INTEGER: "many",
    Kind.NUMBER: "long",
    Kind.BOOLEAN: "yes",
    Kind.TABLE: 5,
    Kind.TABLES: 5,
    Kind.WHEELS: 5,
    Kind.ORDERS: 5,
    Kind.TOOLCHAINS: 5,
}
LOADED: Final[dict[tuple[str, str], Callable[[Scenario], Any]]] = {
    ("top", "requirement"): lambda s: s.requirement,
    ("top", "exercise"): lambda s: s.exercise,
    ("top", "constraints"): lambda s: tuple(str(p) for w in s.wheels for p in w.constraints),
    ("wheel", "toolchain"): lambda s: s.wheels[0].toolchain_options,
    ("wheel", "link"): lambda s: s.wheels[0].link,
    ("wheel", "threads"): lambda s: s.wheels[0].threads,
    ("prebuilt", "threads"): lambda s: s.wheels[2].threads,
    ("matrix", "targets"): lambda s: s.matrix.targets,
    ("matrix", "arch"): lambda s: s.matrix.arch,
    ("matrix", "dlopen"): lambda s: s.matrix.dlopen,
    ("matrix", "host"): lambda s: s.matrix.host,
    ("matrix", "repeat"): lambda s: s.matrix.repeat,
    ("matrix", "timeout"): lambda s: s.matrix.timeout_s,
    ("matrix", "victims"): lambda s: s.matrix.victims,
    ("matrix", "orders"): lambda s: s.matrix.orders,
    ("matrix", "first_use"): lambda s: s.matrix.first_use,
    ("matrix", "singletons"): lambda s: s.matrix.singletons,
    ("expect", "reason"): lambda s: s.expectations[0].reason,
}


@pytest.fixture
def scenario_path(tmp_path: Path) -> Path:
    (tmp_path / "fixtures" / "cpp" / "call_once").mkdir(parents=True)
    (tmp_path / "scenarios").mkdir()
    return tmp_path / "scenarios" / "kinds.toml"


def test_the_checked_in_schema_is_current() -> None:
    assert paths.SCENARIO_SCHEMA.read_text(encoding="utf-8") == render(), (
        "harness/resources/scenario.schema.json is stale; regenerate it with "
        "`.venv/bin/python -m harness.scenario.schema > harness/resources/scenario.schema.json`"
    )
    jsonschema.Draft202012Validator.check_schema(scenario_schema())


def scenario_files() -> list[Path]:
    """The shipped scenarios, then the test suite's own (not the bad-input corpus, the
    fixtures' pyproject.toml files, nor atlas corpora: those are read by their own loader)."""
    test_data = REPO / "tests" / "data"
    return sorted((REPO / "scenarios").rglob("*.toml")) + sorted(
        p
        for p in test_data.rglob("*.toml")
        if "bad-input" not in p.parts and "fixtures" not in p.parts and p.name != "corpus.toml"
    )


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_scenario_file_validates(path: Path) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(read_toml(path))
    ]
    assert errors == []


def test_the_base_document_loads_and_validates(scenario_path: Path) -> None:
    scenario_path.write_text(toml_document(BASE))
    load_scenario(scenario_path, load_catalogue())
    VALIDATOR.validate(BASE)


def test_every_default_is_what_the_loader_fills_in(scenario_path: Path) -> None:
    scenario_path.write_text(toml_document(BASE))
    scenario = load_scenario(scenario_path, load_catalogue())
    defaults = {
        (table.name, key.name): key.default
        for table in tables().values()
        for key in table.keys
        if key.default is not None
    }
    assert set(defaults) == set(LOADED)
    for place, default in defaults.items():
        loaded = LOADED[place](scenario)
        assert (tuple(loaded) if isinstance(loaded, tuple) else loaded) == default, place


def placed(table: str, key: str, value: Any) -> dict[str, Any]:
    """BASE with `key` of `table` set to `value` (a given wheel keeps only the key given)."""
    document = copy.deepcopy(BASE)
    holders = {
        "top": document,
        "wheel": document["wheels"][0],
        "prebuilt": document["wheels"][2],
        "matrix": document["matrix"],
        "expect": document["expect"][0],
        "when": document["expect"][0]["when"],
    }
    holder = holders[table]
    for other in tables()[table].one_of:
        holder.pop(other, None)
    holder[key] = value
    return document


@pytest.mark.parametrize(
    ("table", "key"),
    [(table.name, key.name) for table in tables().values() for key in table.keys],
)
def test_a_key_of_the_wrong_kind_is_refused_by_loader_and_schema(
    scenario_path: Path, table: str, key: str
) -> None:
    kind = tables()[table].key(key).kind
    document = placed(table, key, WRONG[kind])
    scenario_path.write_text(toml_document(document))
    with pytest.raises(InvalidInputFile) as refused:
        load_scenario(scenario_path, load_catalogue())
    where = PLACES[table] + key
    assert any(p.key == where for p in refused.value.problems), (where, str(refused.value))
    assert not VALIDATOR.is_valid(document)


def test_the_schema_knows_the_closed_sets_and_the_subkind_rule() -> None:
    good = copy.deepcopy(BASE)
    good["expect"][0].update(verdict="import-error", subkind="static-tls")
    VALIDATOR.validate(good)
    for table, key, value in [
        ("expect", "verdict", "explode"),
        ("matrix", "host", ["plain", "bash"]),
        ("matrix", "arch", "m68k"),
        ("matrix", "dlopen", "global"),
        ("matrix", "orders", {"cover": 5}),
        ("expect", "subkind", "static-tls"),  # the verdict is pass: no subkind
        ("top", "name", "Call Once"),
        ("top", "colour", "red"),
    ]:
        assert not VALIDATOR.is_valid(placed(table, key, value)), (table, key, value)


# Bad-input files whose problem only the loader can see: cross-references between wheels,
# expectations and modes, the fixture folders, the toolchain table, counts of orders and sets.
LOADER_ONLY: Final = {
    "duplicate-wheel-ids.toml",
    "fixture-missing-directory.toml",
    "unknown-toolchain.toml",
    "toolchain-listed-twice.toml",
    "toolchain-empty-list.toml",
    "unknown-link-mode.toml",
    "link-mode-wrong-runtime.toml",
    "duplicate-module.toml",
    "exercise-not-identifier.toml",
    "seven-wheels.toml",
    "too-many-toolchain-variants.toml",
    "dlopen-global-unknown-wheel.toml",
    "expect-after-default.toml",
    "when-order-incomplete.toml",
    "when-before-one-id.toml",
    "when-before-unknown-id.toml",
    "when-dlopen-bad.toml",
    "when-toolchain-not-varying.toml",
    "when-toolchain-not-listed.toml",
    "constraints-missing-file.toml",
    "constraints-without-requirement.toml",
    "timeout-inf.toml",  # finiteness: JSON Schema has no way to refuse inf
}


def test_the_schema_refuses_every_bad_scenario_it_can_judge() -> None:
    corpus = REPO / "tests" / "data" / "bad-input"
    cases = read_toml(corpus / "cases.toml")["scenario"]
    accepted = set()
    for case in cases:
        try:
            document = read_toml(corpus / "files" / case["file"])
        except InvalidInputFile:
            continue  # not TOML at all: nothing for a schema to read
        if VALIDATOR.is_valid(document):
            accepted.add(case["file"])
    assert accepted == LOADER_ONLY
