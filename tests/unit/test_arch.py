"""Foreign arches: binfmt_misc registrations, per-arch engines, timeouts and image platforms."""

from __future__ import annotations

import io
import json
import platform
import tarfile
from pathlib import Path

import docker.context
import pytest

from harness.cells.outcome import Outcome
from harness.common.verdicts import Verdict
from harness.errors import InfrastructureError, InputError, InvalidInputFile
from harness.evidence.classify import Classified
from harness.evidence.results import CellResult
from harness.images import binfmt, engines
from harness.images import catalogue as image_catalogue
from harness.images import rootfs as image_load
from harness.report import terminal as report
from harness.scenario.config import Defaults
from harness.scenario.plan import Cell, Expected

# /proc/sys/fs/binfmt_misc/qemu-aarch64 as Debian's qemu-user-static 7.2 registers it.
DEBIAN_ENTRY = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def _binfmt_root(tmp_path: Path, entry: str | None, mounted: bool = True) -> Path:
    root = tmp_path / "binfmt_misc"
    root.mkdir()
    if mounted:
        (root / "status").write_text("enabled\n")
    if entry is not None:
        (root / "qemu-aarch64").write_text(entry)
    return root


def test_debian_registration_is_ready(tmp_path: Path) -> None:
    root = _binfmt_root(tmp_path, DEBIAN_ENTRY)
    found = binfmt.inspect("aarch64", "aarch64", root)
    assert found.state == binfmt.State.READY
    assert found.entry is not None and found.entry.flags == "PF"
    assert found.entry.interpreter == "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
    binfmt.require("aarch64", "aarch64", "x86_64", root)  # no error


@pytest.mark.parametrize(
    ("entry", "mounted", "state", "advice"),
    [
        (None, False, binfmt.State.NOT_MOUNTED, "mount -t binfmt_misc binfmt_misc"),
        (None, True, binfmt.State.MISSING, "apt-get install qemu-user-static"),
        (DEBIAN_ENTRY.replace("enabled", "disabled", 1), True, binfmt.State.DISABLED, "--enable"),
        (
            DEBIAN_ENTRY.replace("flags: PF", "flags: P"),
            True,
            binfmt.State.NO_FIX_BINARY,
            "echo -1",
        ),
    ],
)
def test_missing_registration_is_a_runbook(
    tmp_path: Path, entry: str | None, mounted: bool, state: binfmt.State, advice: str
) -> None:
    root = _binfmt_root(tmp_path, entry, mounted)
    assert binfmt.inspect("aarch64", "aarch64", root).state == state
    with pytest.raises(InfrastructureError) as raised:
        binfmt.require("aarch64", "aarch64", "x86_64", root)
    message = str(raised.value)
    assert advice in message
    assert "exec format error" in message and "no cell ran" in message
    assert "tonistiigi/binfmt --install aarch64" in message
    assert "--engine aarch64=URL" in message


def test_engines_in_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.wheelclash]\nengines = { aarch64 = "ssh://me@arm", s390x = "zbox" }\n')
    assert Defaults.from_pyproject(path).engines == {"aarch64": "ssh://me@arm", "s390x": "zbox"}
    path.write_text('[tool.wheelclash]\nengines = { arm = "ssh://me@arm" }\n')
    with pytest.raises(InvalidInputFile, match=r"tool\.wheelclash\.engines\.arm: unknown arch"):
        Defaults.from_pyproject(path)


def test_engine_url_is_kept_and_a_missing_context_is_named() -> None:
    assert engines.endpoint("unix:///run/arm.sock") == "unix:///run/arm.sock"
    with pytest.raises(InputError, match="no docker context named 'wheelclash-no-such-context'"):
        engines.endpoint("wheelclash-no-such-context")


@pytest.mark.parametrize(
    ("arch", "emulated", "scale"),
    [("aarch64", True, 5.0), ("aarch64", False, 1.0), ("s390x", True, 6.0), ("x86_64", False, 1.0)],
)
def test_timeouts_scale_per_emulated_arch(arch: str, emulated: bool, scale: float) -> None:
    assert image_catalogue.timeout_scale(arch, emulated) == scale


def test_emulation_is_judged_against_the_engine_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert image_catalogue.is_emulated("aarch64")
    assert not image_catalogue.is_emulated("aarch64", on="aarch64")  # a native arm64 engine
    assert image_catalogue.is_emulated("x86_64", on="aarch64")


def test_loaded_image_names_its_platform(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("etc/hostname")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"ok\n"))
    diff_id = image_load.file_sha256(rootfs)
    config = image_load.image_config(
        oci_arch="arm64",
        diff_id=diff_id,
        labels={"org.wheelclash.arch": "aarch64"},
        env=["LANG=C.UTF-8"],
        cmd=["/bin/bash"],
        created="2026-12-01T00:00:00+00:00",
    )
    archive = tmp_path / "image.tar"
    image_id = image_load.write_archive(rootfs, archive, config, "wheelclash/target:x")
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        saved = json.loads(tar.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["wheelclash/target:x"]
    assert saved["architecture"] == "arm64" and saved["os"] == "linux"
    assert saved["rootfs"]["diff_ids"] == [f"sha256:{diff_id}"]
    assert saved["config"]["Labels"] == {"org.wheelclash.arch": "aarch64"}
    assert layer == rootfs.read_bytes()
    assert image_id == "sha256:" + manifest[0]["Config"].removesuffix(".json")


def test_emulated_cells_say_so_in_results_and_matrix() -> None:
    cell = Cell(
        scenario="s",
        target="debian:bookworm",
        arch="aarch64",
        dlopen="local",
        host="plain",
        order=("a",),
        repeat=1,
    )
    made = CellResult.make(
        cell,
        "docker",
        Outcome(cell_id=cell.id, returncode=0),
        Classified(verdict=Verdict.PASS),
        Expected(verdict=Verdict.PASS),
        emulated=True,
    )
    assert made.to_json()["cell"]["emulated"] is True
    assert CellResult.from_json(made.to_json()) == made
    assert report.matrix([made]).splitlines()[0] == "s on debian:bookworm (aarch64, emulated)"


def test_a_docker_context_name_resolves_to_its_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    docker.context.Context("arm-box", host="ssh://me@arm-box").save()
    assert engines.endpoint("arm-box") == "ssh://me@arm-box:22"  # docker-py adds the port
