"""What the supervisor needs to run one cell: imports, exercises, environment, timeout."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.cells.capture_request import CaptureSpec
from harness.scenario.load import HostMode, Scenario
from harness.scenario.plan import Cell

# The loader finds a bare SONAME in LD_PRELOAD on its search path, in every target.
PRELOAD: Final[Mapping[str, str]] = {
    HostMode.PLAIN: "",
    HostMode.PRELOAD_LIBSTDCXX: "libstdc++.so.6",
}
# A batch's deadline is its cells' budgets plus this, for what no cell owns: starting the
# supervisor (through `docker exec` on a loaded engine, or under qemu, that alone has taken
# tens of seconds) and reading its last line. Late, it only delays noticing a supervisor that
# is wedged, which is rare; early, it turns the cells still to come into infra-errors.
BATCH_SLACK_S: Final = 60.0


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
    capture: CaptureSpec | None = None
    snippet: str = ""  # Python code the probe runs after the exercises (a first use)
    # Top-level module names the installed wheels provide; the classifier's, not the probe's.
    provided: tuple[str, ...] = ()
    # What the probe hides of a shared environment, so that the cell sees its own wheels only,
    # as if the others were not installed: dotted module prefixes ("google.re2") and canonical
    # distribution names ("google-re2"), for imports and importlib.metadata alike.
    hidden_modules: tuple[str, ...] = ()
    hidden_dists: tuple[str, ...] = ()

    @property
    def budget_s(self) -> float:
        """This cell's share of its batch's deadline: its timeout, plus capture when asked."""
        return self.timeout_s + 5 + (self.capture.budget_s(self.timeout_s) if self.capture else 0)

    def to_json(self, capture_root: str | None = None) -> dict[str, Any]:
        """The cell's entry in a supervisor batch (see resources/supervisor.py); capture
        folders go under `capture_root` where the cell runs (default: their own path)."""
        env = dict(self.env)
        if self.preload:
            env["LD_PRELOAD"] = self.preload
        capture = {"capture": self.capture.to_json(capture_root)} if self.capture else {}
        return {
            **capture,
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
                **({"snippet": self.snippet} if self.snippet else {}),
                **self._hide(),
            },
        }

    def _hide(self) -> dict[str, Any]:
        """The spec's "hide" entry, only when something is hidden: a cell in an environment of
        its own keeps the batch document it had before hiding existed."""
        if not (self.hidden_modules or self.hidden_dists):
            return {}
        return {"hide": {"modules": list(self.hidden_modules), "dists": list(self.hidden_dists)}}


def job_for(
    scenario: Scenario, cell: Cell, timeout_scale: float = 1.0, provided: Sequence[str] = ()
) -> CellJob:
    """The probe's instructions for a cell: import in order, then use in its first-use order.
    `provided`: the top-level names the installed wheels hold (`build.prebuilt.provided_names`),
    to which the first component of every module the scenario imports is added."""
    globals_ = cell.global_ids()
    wheels = [scenario.wheel(wheel_id) for wheel_id in cell.order]
    used = [scenario.wheel(wheel_id) for wheel_id in cell.use_order]
    return CellJob(
        cell_id=cell.id,
        imports=tuple(
            Import(module=module, rtld_global=w.id in globals_)
            for w in wheels
            for module in w.imports
        ),
        exercises=tuple(
            Exercise(module=w.imports[0], function=w.exercise, threads=w.threads)
            for w in used
            if w.exercise
        ),
        victims=scenario.matrix.victims,
        preload=PRELOAD[HostMode(cell.host)],
        timeout_s=scenario.matrix.timeout_s * timeout_scale,
        snippet=scenario.exercise,
        provided=tuple(
            sorted({*provided, *(m.split(".")[0] for w in scenario.wheels for m in w.imports)})
        ),
    )


def batch_deadline(jobs: Sequence[CellJob]) -> float:
    """The monotonic time by which a batch of `jobs` started now must have reported."""
    return time.monotonic() + sum(job.budget_s for job in jobs) + BATCH_SLACK_S


def batch(
    jobs: Sequence[CellJob],
    *,
    python: str,
    probe: str,
    workdir: str,
    capture_root: str | None = None,
    die_with_parent: bool = False,
    private_home: bool = False,
    compiled_probe: bool = False,
) -> dict[str, Any]:
    """A whole supervisor batch document. `die_with_parent` when the supervisor's parent is
    the harness itself (the local backend): under `docker exec` its parent is the runtime's
    short-lived exec process, and the container's removal stops it instead. `private_home`
    gives each cell's probe a HOME and TMPDIR of its own, gone after the cell: in a container
    that outlives many cells (of other pairs, too), none sees what an earlier one left there.
    `compiled_probe` where `python` is the interpreter the supervisor runs on: its probes may
    then run the probe compiled (resources/supervisor.py)."""
    return {
        "python": python,
        "probe": probe,
        "workdir": workdir,
        "tail_bytes": 4000,
        "die_with_parent": die_with_parent,
        **({"private_home": True} if private_home else {}),
        **({"compiled_probe": True} if compiled_probe else {}),
        "cells": [job.to_json(capture_root) for job in jobs],
    }
