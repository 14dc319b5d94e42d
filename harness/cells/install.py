"""The offline pip install of a cell's wheel set, as both backends run it, and pip's refusal."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

# pip's words for a wheel whose tags this interpreter does not accept: a verdict
# (`not-installable`) about the wheel, not an infrastructure failure.
UNSUPPORTED_WHEEL: Final = "is not a supported wheel on this platform"
# pip's words for requirements of the set that no wheel at hand meets together: a conflict
# between the wheels (or their dependencies), also `not-installable`.
UNRESOLVABLE: Final = (
    "ResolutionImpossible",
    "conflicting dependencies",
    "No matching distribution found",
)
MAX_REASON: Final = 800
# Where pip says a requirement came from (a wheel's path in a wheelhouse): left out.
FROM_FILE: Final = re.compile(r" \(from [^)]*\)")


def install_command(
    pip: Sequence[str],
    wheels: Sequence[str],
    wheelhouses: Sequence[str] = (),
    *,
    target: str | None = None,
    compile_bytecode: bool = True,
) -> list[str]:
    """Install exactly `wheels`, offline. `pip` runs pip with its global options (which
    interpreter); dependencies come from `wheelhouses` when there are any, else none are
    installed. With `target`, into that folder (a venv's site-packages) instead. Without
    `compile_bytecode`, pip writes no .pyc files: `compile_command` then writes them."""
    sources = [arg for house in wheelhouses for arg in ("--find-links", house)]
    return [
        *pip,
        "install",
        "--disable-pip-version-check",
        "--no-index",
        "--no-cache-dir",
        *(sources or ["--no-deps"]),
        *(["--target", target] if target else []),
        *([] if compile_bytecode else ["--no-compile"]),
        *wheels,
    ]


def compile_command(python: Sequence[str], folder: str) -> list[str]:
    """Byte-compile every module under `folder` on all cores, as pip would have, file by
    file, at install time: the same timestamp-checked .pyc files, made at once instead of
    one after the other (an install's .py files are thousands for some wheels). Its exit
    status says whether every file compiled; pip ignores those that do not, and so may the
    caller."""
    return [*python, "-m", "compileall", "-q", "-j", "0", folder]


def refusal(output: str) -> str:
    """pip's reason for refusing the set, when it is about the wheels: a wheel that does not
    fit this interpreter (its line), or requirements that cannot all be met (its error lines
    and what it says caused the conflict); '' for any other failure."""
    lines = [line.strip() for line in output.splitlines()]
    unsupported = next((line for line in lines if UNSUPPORTED_WHEEL in line), "")
    if unsupported:
        return unsupported
    if not any(any(sign in line for sign in UNRESOLVABLE) for line in lines):
        return ""
    kept = [
        line
        for line in lines
        if (line.startswith("ERROR:") and "for help visit" not in line) or _cause(line)
    ]
    return FROM_FILE.sub("", " ".join(kept))[:MAX_REASON]


def _cause(line: str) -> bool:
    """A line of pip's conflict explanation: `The user requested x==1`, `y 2 depends on x>=2`."""
    return line.startswith("The user requested") or " depends on " in line
