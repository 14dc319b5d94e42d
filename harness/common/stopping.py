"""Telling work in flight to stop: a callable it polls, true once its caller has given up
(an interrupt, a failure elsewhere in the run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

Stopped: TypeAlias = Callable[[], bool]


def never() -> bool:
    """The `Stopped` of work that nothing stops early."""
    return False
