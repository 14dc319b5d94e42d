"""Classify one cell's outcome into a verdict. Pure: no I/O, no clocks."""

from __future__ import annotations

import re
import signal
import sys
from dataclasses import dataclass
from typing import Final

from harness.cells.outcome import Outcome
from harness.common.verdicts import ImportErrorKind, Verdict

_SIGNAL_VERDICTS: Final[dict[int, Verdict]] = {
    signal.SIGSEGV: Verdict.SEGFAULT,
    signal.SIGABRT: Verdict.ABORT,
    signal.SIGBUS: Verdict.BUS_ERROR,
    signal.SIGILL: Verdict.ILLEGAL_INSTRUCTION,
    signal.SIGFPE: Verdict.FPE,
}

_IMPORT_PATTERNS: Final = (
    (re.compile(r"cannot allocate memory in static TLS block"), ImportErrorKind.STATIC_TLS),
    (re.compile(r"version `[^']+' not found"), ImportErrorKind.VERSION_NOT_FOUND),
    (re.compile(r"undefined symbol"), ImportErrorKind.UNDEFINED_SYMBOL),
    (re.compile(r"cannot open shared object file"), ImportErrorKind.MISSING_LIBRARY),
)
_MISSING_LIBRARY_HINT: Final = (
    "the target image lacks a system library that no wheel of the set ships: "
    "add its package to the target image, or leave this module out with `modules`"
)
_NO_MODULE: Final = re.compile(r"No module named '([^']+)'")
MODULE_NOT_FOUND: Final = "ModuleNotFoundError"


@dataclass(frozen=True, kw_only=True)
class Classified:
    """A verdict with its subkind (import errors only) and a one-line reason."""

    verdict: Verdict
    subkind: ImportErrorKind | None = None
    detail: str = ""


def import_error_kind(message: str) -> ImportErrorKind:
    """The subkind of an import error, from the dynamic loader's message."""
    for pattern, kind in _IMPORT_PATTERNS:
        if pattern.search(message):
            return kind
    return ImportErrorKind.OTHER


def missing_module(outcome: Outcome) -> str:
    """The top-level module an import needed and no installed wheel provides (a dependency
    left out, e.g. a local wheel installed with --no-deps), or ''. Only a
    `ModuleNotFoundError` counts: a module the set provides but lacks a submodule of (a
    wrong name in `modules`) stays an ordinary import error."""
    if outcome.import_error_type != MODULE_NOT_FOUND:
        return ""
    found = _NO_MODULE.search(outcome.import_error or "")
    top = found.group(1).split(".")[0] if found else ""
    return "" if top in outcome.provided else top


def signal_verdict(signum: int) -> Verdict:
    return _SIGNAL_VERDICTS.get(signum, Verdict.OTHER_SIGNAL)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def classify(outcome: Outcome) -> Classified:
    """Turn what happened to one probe process into a verdict."""
    if outcome.infra_error:
        return Classified(verdict=Verdict.INFRA_ERROR, detail=outcome.infra_error)
    if outcome.not_installable:
        return Classified(verdict=Verdict.NOT_INSTALLABLE, detail=outcome.not_installable)
    if not outcome.started and not outcome.timed_out:
        status = f"signal {outcome.signal}" if outcome.signal else f"status {outcome.returncode}"
        return Classified(
            verdict=Verdict.INFRA_ERROR,
            detail=f"the probe never started ({status}): {outcome.stderr_tail[-300:]}",
        )
    if outcome.timed_out:
        where = outcome.last_step or "before the first step"
        return Classified(verdict=Verdict.HANG, detail=f"timed out at {where}")
    if outcome.signal is not None:
        name = _signal_name(outcome.signal)
        if outcome.sentinel_seen:
            return Classified(verdict=Verdict.EXIT_CRASH, detail=f"{name} after the last step")
        where = outcome.last_step or "start-up"
        return Classified(verdict=signal_verdict(outcome.signal), detail=f"{name} during {where}")
    if outcome.import_error is not None and (missing := missing_module(outcome)):
        if missing in sys.stdlib_module_names:
            # Part of CPython that the target's distribution packages apart (Debian's
            # python3-tk for tkinter, say): no wheel can bring it.
            return Classified(
                verdict=Verdict.IMPORT_ERROR,
                subkind=ImportErrorKind.MISSING_LIBRARY,
                detail=f"{outcome.import_error} (the target's Python lacks its standard "
                f"module {missing!r}, which its distribution packages apart: add that "
                "package to the target image, or leave this module out with `modules`)",
            )
        return Classified(
            verdict=Verdict.IMPORT_ERROR,
            subkind=ImportErrorKind.MISSING_DEPENDENCY,
            detail=f"{outcome.import_error} (no wheel of the set provides {missing!r}: "
            "add its wheel, or let pip fetch the dependencies with --download)",
        )
    if outcome.import_error is not None:
        kind = import_error_kind(outcome.import_error)
        hint = f" ({_MISSING_LIBRARY_HINT})" if kind == ImportErrorKind.MISSING_LIBRARY else ""
        return Classified(
            verdict=Verdict.IMPORT_ERROR, subkind=kind, detail=outcome.import_error + hint
        )
    if outcome.wrong_result is not None:
        return Classified(verdict=Verdict.WRONG_RESULT, detail=outcome.wrong_result)
    if outcome.sentinel_seen:
        if outcome.returncode == 0:
            return Classified(verdict=Verdict.PASS)
        return Classified(
            verdict=Verdict.EXIT_CRASH,
            detail=f"exit status {outcome.returncode} after the last step",
        )
    # The process left on its own, without a signal, before the work was done.
    detail = f"exit status {outcome.returncode} during {outcome.last_step or 'start-up'}"
    if outcome.last_step.startswith("import ") or not outcome.last_step:
        return Classified(
            verdict=Verdict.IMPORT_ERROR, subkind=ImportErrorKind.OTHER, detail=detail
        )
    return Classified(verdict=Verdict.WRONG_RESULT, detail=detail)
