"""Target images in a real engine: bootstrap (or reuse) debian:bookworm, then use it.

The bookworm target image is expensive (a bootstrap from the Debian mirror) and shared with
the other Docker tests, so it stays in the engine. Everything else a test makes is removed.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import multiprocessing
import zipfile
from pathlib import Path

import docker
import docker.errors
import pytest

from harness.errors import InputError
from harness.images import catalogue as image_catalogue
from harness.images import provision as images

pytestmark = [pytest.mark.docker, pytest.mark.integration]

SUITE = "bookworm"


@pytest.fixture(scope="module")
def recipe() -> images.ImageRecipe:
    return images.recipe_for(SUITE, image_catalogue.host_arch())


@pytest.fixture(scope="module")
def bookworm(client: docker.DockerClient, recipe: images.ImageRecipe) -> images.ImageInfo:
    return images.ensure_image(client, recipe)


def _run(
    client: docker.DockerClient,
    image: str,
    script: str,
    volumes: dict[str, dict[str, str]] | None = None,
) -> str:
    """Run `sh -c script` in a fresh container without network; its output, or a failure."""
    container = client.containers.run(
        image, ["sh", "-c", script], detach=True, network_disabled=True, volumes=volumes
    )
    try:
        status = container.wait(timeout=300)
        output = container.logs(stdout=True, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, output
    return str(output)


def _tiny_wheel(directory: Path) -> Path:
    """A pure-Python wheel, written by hand so no build tool is needed."""
    name, version = "wcprobe", "0.1"
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 'offline install works'\n",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        ),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def test_second_ensure_is_a_cache_hit(
    client: docker.DockerClient, recipe: images.ImageRecipe, bookworm: images.ImageInfo
) -> None:
    before = images.bootstrap_count()
    again = images.ensure_image(client, recipe)
    assert images.bootstrap_count() == before, "a cached image was bootstrapped again"
    assert again.image_id == bookworm.image_id
    assert again == bookworm


def test_labels_describe_the_image(
    client: docker.DockerClient, recipe: images.ImageRecipe, bookworm: images.ImageInfo
) -> None:
    assert bookworm.tag == f"wheelclash/target:debian-{SUITE}-{recipe.arch}"
    assert bookworm.source == "bootstrap"
    assert bookworm.digest is None
    assert (bookworm.suite, bookworm.arch, bookworm.role) == (SUITE, recipe.arch, "target")
    assert bookworm.recipe_hash == recipe.recipe_hash
    assert bookworm.emulated is False
    assert bookworm.glibc is not None and bookworm.glibc.startswith("2.36-")
    assert bookworm.libstdcxx is not None and bookworm.libstdcxx.startswith("12.")
    assert bookworm.python is not None and bookworm.python.startswith("3.11.")
    assert bookworm.bootstrap_date is not None and bookworm.bootstrap_date[:2] == "20"
    image = client.images.get(bookworm.tag)
    assert image.labels[images.LABEL_HASH] == recipe.recipe_hash
    assert image.labels["org.wheelclash.suite"] == SUITE
    assert "LANG=C.UTF-8" in image.attrs["Config"]["Env"]
    assert image.attrs["Config"]["Cmd"]
    listed = {info.tag: info for info in images.list_images(client)}
    assert listed[bookworm.tag].image_id == bookworm.image_id


def test_versions_match_the_running_image(
    client: docker.DockerClient, bookworm: images.ImageInfo
) -> None:
    output = _run(
        client,
        bookworm.tag,
        "dpkg-query -W -f='${Package} ${Version}\\n' libc6 libstdc++6 python3",
    )
    found = dict(line.split(" ", 1) for line in output.strip().splitlines())
    assert found == {
        "libc6": bookworm.glibc,
        "libstdc++6": bookworm.libstdcxx,
        "python3": bookworm.python,
    }


def test_offline_venv_install_and_gdb(
    client: docker.DockerClient, bookworm: images.ImageInfo, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _tiny_wheel(wheels)
    script = (
        "set -e; python3 -m venv /tmp/v; "
        "/tmp/v/bin/pip install --no-index --find-links /wheels wcprobe; "
        "/tmp/v/bin/python -c 'import wcprobe; print(wcprobe.VALUE)'; "
        "gdb --version; "
        "gdb -batch -ex run --args /tmp/v/bin/python -c 'print(6 * 7)'"
    )
    output = _run(
        client, bookworm.tag, script, volumes={str(wheels): {"bind": "/wheels", "mode": "ro"}}
    )
    assert "Successfully installed wcprobe-0.1" in output
    assert "offline install works" in output
    assert "GNU gdb" in output
    assert "42" in output
    assert "exited normally" in output


def _ensure_in_child(suite: str) -> str:
    engine = docker.from_env(timeout=600)
    try:
        return images.ensure_image(
            engine, images.recipe_for(suite, image_catalogue.host_arch())
        ).image_id
    finally:
        engine.close()


def test_concurrent_callers_agree(bookworm: images.ImageInfo) -> None:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(3, mp_context=context) as pool:
        ids = list(pool.map(_ensure_in_child, [SUITE] * 3))
    assert ids == [bookworm.image_id] * 3


def test_dockerfile_target_is_built_once(
    client: docker.DockerClient, bookworm: images.ImageInfo, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {bookworm.tag}\nCOPY note.txt /note.txt\n", encoding="utf-8"
    )
    (tmp_path / "note.txt").write_text("first\n", encoding="utf-8")
    built: list[str] = []
    try:
        first = images.build_dockerfile(client, tmp_path / "Dockerfile")
        built.append(first.tag)
        assert first.source == "dockerfile"
        assert first.tag.startswith("wheelclash/dockerfile:")
        assert images.build_dockerfile(client, tmp_path / "Dockerfile").image_id == first.image_id
        assert _run(client, first.tag, "cat /note.txt") == "first\n"
        (tmp_path / "note.txt").write_text("second\n", encoding="utf-8")
        second = images.build_dockerfile(client, tmp_path / "Dockerfile")
        built.append(second.tag)
        assert second.tag != first.tag
        assert _run(client, second.tag, "cat /note.txt") == "second\n"
    finally:
        images.remove_images(client, built)


def test_unknown_suite_names_valid_suites(client: docker.DockerClient) -> None:
    with pytest.raises(InputError) as caught:
        images.recipe_for("buster", image_catalogue.host_arch())
    for suite in ("bullseye", "bookworm", "trixie", "sid"):
        assert suite in str(caught.value)


def test_missing_reference_gives_the_runbook(client: docker.DockerClient) -> None:
    ref = "quay.io/pypa/manylinux_2_28_x86_64:latest"
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        pass
    else:
        pytest.skip(f"{ref} is present locally, so nothing needs pulling")
    with pytest.raises(InputError) as caught:
        images.inspect_reference(client, ref)
    message = str(caught.value)
    assert "could not be pulled" in message
    assert "docker load" in message
    assert "debian:bookworm" in message


def test_local_reference_is_inspected(
    client: docker.DockerClient, bookworm: images.ImageInfo
) -> None:
    info = images.inspect_reference(client, bookworm.tag)
    assert info.image_id == bookworm.image_id
    assert info.glibc == bookworm.glibc
    assert info.emulated is False
