"""The harness's own failures. A crash of the code under test is never one of these."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class HarnessError(Exception):
    """Root of every error the harness raises on purpose; `cli.main` maps it to an exit code."""

    exit_code = 3


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
        lines = [f"{len(self.problems)} problem(s) found:"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class ToolchainUnavailable(InputError):
    """A scenario needs a compiler that this machine does not have."""


class BuildFailed(InputError):
    """A fixture wheel did not compile; the message carries the build log's tail."""


class InfrastructureError(HarnessError):
    """The engine, an image or the supervisor failed; cells it touched become `infra-error`."""
