"""Reading TOML files into plain tables, with errors that name the file and the line."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import InvalidInputFile, Problem


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed document; a missing or malformed file is an `InvalidInputFile`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInputFile([Problem(path, "", "no such file; check the path")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputFile([Problem(path, "", f"cannot be read ({exc})")]) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputFile([Problem(path, "", f"is not valid TOML: {exc}")]) from exc


class Checker:
    """Collects problems while a table is converted, so a file's problems come out at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.path, key, message))

    def unknown_keys(self, table: dict[str, Any], allowed: set[str], key: str) -> None:
        for name in sorted(set(table) - allowed):
            where = f"{key}.{name}" if key else name
            self.add(where, f"unknown key; valid keys here: {', '.join(sorted(allowed))}")

    def string(self, table: dict[str, Any], name: str, key: str, default: str | None = None) -> str:
        value = table.get(name, default)
        if not isinstance(value, str):
            shown = "missing" if value is None else f"a {type(value).__name__}"
            self.add(key, f"must be a string (is {shown})")
            return ""
        return value

    def strings(
        self, table: dict[str, Any], name: str, key: str, default: tuple[str, ...] = ()
    ) -> tuple[str, ...]:
        """A list of strings; a single string is taken as a list of one."""
        value = table.get(name, list(default))
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(key, "must be a string or a list of strings")
            return ()
        return tuple(value)

    def integer(
        self, table: dict[str, Any], name: str, key: str, default: int, minimum: int
    ) -> int:
        value = table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.add(key, f"must be a whole number of at least {minimum}")
            return default
        return value

    def number(self, table: dict[str, Any], name: str, key: str, default: float) -> float:
        value = table.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            self.add(key, "must be a positive, finite number")
            return default
        return float(value)

    def boolean(self, table: dict[str, Any], name: str, key: str, default: bool) -> bool:
        value = table.get(name, default)
        if not isinstance(value, bool):
            self.add(key, "must be true or false")
            return default
        return value

    def table(self, parent: dict[str, Any], name: str, key: str) -> dict[str, Any]:
        value = parent.get(name, {})
        if not isinstance(value, dict):
            self.add(key, "must be a table")
            return {}
        return value

    def rows(
        self, parent: dict[str, Any], name: str, key: str, fields: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each table of the array of tables `name` (`[[name]]`) with its key (`name[0]`);
        a value that is no such array, or a row that is no table, is a problem (a row's
        `fields` say what it must hold)."""
        value = parent.get(name, [])
        if not isinstance(value, list):
            self.add(key, f"must be an array of tables ([[{key}]])")
            return
        for index, row in enumerate(value):
            if isinstance(row, dict):
                yield f"{key}[{index}]", row
            else:
                self.add(f"{key}[{index}]", f"must be a table with {fields}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidInputFile(self.problems)
