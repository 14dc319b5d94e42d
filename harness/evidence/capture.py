"""Crash evidence for failing cells: what to ask the supervisor for, and what came back.

The work itself happens where the cell ran (resources/crash_capture.py, called by the
supervisor only for cells that failed, as `harness.cells.capture_request` asks). This
module turns the stored files into the result's evidence: the top native frames, the Python
stack, the library map with its duplicate runtimes, and, with `--debug-bindings`, the
runtime symbols the loader bound to an extension module.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Final

from harness.cells.capture_request import CaptureSpec
from harness.cells.outcome import Outcome
from harness.evidence import crashparse
from harness.evidence.demangle import demangle
from harness.evidence.results import Evidence

logger = logging.getLogger(__name__)

TOP_FRAMES: Final = 6


def gather(outcome: Outcome, spec: CaptureSpec | None, run_dir: Path | None) -> Evidence:
    """Read the cell's stored artefacts (if any) into evidence; never raises on bad files."""
    libraries = outcome.loaded_libraries
    stack = crashparse.python_stack(outcome.stderr_tail) or outcome.hang_stack.strip()
    if spec is None or run_dir is None or not outcome.artefacts:
        # A capture that failed, or whose files could not be copied out, says why.
        return Evidence(
            python_stack=stack or outcome.python_traceback,
            duplicate_runtimes=crashparse.duplicate_runtimes(libraries),
            notes=outcome.capture_notes,
            libraries=libraries,
        )
    folder = spec.folder
    artefacts = dict(outcome.artefacts)
    top: tuple[str, ...] = ()
    backtrace = _read(folder / artefacts.get("backtrace", artefacts.get("hang_stack", "-")))
    if backtrace:
        report = crashparse.parse_gdb(backtrace)
        top = crashparse.top_frames(report, TOP_FRAMES)
        if report.libraries:
            libraries = tuple(lib.path for lib in report.libraries)
    listed = _read(folder / artefacts.get("libraries", "-"))
    if listed:
        libraries = tuple(line for line in listed.splitlines() if line)
    if libraries and "libraries" not in artefacts:
        (folder / "libraries.txt").write_text("\n".join(libraries) + "\n", encoding="utf-8")
        artefacts["libraries"] = "libraries.txt"
    full_stderr = _read(folder / artefacts.get("stderr", "-"))
    stack = crashparse.python_stack(full_stderr) or stack or outcome.python_traceback
    if stack:
        (folder / "python-stack.txt").write_text(stack + "\n", encoding="utf-8")
        artefacts["python_stack"] = "python-stack.txt"
    findings: tuple[str, ...] = ()
    if "ld_debug" in artefacts:
        findings = _binding_findings(folder / artefacts["ld_debug"])
        (folder / "bindings.txt").write_text(
            "".join(f + "\n" for f in findings) or "no runtime symbol bound to a module\n",
            encoding="utf-8",
        )
        artefacts["bindings"] = "bindings.txt"
    relative = {
        name: str((folder / file).relative_to(run_dir)) for name, file in sorted(artefacts.items())
    }
    return Evidence(
        artefacts=relative,
        native_top=top,
        python_stack=stack,
        duplicate_runtimes=crashparse.duplicate_runtimes(libraries),
        bindings=findings,
        notes=outcome.capture_notes,
        libraries=libraries,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def _binding_findings(path: Path) -> tuple[str, ...]:
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            bindings = crashparse.runtime_bindings(handle)
    except OSError as exc:
        logger.warning("could not read %s: %s", path, exc)
        return ()
    names = demangle(sorted({b.symbol for b in bindings}))
    return tuple(crashparse.describe_binding(b, names.get(b.symbol, "")) for b in bindings)
