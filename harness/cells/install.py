"""The offline pip install of a cell's wheel set, as both backends run it, and pip's refusal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

# pip's words for a wheel whose tags this interpreter does not accept: a verdict
# (`not-installable`) about the wheel, not an infrastructure failure.
UNSUPPORTED_WHEEL: Final = "is not a supported wheel on this platform"


def install_command(
    pip: Sequence[str],
    wheels: Sequence[str],
    wheelhouses: Sequence[str] = (),
    *,
    target: str | None = None,
) -> list[str]:
    """Install exactly `wheels`, offline. `pip` runs pip with its global options (which
    interpreter); dependencies come from `wheelhouses` when there are any, else none are
    installed. With `target`, into that folder (a venv's site-packages) instead."""
    sources = [arg for house in wheelhouses for arg in ("--find-links", house)]
    return [
        *pip,
        "install",
        "--disable-pip-version-check",
        "--no-index",
        "--no-cache-dir",
        *(sources or ["--no-deps"]),
        *(["--target", target] if target else []),
        *wheels,
    ]


def refusal(output: str) -> str:
    """pip's line saying a wheel does not fit this interpreter, or '' for any other failure."""
    return next((line.strip() for line in output.splitlines() if UNSUPPORTED_WHEEL in line), "")
