"""Confined containers: one that cannot start is removed, never left behind; files put in
through the tar writer arrive whole, with their owner and modes."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tarfile
from dataclasses import replace
from pathlib import Path

import docker
import docker.errors
import pytest

from harness.cells.backends.docker import load_settings
from harness.errors import InfrastructureError
from harness.images import containers, tarstream
from harness.images import provision as images
from harness.images.catalogue import host_arch
from harness.images.containers import LABEL_OWNER, owner

pytestmark = pytest.mark.docker


def one_file_image(client: docker.DockerClient, tag: str) -> str:
    """An image holding one text file, /README."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"nothing to run here\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    repository, name = tag.split(":")
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=name)
    return str(client.images.get(tag).id)


def test_a_container_that_cannot_start_is_removed() -> None:
    client = docker.from_env()
    mark = secrets.token_hex(6)
    tag = f"wheelclash-test/no-sleep:{mark}"
    image_id = one_file_image(client, tag)
    try:
        labels = {LABEL_OWNER: owner(), "org.wheelclash.test": mark}
        # A tmpfs over a file: the engine creates the container, and the start then fails.
        scratch = (containers.Scratch(path="/README", size="1m"),)
        confinement = replace(load_settings().confinement, scratch=scratch)
        with (
            pytest.raises(InfrastructureError, match="could not start a container"),
            containers.confined(client, image_id, confinement, labels),
        ):
            pytest.fail("a container with a tmpfs over a file started")
        left = client.containers.list(all=True, filters={"label": f"org.wheelclash.test={mark}"})
        assert left == []
    finally:
        client.images.remove(tag, force=True)
        client.close()


def test_files_put_in_arrive_whole_owned_by_their_user_with_their_modes(tmp_path: Path) -> None:
    """Both kinds of member (a file from disk, several chunks long and of an odd size, and
    bytes), and folders, put in at / and at a folder, as the builder and the backend do."""
    client = docker.from_env(timeout=600)
    try:
        image = images.ensure_image(client, images.recipe_for("bookworm", host_arch()))
        source = tmp_path / "wheel.whl"
        source.write_bytes(os.urandom(3 * tarstream.CHUNK + 77))
        confinement = replace(load_settings().confinement, read_only=False)
        user = confinement.user
        labels = {LABEL_OWNER: owner()}
        with containers.confined(client, image.image_id, confinement, labels) as box:
            spec = b'{"k": 1}'
            files: dict[str, Path | bytes] = {
                "/opt/in/wheels/w.whl": source,
                "/opt/in/spec.json": spec,
            }
            with tarstream.owned(files, ["/opt/in", "/opt/in/wheels"], user) as archive:
                box.put_archive("/", archive)
            with tarstream.owned({"batch.json": b"[]"}, ["tmp"], "0:0") as archive:
                box.put_archive("/opt/in", archive)
            script = (
                "cd /opt/in && stat -c '%n %u:%g %a %F' . wheels wheels/w.whl spec.json "
                "batch.json tmp && sha256sum wheels/w.whl spec.json batch.json"
            )
            code, output = containers.exec_text(box, ["sh", "-c", script], user="0:0", workdir="/")
        assert code == 0, output

        def digest(data: bytes) -> str:
            return hashlib.sha256(data).hexdigest()

        assert output.splitlines() == [
            f". {user} 755 directory",
            f"wheels {user} 755 directory",
            f"wheels/w.whl {user} 644 regular file",
            f"spec.json {user} 644 regular file",
            "batch.json 0:0 644 regular file",
            "tmp 0:0 755 directory",
            f"{digest(source.read_bytes())}  wheels/w.whl",
            f"{digest(spec)}  spec.json",
            f"{digest(b'[]')}  batch.json",
        ]
    finally:
        client.close()
