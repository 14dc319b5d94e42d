"""Turn a supervisor's stream of JSON lines into outcomes, whatever becomes of the stream."""

from __future__ import annotations

import json
import logging
import os
import selectors
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

from harness.cells.jobs import CellJob
from harness.cells.outcome import Outcome
from harness.common.stopping import Stopped, never

logger = logging.getLogger(__name__)


def outcomes_from_lines(
    lines: Iterable[str], jobs: Sequence[CellJob], why_missing: Callable[[], str]
) -> Iterator[Outcome]:
    """One outcome per job: from its report line, or `infra-error` when the line never came."""
    pending = {job.cell_id for job in jobs}
    provided = {job.cell_id: frozenset(job.provided) for job in jobs}
    for line in lines:
        try:
            report = json.loads(line)
        except ValueError:
            logger.warning("supervisor printed a line that is not JSON: %.200s", line)
            continue
        if isinstance(report, dict) and report.get("id") in pending:
            pending.discard(report["id"])
            yield Outcome.from_report(report, provided[report["id"]])
    if pending:
        reason = why_missing()
        for job in jobs:
            if job.cell_id in pending:
                yield Outcome.infra(job.cell_id, reason)


def lines_until(stream: IO[bytes], deadline: float, stopped: Stopped = never) -> Iterator[str]:
    """Lines from a pipe until it closes, the monotonic deadline passes or the run stops
    (`stopped` is asked at least once a second)."""
    return LineReader(stream).lines(deadline, stopped)


class LineReader:
    """Lines from a pipe that carries one batch's lines after another's: what was read past
    a line is kept for the next call."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self._buffer = b""

    def lines(self, deadline: float, stopped: Stopped = never) -> Iterator[str]:
        """Lines until the pipe closes, the monotonic deadline passes or the run stops
        (`stopped` is asked at least once a second). The caller may stop taking them at
        any line and call again for the next ones."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.stream, selectors.EVENT_READ)
            while True:
                while b"\n" in self._buffer:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    yield line.decode("utf-8", "replace")
                if stopped():
                    logger.info("the run is stopping; abandoning the batch")
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.warning("supervisor deadline passed; abandoning the batch")
                    return
                if not selector.select(timeout=min(remaining, 1.0)):
                    continue
                chunk = os.read(self.stream.fileno(), 1 << 16)
                if not chunk:
                    if self._buffer.strip():
                        yield self._buffer.decode("utf-8", "replace")
                    self._buffer = b""
                    return
                self._buffer += chunk
