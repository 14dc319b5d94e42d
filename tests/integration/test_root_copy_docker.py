"""Root copies (harness/images/rootcopy.py, resources/root_binds.py) on this machine's engine:
where its storage driver is slow, the probes run chrooted into a read-only copy of the
image's root filesystem on the engine's disk, which holds what the image holds and has the
container's own mounts bound in; where the engine refuses those binds, they run on the
container's root and the engine's next containers read the mirrors instead."""

from __future__ import annotations

import logging
from pathlib import Path

import docker
import pytest

from harness.build.wheels import BuiltWheel
from harness.cells.backends import docker as docker_backend
from harness.cells.backends.docker import DockerBackend, DockerSession, load_settings
from harness.cells.jobs import CellJob
from harness.common.verdicts import Verdict
from harness.evidence.classify import classify
from harness.images import doctor_checks, mirrors
from harness.run.runner import session_outcomes
from tests.integration.engine import listing
from tests.unit.helpers import build_wheel, file_wheel, import_job

pytestmark = [pytest.mark.docker, pytest.mark.integration]

IMAGE = "wheelclash/target:debian-bookworm-x86_64"
# Imported by the cell: what its own process sees of its root and of the folders bound in.
SEEN = """\
import os
mounts = [line.split() for line in open("/proc/self/mountinfo")]
root = [m for m in mounts if m[4] == "/"]
print("ROOT", root[-1][3] if root else "?")
print("HOME", os.environ["HOME"], os.access(os.environ["HOME"], os.W_OK))
print("PROC", os.getpid() == int(os.readlink("/proc/self")))
print("DEV", open("/dev/null", "w").write("x") == 1, os.path.isdir("/dev/shm"))
print("WRITE", os.access("/usr/lib", os.W_OK))
"""


@pytest.fixture
def slow(client: docker.DockerClient) -> None:
    driver = doctor_checks.slow_driver(str(client.info().get("Driver", "")))
    if driver is None or not driver.mirror:
        pytest.skip("the engine's storage driver is not a slow one: containers use their root")


def a_wheel(folder: Path) -> BuiltWheel:
    path = build_wheel(folder, "seen", {"seen.py": SEEN}, tag="py3-none-any")
    return file_wheel(path, "seen", "seen")


def job() -> CellJob:
    # victims: ssl, sqlite3, ctypes…: C extensions and libraries from the copy
    return import_job("c", "seen", victims=True)


def test_probes_run_chrooted_in_a_copy_of_the_images_root(
    client: docker.DockerClient, slow: None, tmp_path: Path
) -> None:
    settings = load_settings()
    assert settings.root_copy == "/opt/wheelclash-root"
    backend = DockerBackend()
    with backend.open("debian:bookworm", "x86_64", [a_wheel(tmp_path)]) as session:
        assert isinstance(session, DockerSession)
        assert session.root == settings.root_copy
        facts = session.facts
        container = session.container
        container.reload()
        mounted = {m["Destination"]: m for m in container.attrs["Mounts"]}
        (outcome,) = session_outcomes(session, [job()])
        code, output = container.exec_run(
            ["python3", "-c", "open('/opt/wheelclash-root/etc/x', 'w')"], user="0:0"
        )
        # pip ran in the copy as the venv's owner (resources/enter_root.py), not as root
        installed = f"{session.settings.venv}/lib/python3.11/site-packages/seen.py"
        owners = container.exec_run(["stat", "-c", "%u:%g", installed, session.settings.venv])
        log = container.logs().decode()
    assert classify(outcome).verdict is Verdict.PASS, outcome
    # the container's own command made the binds as it started (no exec of its own for them)
    assert container.attrs["Config"]["Cmd"][:2] == ["sh", "-c"]
    assert f"{docker_backend.ROOTED_MARK}0\n" in log and '"bound": ["/proc"' in log, log
    seen = dict(line.split(" ", 1) for line in outcome.stdout_tail.splitlines())
    copy = mounted[settings.root_copy]
    assert copy["Type"] == "volume" and copy["RW"] is False, copy
    assert copy["Name"].startswith("wheelclash-mirror-") and "-root-" in copy["Name"], copy
    assert facts.root_copy == copy["Name"], facts  # in the results' provenance
    # the copy takes the mirrors' place
    assert "/usr/lib" not in mounted and "/usr/bin" not in mounted
    # the probe's root is the copy, and what the container mounts is there too
    assert seen["ROOT"] == f"{copy['Source']}", seen
    assert seen["HOME"].endswith(" True") and seen["HOME"].startswith(settings.workdir), seen
    assert seen["PROC"] == "True" and seen["DEV"] == "True True" and seen["WRITE"] == "False"
    assert code != 0 and b"Read-only file system" in output, output
    assert owners.output.decode().split() == [settings.supervisor_user] * 2, owners
    # the copy holds what the image does: names, sizes, owners and modes
    for folder in ("/usr/lib/python3.11", "/usr/lib/x86_64-linux-gnu", "/usr/bin", "/etc/ssl"):
        inside = listing(client, IMAGE, f"/r{folder}", copy["Name"], "/r")
        assert inside == listing(client, IMAGE, folder), folder


def test_an_engine_refusing_the_binds_runs_probes_on_the_containers_root(
    client: docker.DockerClient,
    slow: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Without CAP_SYS_ADMIN the engine's kernel refuses mount(2), as an AppArmor profile would.
    monkeypatch.setattr(docker_backend, "ROOTING_CAPABILITIES", ("SYS_CHROOT",))
    backend = DockerBackend()
    wheels = [a_wheel(tmp_path)]
    with (
        caplog.at_level(logging.WARNING),
        backend.open("debian:bookworm", "x86_64", wheels) as first,
    ):
        assert isinstance(first, DockerSession)
        assert first.root == "" and first.facts.root_copy == ""
        (outcome,) = session_outcomes(first, [job()])
    assert "refused to bind" in caplog.text and "Operation not permitted" in caplog.text
    assert classify(outcome).verdict is Verdict.PASS, outcome
    assert "/opt/wheelclash-root" not in outcome.stdout_tail
    with backend.open("debian:bookworm", "x86_64", wheels) as second:
        assert isinstance(second, DockerSession) and second.root == ""
        second.container.reload()
        mounted = {m["Destination"]: m for m in second.container.attrs["Mounts"]}
        (again,) = session_outcomes(second, [job()])
    assert classify(again).verdict is Verdict.PASS, again
    assert "/opt/wheelclash-root" not in mounted
    assert mounted["/usr/lib"]["Name"].startswith("wheelclash-mirror-")
    assert client.volumes.get(mounted["/usr/lib"]["Name"]).attrs["Labels"][mirrors.LABEL_PATH] == (
        "/usr/lib"
    )
