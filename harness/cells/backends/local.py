"""The embedded default backend: the host's Python, a venv per wheel set, psutil supervision."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness import paths
from harness.build.builders import Builder, HostBuilder
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Session, TargetFacts
from harness.cells.backends.stream import lines_until, outcomes_from_lines
from harness.cells.install import install_command, refusal
from harness.cells.jobs import CellJob, batch, batch_deadline
from harness.cells.outcome import Outcome
from harness.common import cachedir, progress
from harness.common.cachedir import Kind
from harness.common.locking import file_lock
from harness.common.process import run_logged
from harness.common.progress import StageKind
from harness.common.stopping import Stopped, never
from harness.errors import InfrastructureError

logger = logging.getLogger(__name__)


def host_libstdcxx() -> str:
    """The file name of the host's libstdc++ (its version is in the name), or ''."""
    done = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.strip().startswith("libstdc++.so.6 ") and "=>" in line:
            return os.path.basename(os.path.realpath(line.split("=>", 1)[1].strip()))
    return ""


@dataclass(frozen=True, kw_only=True)
class LocalSession:
    python: Path
    facts: TargetFacts
    not_installable: str = ""

    def run(self, jobs: Sequence[CellJob], stopped: Stopped = never) -> Iterator[Outcome]:
        """One supervisor process for the batch, in a folder of its own: batches run at once
        share the venv and nothing else."""
        with tempfile.TemporaryDirectory(prefix="wheelclash-cells-") as work:
            yield from _supervise(jobs, self.python, Path(work), stopped)


def _supervise(
    jobs: Sequence[CellJob], python: Path, work: Path, stopped: Stopped = never
) -> Iterator[Outcome]:
    document = batch(
        jobs,
        python=str(python),
        probe=str(paths.PROBE),
        workdir=str(work / "cells"),
        die_with_parent=True,
    )
    stderr_path = work / "supervisor.stderr"
    with stderr_path.open("wb") as stderr:
        proc = psutil.Popen(
            [sys.executable, str(paths.SUPERVISOR)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(document).encode())
        proc.stdin.close()
        deadline = batch_deadline(jobs)

        def why_missing() -> str:
            status = proc.poll()
            tail = stderr_path.read_text(errors="replace")[-500:]
            state = "still running at its deadline" if status is None else f"exit {status}"
            return f"the supervisor stopped reporting ({state}): {tail.strip()}"

        lines = lines_until(proc.stdout, deadline, stopped)
        yield from outcomes_from_lines(lines, jobs, why_missing)
    finally:
        _kill_tree(proc)


def _kill_tree(proc: psutil.Popen) -> None:
    """Kill the supervisor and anything below it; never leave a process behind."""
    try:
        family = [*proc.children(recursive=True), proc]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=5)
    if proc.stdout:
        proc.stdout.close()


class LocalBackend:
    name = "local"

    def unavailable_reason(self) -> str | None:
        return None

    def describe(self) -> Mapping[str, str]:
        return {"backend": self.name, "host": platform.node(), "kernel": platform.release()}

    def builder(self, target: str, arch: str) -> Builder:
        return HostBuilder()

    def facts(self) -> TargetFacts:
        return TargetFacts(
            target="host",
            arch=platform.machine(),
            python=platform.python_version(),
            glibc=os.confstr("CS_GNU_LIBC_VERSION") or "",
            libstdcxx=host_libstdcxx(),
        )

    @contextmanager
    def open(
        self, target: str, arch: str, wheels: Sequence[BuiltWheel], batches: int = 1
    ) -> Iterator[Session]:
        """The venv's session; the batches run at once share the host's resources, which
        this backend does not limit."""
        if arch != platform.machine():
            raise InfrastructureError(
                f"the local backend runs on this machine's arch ({platform.machine()}), "
                f"not {arch}; use --backend docker for other archs"
            )
        venv, problem = self._venv(wheels)
        yield LocalSession(
            python=venv / "bin" / "python", facts=self.facts(), not_installable=problem
        )

    def _venv(self, wheels: Sequence[BuiltWheel]) -> tuple[Path, str]:
        """A venv with exactly these wheels installed, cached by their hashes."""
        venv = venv_dir(wheels)
        key = venv.name
        houses = sorted({w.wheelhouse for w in wheels if w.wheelhouse})
        ready = cachedir.marker(Kind.VENV, key)
        with file_lock(cachedir.lock_name(Kind.VENV, key)):
            if ready.is_file():
                cachedir.mark_used(Kind.VENV, key)
                return venv, ""
            shutil.rmtree(venv, ignore_errors=True)
            label = f"venv with {progress.few([w.wheel_id for w in wheels])}"
            with progress.stage(StageKind.OPEN, label, total=2) as step:
                made = run_logged([sys.executable, "-m", "venv", "--without-pip", str(venv)])
                if made.returncode != 0:
                    raise InfrastructureError(f"could not create a venv at {venv}: {made.stderr}")
                step.advance(1, note="installing the wheel set")
                install = install_command(
                    [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")],
                    [str(w.path) for w in wheels],
                    houses,
                )
                done = run_logged(install)
                step.advance(2)
                step.end(ok=done.returncode == 0)
            if done.returncode != 0:
                message = (done.stderr or done.stdout).strip()
                shutil.rmtree(venv, ignore_errors=True)
                # pip explains a conflict on stdout, below its error on stderr
                reason = refusal(f"{done.stdout}\n{done.stderr}")
                if reason:
                    return venv, reason
                raise InfrastructureError("pip could not install the wheel set", context=message)
            ready.write_text("ok\n")
        return venv, ""


def venv_dir(wheels: Sequence[BuiltWheel]) -> Path:
    """Where the venv holding exactly this wheel set lives (keyed by the wheels' hashes)."""
    digest = hashlib.sha256(sys.base_prefix.encode() + platform.python_version().encode())
    for wheel in sorted(wheels, key=lambda w: w.sha256):
        digest.update(wheel.sha256.encode())
    houses = sorted({w.wheelhouse for w in wheels if w.wheelhouse})
    digest.update("\0".join(houses).encode())
    return cachedir.entry_dir(Kind.VENV, digest.hexdigest()[:24])
