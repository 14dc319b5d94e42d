"""Mirrors (harness/images/mirrors.py) on this machine's engine: where its storage driver is
slow, cell containers read the image's /usr/lib and /usr/bin from read-only copies in volumes,
which hold what the image holds; elsewhere they read the image's own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import docker
import pytest

from harness.build.wheels import BuiltWheel
from harness.cells.backends import docker as docker_backend
from harness.cells.backends.docker import DockerBackend, DockerSession, load_settings
from harness.cells.jobs import CellJob, Import
from harness.common.verdicts import Verdict
from harness.evidence.classify import classify
from harness.images import doctor_checks, mirrors
from harness.run.runner import session_outcomes
from tests.integration.engine import listing
from tests.unit.helpers import build_wheel, file_wheel

pytestmark = [pytest.mark.docker, pytest.mark.integration]


def a_wheel(folder: Path) -> BuiltWheel:
    path = build_wheel(folder, "tiny", {"tiny.py": "VALUE = 1\n"}, tag="py3-none-any")
    return file_wheel(path, "tiny", "tiny")


def test_cell_containers_read_the_images_folders_from_its_mirrors(
    client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a root copy (docker.toml's `root_copy = ""`), which takes the mirrors' place.
    settings = replace(load_settings(), root_copy="")
    monkeypatch.setattr(docker_backend, "load_settings", lambda: settings)
    backend = DockerBackend()
    driver = doctor_checks.slow_driver(str(client.info().get("Driver", "")))
    slow = driver is not None and driver.mirror
    job = CellJob(
        cell_id="c",
        imports=(Import(module="tiny", rtld_global=False),),
        exercises=(),
        victims=True,  # ssl, sqlite3, ctypes…: C extensions and libraries from /usr/lib
        preload="",
        timeout_s=30,
    )
    with backend.open("debian:bookworm", "x86_64", [a_wheel(tmp_path)]) as session:
        assert isinstance(session, DockerSession)
        container = session.container
        container.reload()
        mounted = {m["Destination"]: m for m in container.attrs["Mounts"]}
        (outcome,) = session_outcomes(session, [job])
        code, output = container.exec_run(
            ["python3", "-c", "open('/usr/lib/wheelclash-was-here', 'w')"], user="0:0"
        )
        image = session.facts.image_id
        assert session.root == ""
    assert classify(outcome).verdict is Verdict.PASS
    assert code != 0 and b"Read-only file system" in output, output
    if not slow:
        assert "/usr/lib" not in mounted and "/usr/bin" not in mounted
        return
    assert load_settings().mirrored == ("/usr/lib", "/usr/bin")
    for folder in ("/usr/lib", "/usr/bin"):
        mount = mounted[folder]
        assert mount["Type"] == "volume" and mount["RW"] is False, mount
        assert mount["Name"].startswith("wheelclash-mirror-"), mount
        assert client.volumes.get(mount["Name"]).attrs["Labels"][mirrors.LABEL_MIRROR] == image
    # the copy holds what the image does: names, sizes, owners and modes
    for folder in ("/usr/lib/python3.11", "/usr/lib/x86_64-linux-gnu", "/usr/bin"):
        at = "/usr/lib" if folder.startswith("/usr/lib") else "/usr/bin"
        seen = listing(client, image, folder, mounted[at]["Name"], at)
        assert seen == listing(client, image, folder)


def test_a_mirror_whose_fill_never_ended_is_passed_over(client: docker.DockerClient) -> None:
    image = str(client.images.get("wheelclash/target:debian-bookworm-x86_64").id)
    names = [mirrors.volume_name(image, "/etc", g) for g in range(2)]
    for name in names:
        assert mirrors.remove(client, name) == ""
    try:
        client.volumes.create(names[0], labels={mirrors.LABEL_MIRROR: image})  # no flag
        (mirror,) = mirrors.ensure(client, image, ["/etc"])
        assert mirror.volume == names[1]
        assert mirrors.ensure(client, image, ["/etc"]) == (mirror,)  # complete: taken as is
        seen = listing(client, image, "/etc", mirror.volume, "/etc")
        assert seen == listing(client, image, "/etc") and "debian_version" in seen
    finally:
        for name in names:
            mirrors.remove(client, name)
