"""Running a long command whose output lines say which phase it is in (mmdebstrap), and
reporting each phase as it starts, keeping only the tail of the output for errors."""

from __future__ import annotations

import collections
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from harness.common.progress import Step
from harness.images.bootstrap_phases import Phases

TAIL_LINES: Final = 40


@dataclass(frozen=True, kw_only=True)
class Finished:
    returncode: int
    tail: str  # the last TAIL_LINES lines of its output (stdout and stderr together)
    timed_out: bool


def run_phased(command: Sequence[str], phases: Phases, step: Step, timeout: float) -> Finished:
    """Run `command`, reading its output line by line (memory stays flat: only the tail is
    kept), and advance `step` to phase k of n each time a line starts phase k. Past
    `timeout` seconds the command is killed."""
    total = len(phases.phases)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    killed = threading.Event()
    with subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                found = phases.match(line)
                if found is not None:
                    number, phase = found
                    step.advance(number - 1, total, phase.name)
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:  # interrupted while it ran: it goes with us
                proc.kill()
    if returncode == 0:
        step.advance(total, total, "done")
    return Finished(returncode=returncode, tail="\n".join(tail), timed_out=killed.is_set())
