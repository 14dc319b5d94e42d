"""What a failing cell's supervisor is asked to capture, and where it puts it.

The job carries this request into the cell's place; the supervisor runs
resources/crash_capture.py there only for cells that failed. `harness.evidence.capture`
reads what came back.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

DEFAULT_CORE_CAP: Final = 512 << 20  # bytes of uncompressed core; bigger cores are dropped
# What a failing cell may add to its batch's deadline, beyond its own timeout: an attach to
# the live process, a re-run under gdb (its timeout again), a core check, an LD_DEBUG re-run.
CAPTURE_SLACK_S: Final = 90.0
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._,=+-]+")


@dataclass(frozen=True, kw_only=True)
class CaptureSettings:
    """A run's capture request: where artefacts go and what to collect."""

    run_dir: Path
    debug_bindings: bool = False
    core_cap: int = DEFAULT_CORE_CAP
    kernel_cores: bool = True  # False: always re-run under gdb (tests use it)

    def spec_for(self, cell_id: str, *, keep_core: bool = True) -> CaptureSpec:
        """The cell's capture. `keep_core` False for the extra runs of a failing cell (for
        its flake rate: harness/run/repeats.py), which keep their backtraces but not their
        cores: the failing run before them keeps one, and a whole-corpus atlas would
        otherwise keep three cores of each failing cell (gigabytes)."""
        return CaptureSpec(
            folder=self.run_dir / cell_folder(cell_id),
            bindings=self.debug_bindings,
            core_cap=self.core_cap,
            kernel_cores=self.kernel_cores,
            keep_core=keep_core,
        )


@dataclass(frozen=True, kw_only=True)
class CaptureSpec:
    """One cell's capture: its folder on this machine and what to collect."""

    folder: Path
    bindings: bool = False
    core_cap: int = DEFAULT_CORE_CAP
    kernel_cores: bool = True
    keep_core: bool = True  # False: a backtrace but no core (crash_capture.py)

    def budget_s(self, timeout_s: float) -> float:
        return 2 * timeout_s + CAPTURE_SLACK_S

    def to_json(self, root: str | None = None) -> dict[str, Any]:
        """The supervisor's settings; `root` is the folder's parent where the cell runs."""
        where = f"{root}/{self.folder.name}" if root else str(self.folder)
        return {
            "dir": where,
            "bindings": self.bindings,
            "core_cap": self.core_cap,
            "kernel_cores": self.kernel_cores,
            **({} if self.keep_core else {"keep_core": False}),
        }


def cell_folder(cell_id: str) -> str:
    """A file-system-safe, collision-free folder name for a cell id."""
    slug = _UNSAFE.sub("_", cell_id.replace("/", "__").replace("#", "__")).strip("._")
    digest = hashlib.sha256(cell_id.encode()).hexdigest()[:8]
    return f"{slug[:120]}-{digest}"
