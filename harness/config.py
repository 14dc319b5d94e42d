"""Project defaults from `[tool.wheelclash]` in the working directory's pyproject.toml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

from harness.tomlload import Checker, read_toml

KEYS: Final = {"backend", "targets", "results"}


@dataclass(frozen=True, kw_only=True)
class Defaults:
    backend: str = "auto"
    targets: tuple[str, ...] | None = None
    results: Path = Path("results")

    @classmethod
    def from_pyproject(cls, path: Path | None = None) -> Self:
        """Defaults, overridden by the file's `[tool.wheelclash]` table when there is one."""
        path = path or Path.cwd() / "pyproject.toml"
        if not path.is_file():
            return cls()
        check = Checker(path)
        table = check.table(
            check.table(read_toml(path), "tool", "tool"), "wheelclash", "tool.wheelclash"
        )
        check.unknown_keys(table, KEYS, "tool.wheelclash")
        backend = check.string(table, "backend", "tool.wheelclash.backend", "auto")
        targets = check.strings(table, "targets", "tool.wheelclash.targets") or None
        results = check.string(table, "results", "tool.wheelclash.results", "results")
        check.raise_if_any()
        return cls(backend=backend, targets=targets, results=Path(results))
