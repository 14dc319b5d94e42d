"""Which signals stop the `wheelclash` process, and how: by unwinding like Ctrl-C.

Unwinding (a `KeyboardInterrupt` raised in the main thread) runs every `finally` on the way
out, so containers are removed, supervisors killed and partial results kept; `main` then
exits 130.

- SIGINT: Python already turns it into `KeyboardInterrupt`, unless the process started with
  it ignored. Then it stays ignored, as Unix asks of a job started in the background (`&`
  in a non-interactive shell, a CI step): Ctrl-C in the terminal that started it is not for
  it. This module leaves SIGINT alone.
- SIGHUP (the terminal went away): unwinds, unless the process started with it ignored
  (`nohup`), which then stays ignored.
- SIGTERM: always unwinds, even when inherited ignored: it is how `kill`, CI timeouts and
  service managers ask a process to stop, and nobody ignores it to protect a background job.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

# Signals that unwind unless the process started with them ignored.
UNLESS_IGNORED: Final = (signal.SIGHUP,)
ALWAYS: Final = (signal.SIGTERM,)

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def _unwind(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def signals_unwind() -> Iterator[None]:
    """Within the block, SIGTERM (and SIGHUP unless ignored) unwind; restored afterwards."""
    previous: dict[signal.Signals, _Handler] = {}
    try:
        for signum in (*UNLESS_IGNORED, *ALWAYS):
            if signum in UNLESS_IGNORED and signal.getsignal(signum) == signal.SIG_IGN:
                continue
            previous[signum] = signal.signal(signum, _unwind)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
