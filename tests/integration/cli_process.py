"""Starting `wheelclash` as a child process that tests signal, with known signal dispositions.

A child inherits the signals its parent ignores. pytest started as a background job (`&` in a
script, `nohup`, some CI steps) ignores SIGINT and SIGHUP, and so would every `wheelclash`
it starts: a test sending SIGINT would then see the run go on. So the child is started
through a tiny Python that sets SIGINT, SIGHUP and SIGTERM to their defaults (or to ignored,
when a test asks) and then execs the CLI in place: same pid, and the CLI starts as it would
from an interactive shell. (Not `preexec_fn`: it runs Python between fork and exec, which is
unsafe while other threads run, as they do in an xdist worker.)

The `spawn_cli` fixture (conftest.py) ends every child still alive when its test ends,
failed or not (SIGTERM, so it removes its containers; SIGKILL when that is not enough), and
closes its pipes, so a failed test leaves neither a run nor an open file behind.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Final

RESET: Final = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)

# argv: [-c, IGNORED (comma-separated numbers), the command to exec...]
_START: Final = """\
import os, signal, sys
for number in ({reset}):
    signal.signal(number, signal.SIG_DFL)
for number in filter(None, sys.argv[1].split(",")):
    signal.signal(int(number), signal.SIG_IGN)
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
""".format(reset=", ".join(str(int(s)) for s in RESET))


class CliSpawner:
    """Starts `python -m harness.cli ARGS…` children and ends them all afterwards."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.started: list[subprocess.Popen[str]] = []

    def __call__(
        self,
        *args: str | Path,
        ignoring: Iterable[signal.Signals] = (),
        env: dict[str, str] | None = None,
        stdout: int | IO[str] | None = subprocess.PIPE,
        stderr: int | IO[str] | None = subprocess.PIPE,
    ) -> subprocess.Popen[str]:
        """The CLI with SIGINT, SIGHUP and SIGTERM at their defaults, except those in
        `ignoring`, which it starts with ignored. Pipes are text."""
        ignored = ",".join(str(int(s)) for s in ignoring)
        command = [sys.executable, "-c", _START, ignored, "-m", "harness.cli", *map(str, args)]
        proc = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=stderr,
            text=True,
            cwd=self.cwd,
            env={**os.environ, **(env or {})},
        )
        self.started.append(proc)
        return proc

    def on_terminal(
        self, *args: str | Path, env: dict[str, str], timeout: float
    ) -> tuple[int, str, str]:
        """Run the CLI to its end with stderr on a pseudo-terminal and stdout a pipe: its exit
        code, its stdout, and what the terminal showed (escapes included)."""
        main, secondary = pty.openpty()
        proc = self(*args, env=env, stderr=secondary)
        os.close(secondary)
        chunks: list[bytes] = []

        def read() -> None:
            while True:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # EIO: the terminal's other side is closed
                    return
                if not chunk:
                    return
                chunks.append(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            out, _ = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:  # timed out: end it, so the terminal's reader ends too
                proc.kill()
                proc.wait(timeout=30)
            reader.join(timeout=30)
            os.close(main)
        return proc.returncode, out, b"".join(chunks).decode(errors="replace")

    def end_all(self) -> None:
        """End every child still running (SIGTERM, then SIGKILL after 60 s), close its pipes
        and reap it, so none outlives its test as a process or as open files."""
        while self.started:
            proc = self.started.pop()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            proc.wait(timeout=30)


def signal_name(signum: int) -> str:
    """A test id for a signal: SIGINT, not 2."""
    return signal.Signals(signum).name
