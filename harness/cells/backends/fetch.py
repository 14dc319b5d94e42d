"""Bring a failing cell's capture folder out of its container into the run's results."""

from __future__ import annotations

import logging
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

import docker.errors
from docker.models.containers import Container

from harness.cells.jobs import CellJob
from harness.cells.outcome import Outcome

logger = logging.getLogger(__name__)


def fetch_capture(
    container: Container, root: str, job: CellJob, outcome: Outcome, *, user: str
) -> Outcome:
    """Copy `root/<folder>` to the job's capture folder on this machine, then remove it there
    (as `user`, its owner): it is in memory, in a folder of fixed size that later cells'
    evidence needs room in.

    The outcome comes back unchanged, or without its artefacts (and with a note) when the
    copy failed: a missing artefact is never blamed on the wheels.
    """
    if job.capture is None or not outcome.artefacts:
        return outcome
    folder = job.capture.folder
    remote = f"{root}/{folder.name}"
    try:
        stream, _ = container.get_archive(remote)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile() as spool:
            for chunk in stream:
                spool.write(chunk)
            spool.seek(0)
            with tarfile.open(fileobj=spool) as archive:
                archive.extractall(folder.parent, filter="data")
    except (docker.errors.APIError, tarfile.TarError, OSError) as exc:
        logger.warning("could not copy %s out of the container: %s", remote, exc)
        note = f"the artefacts could not be copied out of the container: {exc}"
        return replace(outcome, artefacts=(), capture_notes=(*outcome.capture_notes, note))
    if not Path(folder).is_dir():
        logger.warning("the container's %s held no folder", remote)
    try:
        code, output = container.exec_run(["rm", "-rf", remote], user=user)
    except (docker.errors.DockerException, OSError) as exc:
        logger.warning("could not remove %s from the container: %s", remote, exc)
        return outcome
    if code != 0:
        logger.warning("could not remove %s from the container: %r", remote, output)
    return outcome
