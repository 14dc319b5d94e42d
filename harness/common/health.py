"""One finding of `wheelclash doctor`: what was checked, how it stands, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # a run works, slower or with less (a slow driver, a missing foreign arch)
    FAIL = "fail"  # a run cannot work as it stands


@dataclass(frozen=True, kw_only=True)
class Check:
    """One line of the doctor's report. `name` is stable (scripts read it from --json)."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}


def runnable(checks: Iterable[Check]) -> bool:
    """Whether a run can work: nothing failed (warnings only cost speed or reach)."""
    return all(check.status is not Status.FAIL for check in checks)
