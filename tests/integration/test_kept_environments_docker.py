"""Kept environments (harness/cells/backends/environments.py) on this machine's engine: a wheel
set's venv is installed once into a named volume, and the next container of the same image
and set mounts it read-only and installs nothing, with the same verdicts; a fill that was
killed is made again, and a set pip refuses leaves nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docker
import docker.errors
import pytest

from harness.build.wheels import BuiltWheel
from harness.cells.backends import docker as docker_backend
from harness.cells.backends import environments
from harness.cells.backends.docker import DockerBackend, DockerSession, load_settings
from harness.cells.jobs import CellJob
from harness.common.verdicts import Verdict
from harness.evidence.classify import classify
from harness.run.runner import session_outcomes
from tests.unit.helpers import build_wheel, file_wheel, import_job

pytestmark = [pytest.mark.docker, pytest.mark.integration]

TARGET = ("debian:bookworm", "x86_64")
CRASHES = "import ctypes\nctypes.string_at(0)\n"
# What the cell's own process sees of the venv: whether it can write there, and pip's mark.
SEEN = """\
import os, sys
print("VENV", sys.prefix, os.access(sys.prefix, os.W_OK))
"""


@pytest.fixture
def fresh(client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A key format of this test's own, so no earlier run's environments are found; the
    volumes its claims made are removed afterwards (only those: other tests, run at once,
    keep theirs)."""
    format_ = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(environments, "FORMAT", format_)
    claimed: list[str] = []
    record = environments.record

    def recorded(volume: str, size: int | None = None) -> None:
        claimed.append(volume)
        record(volume, size)

    monkeypatch.setattr(environments, "record", recorded)
    yield format_
    for volume in dict.fromkeys(claimed):
        environments.remove(client, volume)


def wheel(folder: Path, name: str, body: str) -> BuiltWheel:
    path = build_wheel(folder, name, {f"{name}.py": body}, tag="py3-none-any")
    return file_wheel(path, name, name)


def job(module: str) -> CellJob:
    return import_job(module, module)


def venv_mount(session: DockerSession) -> dict[str, object]:
    session.container.reload()
    mounted = {m["Destination"]: m for m in session.container.attrs["Mounts"]}
    return dict(mounted[session.settings.venv])


def test_a_set_installed_once_is_mounted_read_only_with_the_same_verdicts(
    client: docker.DockerClient, fresh: str, tmp_path: Path
) -> None:
    wheels = [wheel(tmp_path, "seen", SEEN), wheel(tmp_path, "boom", CRASHES)]
    jobs = [job("seen"), job("boom")]
    backend = DockerBackend()
    verdicts = []
    mounts = []
    for _ in range(2):
        with backend.open(*TARGET, wheels) as session:
            assert isinstance(session, DockerSession) and not session.not_installable
            mounts.append(venv_mount(session))
            outcomes = list(session_outcomes(session, jobs))
            listed = session.container.exec_run(
                ["ls", f"{session.settings.venv}/lib/python3.11/site-packages"]
            )
        verdicts.append([classify(o).verdict for o in outcomes])
        seen = outcomes[0].stdout_tail
        assert f"VENV {session.settings.venv} False" in seen, seen
        assert b"seen.py" in listed.output and b"boom.py" in listed.output, listed
    first, second = mounts
    assert first["Type"] == second["Type"] == "volume"
    assert first["Name"] == second["Name"] and str(first["Name"]).startswith("wheelclash-env-")
    assert first["RW"] is True and second["RW"] is False, mounts
    assert verdicts[0] == verdicts[1] == [Verdict.PASS, Verdict.SEGFAULT], verdicts
    labels = client.volumes.get(str(first["Name"])).attrs["Labels"]
    assert labels[environments.LABEL_IMAGE].startswith("sha256:"), labels
    names = "boom-1.0-py3-none-any.whl, seen-1.0-py3-none-any.whl"
    assert labels[environments.LABEL_WHEELS] == names, labels  # what `cache list` says
    (kept,) = [s for s in environments.stored(client) if s.volume == first["Name"]]
    assert kept.complete and kept.size > 0, kept


def test_a_fill_that_was_killed_is_made_again(
    client: docker.DockerClient, fresh: str, tmp_path: Path
) -> None:
    wheels = [wheel(tmp_path, "seen", SEEN)]
    backend = DockerBackend()
    with backend.open(*TARGET, wheels) as session:
        assert isinstance(session, DockerSession)
        name = str(venv_mount(session)["Name"])
    # as a killed run leaves it: the volume, half filled, without its flag
    client.volumes.get(environments.flag_name(name)).remove()
    with backend.open(*TARGET, wheels) as again:
        assert isinstance(again, DockerSession)
        mount = venv_mount(again)
        (outcome,) = session_outcomes(again, [job("seen")])
    assert mount["Name"] == name and mount["RW"] is True, mount
    assert classify(outcome).verdict is Verdict.PASS, outcome
    assert client.volumes.get(environments.flag_name(name))


def test_a_set_pip_refuses_leaves_no_volume(
    client: docker.DockerClient, fresh: str, tmp_path: Path
) -> None:
    path = build_wheel(
        tmp_path, "needy", {"needy.py": ""}, tag="py3-none-any", requires=["absent-dep>=1"]
    )
    wheels = [replace(file_wheel(path, "needy", "needy"), wheelhouse=str(tmp_path))]
    with DockerBackend().open(*TARGET, wheels) as session:
        assert isinstance(session, DockerSession)
        assert "absent-dep" in session.not_installable, session.not_installable
        name = str(venv_mount(session)["Name"])
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(name)


def test_the_setting_turns_it_off(
    client: docker.DockerClient, fresh: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(load_settings(), kept_environments=0)
    monkeypatch.setattr(docker_backend, "load_settings", lambda: settings)
    with DockerBackend().open(*TARGET, [wheel(tmp_path, "seen", SEEN)]) as session:
        assert isinstance(session, DockerSession)
        session.container.reload()
        mounted = {m["Destination"] for m in session.container.attrs["Mounts"]}
        (outcome,) = session_outcomes(session, [job("seen")])
    assert settings.venv not in mounted, mounted
    assert classify(outcome).verdict is Verdict.PASS, outcome
