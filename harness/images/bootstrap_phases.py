"""mmdebstrap's phases (resources/progress.toml): which of its output lines starts which phase,
so a bootstrap can report "phase k of n" as it goes."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from harness import paths
from harness.scenario.tomlload import Checker, read_toml


@dataclass(frozen=True, kw_only=True)
class Phase:
    name: str
    pattern: re.Pattern[str]


@dataclass(frozen=True, kw_only=True)
class Phases:
    """The phases in the order mmdebstrap goes through them."""

    phases: tuple[Phase, ...]

    @classmethod
    def from_file(cls, path: Path) -> Self:
        document = read_toml(path)
        check = Checker(path)
        section = check.table(document, "mmdebstrap", "mmdebstrap")
        check.unknown_keys(section, {"phases"}, "mmdebstrap")
        if not section.get("phases"):
            check.add("mmdebstrap.phases", "must list the phases ([[mmdebstrap.phases]])")
        phases = []
        for key, row in check.rows(section, "phases", "mmdebstrap.phases", "pattern and name"):
            check.unknown_keys(row, {"pattern", "name"}, key)
            name = check.string(row, "name", f"{key}.name")
            text = check.string(row, "pattern", f"{key}.pattern")
            try:
                pattern = re.compile(text)
            except re.error as exc:
                check.add(f"{key}.pattern", f"is not a regular expression ({exc}); fix it")
                continue
            phases.append(Phase(name=name, pattern=pattern))
        check.raise_if_any()
        return cls(phases=tuple(phases))

    def match(self, line: str) -> tuple[int, Phase] | None:
        """The phase this output line starts, numbered from 1; None for any other line."""
        for number, phase in enumerate(self.phases, 1):
            if phase.pattern.search(line):
                return number, phase
        return None


@functools.cache
def load_phases(path: Path = paths.PROGRESS_TOML) -> Phases:
    return Phases.from_file(path)
