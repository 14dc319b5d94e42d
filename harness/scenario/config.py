"""Project defaults from `[tool.wheelclash]` in the working directory's pyproject.toml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Self

from harness.scenario import engine_option
from harness.scenario.load import ARCHES
from harness.scenario.tomlload import Checker, read_toml

KEYS: Final = {"backend", "targets", "results", "engines"}


@dataclass(frozen=True, kw_only=True)
class Defaults:
    backend: str = "auto"
    targets: tuple[str, ...] | None = None
    results: Path = Path("results")
    engines: Mapping[str, str] = field(default_factory=dict)  # arch -> Docker engine

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
        engines = check.table(table, "engines", "tool.wheelclash.engines")
        for arch, spec in engines.items():
            problem = engine_option.problem(arch, spec, ARCHES)
            if problem:
                check.add(f"tool.wheelclash.engines.{arch}", problem)
        check.raise_if_any()
        return cls(
            backend=backend,
            targets=targets,
            results=Path(results),
            engines={str(arch): str(spec) for arch, spec in engines.items()},
        )
