"""Only pip's refusals about the wheels are verdicts; its other failures are not."""

from __future__ import annotations

from harness.cells.install import refusal


def test_other_failures_are_not_the_wheels_fault() -> None:
    assert refusal("ERROR: Could not install packages due to an OSError: [Errno 28] No space") == ""
    assert refusal("") == ""
