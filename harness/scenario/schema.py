"""The JSON Schema of scenario files, generated from the loader's own definitions.

The tables and their keys come from resources/scenario_keys.toml (the loader's vocabulary),
the closed sets from the enums and tuples the loader checks against, the patterns from its
regular expressions. The schema is a necessary condition: every file the loader accepts
validates, while what needs the file system or the other wheels (a fixture that exists, a
dlopen mode naming a wheel of the set) is left to the loader.

Regenerate the checked-in copy with
`python -m harness.scenario.schema > harness/resources/scenario.schema.json`;
tests/unit/test_scenario_schema.py fails while it is stale.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any, Final, assert_never

from harness.common.ids import (
    GLOBAL_ALL,
    GLOBAL_FIRST,
    GLOBAL_PREFIX,
    LOCAL,
    SCENARIO_NAME_RE,
    WHEEL_ID_RE,
)
from harness.common.verdicts import FailureKind, ImportErrorKind, Verdict
from harness.scenario.first_use import FirstUse
from harness.scenario.load import (
    ARCHES,
    COVER_STRENGTHS,
    IDENTIFIER_RE,
    MODULE_RE,
    WHEEL_SUFFIX,
    HostMode,
    OrderMode,
)
from harness.scenario.vocabulary import Key, Kind, Table, tables

SCHEMA_ID: Final = "https://wheelclash.invalid/scenario.schema.json"


def _literal(text: str) -> str:
    """`text` as a pattern that any regex dialect (Python's, ECMA-262's) reads alike: only
    the dot is escaped, so no other character may be special."""
    assert re.fullmatch(r"[\w:.-]+", text), text
    return text.replace(".", "\\.")


CHOICES: Final[Mapping[str, tuple[str, ...]]] = {
    "verdict": tuple(Verdict),
    "subkind": tuple(ImportErrorKind),
    "host": tuple(HostMode),
    "arch": ARCHES,
    "first_use": tuple(FirstUse),
    "failure_kind": tuple(FailureKind),
}
PATTERNS: Final[Mapping[str, str]] = {
    "name": SCENARIO_NAME_RE.pattern,
    "id": WHEEL_ID_RE.pattern,
    "module": IDENTIFIER_RE.pattern,
    "dotted_module": MODULE_RE.pattern,
    "dlopen": (
        f"^({_literal(LOCAL)}|{_literal(GLOBAL_ALL)}|{_literal(GLOBAL_FIRST)}|"
        f"{_literal(GLOBAL_PREFIX)}.+)$"
    ),
    "wheel_file": f"{_literal(WHEEL_SUFFIX)}$",
}


def _string(key: Key) -> dict[str, Any]:
    """A string, narrowed by the key's closed set or pattern."""
    schema: dict[str, Any] = {"type": "string"}
    if key.choices:
        schema["enum"] = list(CHOICES[key.choices])
    if key.pattern:
        schema["pattern"] = PATTERNS[key.pattern]
    return schema


def _strings(key: Key) -> dict[str, Any]:
    one = _string(key)
    return {"anyOf": [one, {"type": "array", "items": one}]}


def _ref(table: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{table}"}


def _value(key: Key) -> dict[str, Any]:
    """The schema of one key's value, by its kind."""
    match key.kind:
        case Kind.STRING:
            return _string(key)
        case Kind.STRINGS:
            return _strings(key)
        case Kind.INTEGER:
            return {"type": "integer", **({"minimum": key.minimum} if key.minimum else {})}
        case Kind.NUMBER:
            return {"type": "number", "exclusiveMinimum": 0}
        case Kind.BOOLEAN:
            return {"type": "boolean"}
        case Kind.TABLE:
            return _ref(key.table)
        case Kind.TABLES:
            return {"type": "array", "items": _ref(key.table)}
        case Kind.WHEELS:
            given = {"anyOf": [{"required": [name]} for name in tables()["prebuilt"].one_of]}
            return {
                "type": "array",
                "minItems": 1,
                "items": {"if": given, "then": _ref("prebuilt"), "else": _ref("wheel")},
            }
        case Kind.ORDERS:
            cover = {
                "type": "object",
                "required": ["cover"],
                "additionalProperties": False,
                "properties": {"cover": {"enum": list(COVER_STRENGTHS)}},
            }
            return {"anyOf": [{"enum": [str(OrderMode.ALL), str(OrderMode.PAIRS)]}, cover]}
        case Kind.TOOLCHAINS:
            return {"type": "object", "additionalProperties": _strings(key)}
        case _:
            assert_never(key.kind)


def _property(key: Key) -> dict[str, Any]:
    schema = {"description": key.description, **_value(key)}
    if key.default is not None:
        default = key.default
        schema["default"] = list(default) if isinstance(default, tuple) else default
    return schema


def _table(table: Table) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "description": table.description,
        "type": "object",
        "additionalProperties": False,
        "properties": {key.name: _property(key) for key in table.keys},
    }
    required = [key.name for key in table.keys if key.required]
    if required:
        schema["required"] = required
    if table.one_of:
        schema["oneOf"] = [{"required": [name]} for name in table.one_of]
    conditions = [
        {
            "if": {"required": [key.name]},
            "then": {
                "required": [other for other, _ in key.only_with],
                "properties": {other: {"const": value} for other, value in key.only_with},
            },
        }
        for key in table.keys
        if key.only_with
    ]
    if conditions:
        schema["allOf"] = conditions
    return schema


def scenario_schema() -> dict[str, Any]:
    """The whole schema: the document is the `top` table, the others are $defs."""
    found = tables()
    top = _table(found["top"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "wheelclash scenario",
        **top,
        "$defs": {name: _table(table) for name, table in found.items() if name != "top"},
    }


def render() -> str:
    """The schema as the checked-in file holds it."""
    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
