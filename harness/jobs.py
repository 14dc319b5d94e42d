"""What the supervisor needs to run one cell: imports, exercises, environment, timeout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.plan import Cell
from harness.scenario import HostMode, Scenario

# The loader finds a bare SONAME in LD_PRELOAD on its search path, in every target.
PRELOAD: Final[Mapping[str, str]] = {
    HostMode.PLAIN: "",
    HostMode.PRELOAD_LIBSTDCXX: "libstdc++.so.6",
}


@dataclass(frozen=True, kw_only=True)
class Import:
    module: str
    rtld_global: bool


@dataclass(frozen=True, kw_only=True)
class Exercise:
    module: str
    function: str
    threads: int


@dataclass(frozen=True, kw_only=True)
class CellJob:
    cell_id: str
    imports: tuple[Import, ...]
    exercises: tuple[Exercise, ...]
    victims: bool
    preload: str
    timeout_s: float
    env: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The cell's entry in a supervisor batch (see resources/supervisor.py)."""
        env = dict(self.env)
        if self.preload:
            env["LD_PRELOAD"] = self.preload
        return {
            "id": self.cell_id,
            "timeout": self.timeout_s,
            "env": env,
            "spec": {
                "imports": [{"module": i.module, "global": i.rtld_global} for i in self.imports],
                "exercises": [
                    {"module": e.module, "function": e.function, "threads": e.threads}
                    for e in self.exercises
                ],
                "victims": self.victims,
            },
        }


def job_for(scenario: Scenario, cell: Cell, timeout_scale: float = 1.0) -> CellJob:
    """The probe's instructions for a cell: import in order, then use in its first-use order."""
    globals_ = cell.global_ids()
    wheels = [scenario.wheel(wheel_id) for wheel_id in cell.order]
    used = [scenario.wheel(wheel_id) for wheel_id in cell.use_order]
    return CellJob(
        cell_id=cell.id,
        imports=tuple(Import(module=w.module, rtld_global=w.id in globals_) for w in wheels),
        exercises=tuple(
            Exercise(module=w.module, function=w.exercise, threads=w.threads)
            for w in used
            if w.exercise
        ),
        victims=scenario.matrix.victims,
        preload=PRELOAD[HostMode(cell.host)],
        timeout_s=scenario.matrix.timeout_s * timeout_scale,
    )


def batch(jobs: Sequence[CellJob], *, python: str, probe: str, workdir: str) -> dict[str, Any]:
    """A whole supervisor batch document."""
    return {
        "python": python,
        "probe": probe,
        "workdir": workdir,
        "tail_bytes": 4000,
        "cells": [job.to_json() for job in jobs],
    }
