"""Supervisors that serve a container's batches one after another, each on one `docker exec`
(resources/supervisor.py `--serve NAME`): a session's later batches on a lane cost neither
an exec nor an interpreter's start, only a line on the exec's stdin.

A channel is one such supervisor: its exec's socket, a thread copying the stream's stdout
into a pipe, and a reader of that pipe. A session keeps the channels no batch is using
(`Channels`); a batch takes one, or opens one when none is idle, and gives it back once its
supervisor has written the batch's end line. A batch given up on (its deadline passed, the
run stops, its reader left) stops its supervisor and drops the channel; so does a stream
that ended. The next batch then opens another.

Only for an engine whose exec stdin can be written (containers.pipes_stdin); the others get
a batch file and an exec per batch (DockerSession), whose stream a Channel reads too, to its
end.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import docker
from docker.utils.socket import STDOUT, frames_iter

from harness.cells.backends.stream import LineReader
from harness.common.stopping import Stopped, never
from harness.images import containers

logger = logging.getLogger(__name__)


class Channel:
    """One serving supervisor, started by `exec_id` (created with stdin); `name` is the last
    argument of its command line, by which `supervisor.py --stop NAME` finds it."""

    def __init__(self, api: docker.APIClient, exec_id: str, name: str) -> None:
        self.name = name
        self.failure: list[str] = []  # why the stream ended, when it failed
        self.finished = threading.Event()  # set once the stream has ended, however it ended
        self.ended = False  # whether the last batch's end line came
        self._stack = ExitStack()
        self._socket = self._stack.enter_context(containers.exec_socket(api, exec_id))
        read_end, self._write_end = os.pipe()
        self._reader = LineReader(self._stack.enter_context(os.fdopen(read_end, "rb")))
        self._thread = threading.Thread(target=self._pump, name="wheelclash-serve", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for stream_id, data in frames_iter(self._socket, tty=False):  # type: ignore[no-untyped-call]
                if stream_id == STDOUT:
                    os.write(self._write_end, data)
                else:
                    logger.debug("supervisor stderr: %s", data.decode(errors="replace"))
        except Exception as exc:  # the engine or the container went away, or it was closed
            self.failure.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished.set()
            os.close(self._write_end)

    def send(self, document: dict[str, Any]) -> None:
        """A batch, as one line on the supervisor's stdin (the stdin stays open)."""
        containers.send_stdin(self._socket, json.dumps(document).encode() + b"\n")

    def lines(
        self, batch_id: str | None, deadline: float, stopped: Stopped = never
    ) -> Iterator[str]:
        """The batch's report lines, until its end line (then `ended`), the stream's end,
        the deadline or the run stopping. With no `batch_id` (a supervisor of one batch,
        which writes no end line), until the stream's end."""
        self.ended = False
        for line in self._reader.lines(deadline, stopped):
            mark = end_of(line)
            if mark is None:
                yield line
                continue
            if batch_id is not None and mark.get("batch_end") == batch_id:
                self.ended = True
                return
            if "bad_batch" in mark:
                self.failure.append(f"the supervisor refused the batch: {mark['bad_batch']}")

    def close(self) -> None:
        """End the stream: the supervisor's stdin ends and it leaves (an idle one), or the
        container's removal ends it. The pump stops either way."""
        containers.shut_down(self._socket)
        self._thread.join(timeout=10)
        self._stack.close()


def end_of(line: str) -> dict[str, Any] | None:
    """The supervisor's end line of a batch ({"batch_end": ID}) or refusal of one
    ({"bad_batch": WHY}), or None for any other line (a cell's report)."""
    if not line.startswith(('{"batch_end"', '{"bad_batch"')):
        return None
    try:
        found = json.loads(line)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


class Channels:
    """A session's idle channels, taken by one batch at a time."""

    def __init__(self) -> None:
        self._idle: list[Channel] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> Channel | None:
        """An idle channel whose stream still runs, or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                channel = self._idle.pop()
            if not channel.finished.is_set():
                return channel
            channel.close()

    def give_back(self, channel: Channel) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(channel)
                return
        channel.close()

    def close(self) -> None:
        """Close the idle channels; one given back later is closed then."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for channel in idle:
            channel.close()
