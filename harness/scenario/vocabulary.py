"""The keys of a scenario file as data: resources/scenario_keys.toml, read into typed tables.

The loader (load.py) accepts exactly these keys; schema.py writes them, with their kinds,
defaults and the closed sets they name, as a JSON Schema. The file ships with the package,
so a mistake in it is a bug, reported like any bad input: file, key and what is wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from harness import paths
from harness.scenario.tomlload import Checker, read_toml

Default = str | int | float | bool | tuple[str, ...] | None


class Kind(StrEnum):
    """What a key holds (see the head of scenario_keys.toml)."""

    STRING = "string"
    STRINGS = "strings"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TABLE = "table"
    TABLES = "tables"
    WHEELS = "wheels"
    ORDERS = "orders"
    TOOLCHAINS = "toolchains"


CHOICES: Final = ("verdict", "subkind", "host", "arch", "first_use", "failure_kind")
PATTERNS: Final = ("name", "id", "module", "dotted_module", "dlopen", "wheel_file")
KEY_FIELDS: Final = {
    "kind",
    "description",
    "required",
    "default",
    "minimum",
    "choices",
    "pattern",
    "table",
    "only_with",
}


@dataclass(frozen=True, kw_only=True)
class Key:
    name: str
    kind: Kind
    description: str
    required: bool = False
    default: Default = None
    minimum: int | None = None
    choices: str = ""
    pattern: str = ""
    table: str = ""
    only_with: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Table:
    name: str
    description: str
    keys: tuple[Key, ...]
    one_of: tuple[str, ...] = ()

    @property
    def names(self) -> set[str]:
        return {key.name for key in self.keys}

    def key(self, name: str) -> Key:
        return next(key for key in self.keys if key.name == name)


def _default(value: Any) -> Default:
    return tuple(value) if isinstance(value, list) else value


def _key(check: Checker, name: str, raw: dict[str, Any], where: str) -> Key:
    check.unknown_keys(raw, KEY_FIELDS, where)
    kind = check.string(raw, "kind", f"{where}.kind")
    if kind not in set(Kind):
        check.add(f"{where}.kind", f"unknown kind {kind!r}; valid: {', '.join(Kind)}")
        kind = Kind.STRING
    choices = check.string(raw, "choices", f"{where}.choices", "")
    if choices and choices not in CHOICES:
        check.add(f"{where}.choices", f"valid: {', '.join(CHOICES)}")
    pattern = check.string(raw, "pattern", f"{where}.pattern", "")
    if pattern and pattern not in PATTERNS:
        check.add(f"{where}.pattern", f"valid: {', '.join(PATTERNS)}")
    minimum = raw.get("minimum")
    if minimum is not None and not isinstance(minimum, int):
        check.add(f"{where}.minimum", "must be a whole number")
        minimum = None
    only_with = check.table(raw, "only_with", f"{where}.only_with")
    return Key(
        name=name,
        kind=Kind(kind),
        description=check.string(raw, "description", f"{where}.description"),
        required=check.boolean(raw, "required", f"{where}.required", False),
        default=_default(raw.get("default")),
        minimum=minimum,
        choices=choices,
        pattern=pattern,
        table=check.string(raw, "table", f"{where}.table", ""),
        only_with=tuple((k, str(v)) for k, v in only_with.items()),
    )


@functools.cache
def tables() -> Mapping[str, Table]:
    """Every table of a scenario file by name; `top` is the document itself."""
    document = read_toml(paths.SCENARIO_KEYS)
    check = Checker(paths.SCENARIO_KEYS)
    found: dict[str, Table] = {}
    for name, raw in document.items():
        check.unknown_keys(raw, {"description", "keys", "one_of"}, name)
        keys = check.table(raw, "keys", f"{name}.keys")
        found[name] = Table(
            name=name,
            description=check.string(raw, "description", f"{name}.description"),
            keys=tuple(_key(check, k, v, f"{name}.keys.{k}") for k, v in keys.items()),
            one_of=check.strings(raw, "one_of", f"{name}.one_of"),
        )
    for table in found.values():
        for key in table.keys:
            if key.table and key.table not in found:
                check.add(f"{table.name}.keys.{key.name}.table", f"no table {key.table!r}")
    check.raise_if_any()
    return found
