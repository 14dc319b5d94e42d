"""The harness's own failures. A crash of the code under test is never one of these."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

HINT_PREFIX = "hint: "


class HarnessError(Exception):
    """Root of every error the harness raises on purpose; `cli.main` maps it to an exit code.

    Shaped like a diagnostic: `message` says what went wrong in one line, the optional
    `context` what the harness saw (a command's output, the state it found), and the optional
    `hint` what to do about it. `str()` renders the three on lines of their own.
    """

    exit_code = 3

    def __init__(self, message: str, *, context: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.context = context
        self.hint = hint

    def __str__(self) -> str:
        lines = [self.message]
        lines += [f"  {line}" if line else "" for line in self.context.splitlines()]
        hint = self.hint.splitlines()
        if hint:
            pad = " " * len(HINT_PREFIX)
            lines += [HINT_PREFIX + hint[0], *(f"{pad}{line}" if line else "" for line in hint[1:])]
        return "\n".join(lines)


class InputError(HarnessError):
    """The user's input (a file, an option) is wrong; the message says how to fix it."""

    exit_code = 2


class Problem:
    """One problem in an input file: where it is and what to do."""

    __slots__ = ("file", "key", "message")

    def __init__(self, file: Path | str, key: str, message: str) -> None:
        self.file = str(file)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"


class InvalidInputFile(InputError):
    """Every problem found in one input file, reported at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"{len(self.problems)} problem(s) found:",
            context="\n".join(f"- {p}" for p in self.problems),
        )


class ToolchainUnavailable(InputError):
    """A scenario needs a compiler that this machine does not have."""


class BuildFailed(InputError):
    """A fixture wheel did not compile; the message carries the build log's tail."""


class InfrastructureError(HarnessError):
    """The engine, an image or the supervisor failed; cells it touched become `infra-error`."""
