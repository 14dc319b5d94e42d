"""Load a bootstrapped root filesystem as an image of a given platform (`docker load`).

The engine's image import records the engine's own architecture whatever the tarball holds
(Docker 20.10 ignores `platform` there), so an arm64 root filesystem would be listed as amd64.
For a foreign arch wheelclash instead writes a one-layer `docker save` archive whose image
config names the platform, and loads that: `docker image inspect` then says arm64, s390x, ...
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import docker

CHUNK: Final = 1 << 20
LAYER_NAME: Final = "layer.tar"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def image_config(
    *,
    oci_arch: str,
    diff_id: str,
    labels: Mapping[str, str],
    env: Sequence[str],
    cmd: Sequence[str],
    created: str,
) -> dict[str, Any]:
    """The image config of a one-layer image (the OCI image config, as `docker load` reads it)."""
    return {
        "architecture": oci_arch,
        "os": "linux",
        "created": created,
        "config": {"Env": list(env), "Cmd": list(cmd), "Labels": dict(labels)},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": created, "created_by": "wheelclash: mmdebstrap root filesystem"}],
    }


def write_archive(rootfs: Path, archive: Path, config: Mapping[str, Any], tag: str) -> str:
    """Write a `docker save` archive of one layer (the root filesystem tarball) to `archive`;
    return the config's digest, which is the image id the engine will give it."""
    config_blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_id = hashlib.sha256(config_blob).hexdigest()
    layer_dir = str(config["rootfs"]["diff_ids"][0]).removeprefix("sha256:")
    manifest = [
        {
            "Config": f"{config_id}.json",
            "RepoTags": [tag],
            "Layers": [f"{layer_dir}/{LAYER_NAME}"],
        }
    ]
    with tarfile.open(archive, "w") as out:
        _add_bytes(out, f"{config_id}.json", config_blob)
        _add_bytes(out, "manifest.json", json.dumps(manifest).encode())
        info = tarfile.TarInfo(f"{layer_dir}/{LAYER_NAME}")
        info.size = rootfs.stat().st_size
        info.mode = 0o644
        with rootfs.open("rb") as layer:
            out.addfile(info, layer)
    return f"sha256:{config_id}"


def _add_bytes(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    out.addfile(info, io.BytesIO(data))


def load_rootfs(
    client: docker.DockerClient,
    rootfs: Path,
    *,
    tag: str,
    oci_arch: str,
    labels: Mapping[str, str],
    env: Sequence[str],
    cmd: Sequence[str],
    created: str,
) -> str:
    """Load `rootfs` (a plain tar of a root filesystem) as image `tag` for `oci_arch`;
    return the image id. The archive is written beside `rootfs` and removed afterwards."""
    config = image_config(
        oci_arch=oci_arch,
        diff_id=file_sha256(rootfs),
        labels=labels,
        env=env,
        cmd=cmd,
        created=created,
    )
    archive = rootfs.with_name(rootfs.name + ".image.tar")
    try:
        image_id = write_archive(rootfs, archive, config, tag)
        with archive.open("rb") as stream:
            client.api.load_image(stream)  # type: ignore[no-untyped-call]
    finally:
        archive.unlink(missing_ok=True)
    return image_id
