"""How wheels reach a container: bound on a local engine, streamed to a remote one."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from harness.build.wheels import BuiltWheel
from harness.cells.backends.docker import load_settings
from harness.cells.backends.transfer import ENV, Transfer, choose, inputs, place
from harness.errors import InputError
from harness.images.containers import Bind, mounts

LOCAL = "unix:///var/run/docker.sock"
REMOTE = "ssh://me@arm64-box"


def wheel(path: Path, wheelhouse: Path | None = None) -> BuiltWheel:
    """A set's wheel: only its file and wheelhouse matter here."""
    path.write_bytes(b"PK")
    data = {f.name: "" for f in fields(BuiltWheel) if f.type == "str"}
    return BuiltWheel.from_json(data | {"path": str(path), "wheelhouse": str(wheelhouse or "")})


@pytest.fixture
def wheels(tmp_path: Path) -> list[BuiltWheel]:
    house = tmp_path / "house"
    house.mkdir()
    for name in ["dep-1.0-py3-none-any.whl", "other-2.0-py3-none-any.whl"]:
        (house / name).write_bytes(b"PK")
    (house / "notes.txt").write_text("not a wheel")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    return [
        wheel(tmp_path / "a" / "a-1.0-py3-none-any.whl", house),
        wheel(tmp_path / "b" / "b-1.0-py3-none-any.whl"),
    ]


@pytest.mark.parametrize(
    ("engine", "environ", "expected"),
    [
        (LOCAL, {}, Transfer.MOUNT),
        ("default", {}, Transfer.MOUNT),  # DOCKER_HOST unset: the local socket
        (REMOTE, {}, Transfer.STREAM),
        ("tcp://10.0.0.5:2376", {}, Transfer.STREAM),
        (LOCAL, {ENV: "stream"}, Transfer.STREAM),
        (REMOTE, {ENV: "mount"}, Transfer.MOUNT),
    ],
)
def test_the_engine_address_picks_the_transfer_and_the_environment_overrides_it(
    wheels: list[BuiltWheel], engine: str, environ: dict[str, str], expected: Transfer
) -> None:
    files = [path for _, path in inputs(wheels)]
    assert choose(engine, files, environ) is expected


def test_a_bad_transfer_value_is_a_clear_error(wheels: list[BuiltWheel]) -> None:
    with pytest.raises(InputError, match=rf"{ENV} is 'copy': it must be 'mount' or 'stream'"):
        choose(LOCAL, [wheels[0].path], {ENV: "copy"})


def test_a_wheel_others_cannot_read_is_streamed_or_refused_when_mount_is_asked(
    wheels: list[BuiltWheel],
) -> None:
    private = wheels[1].path
    private.chmod(0o600)
    files = [path for _, path in inputs(wheels)]
    assert choose(LOCAL, files, {}) is Transfer.STREAM
    with pytest.raises(InputError, match=rf"{private.name} is not a file others may read") as err:
        choose(LOCAL, files, {ENV: "mount"})
    assert f"chmod o+r {private}" in err.value.hint


def test_inputs_are_the_wheels_and_their_wheelhouses_wheels(wheels: list[BuiltWheel]) -> None:
    names = [name for name, _ in inputs(wheels)]
    assert names == [
        "wheels/a-1.0-py3-none-any.whl",
        "wheels/b-1.0-py3-none-any.whl",
        "wheelhouse/dep-1.0-py3-none-any.whl",
        "wheelhouse/other-2.0-py3-none-any.whl",
    ]


def test_mount_binds_each_file_read_only_under_the_inputs_folder(
    wheels: list[BuiltWheel],
) -> None:
    placement = place(
        wheels, inputs(wheels), Transfer.MOUNT, harness_dir="/opt/h", inputs_dir="/opt/in"
    )
    assert placement.wheels == (
        "/opt/in/wheels/a-1.0-py3-none-any.whl",
        "/opt/in/wheels/b-1.0-py3-none-any.whl",
    )
    assert placement.wheelhouses == ("/opt/in/wheelhouse",)
    assert placement.entries == ()
    assert Bind(source=wheels[0].path, target=placement.wheels[0]) in placement.binds
    assert len(placement.binds) == 4
    settings = load_settings()
    confinement = settings.confinement
    _, found = mounts(replace(confinement, binds=placement.binds), {})
    binds = [m for m in found if m["Type"] == "bind"]
    assert [m["Target"] for m in binds] == [b.target for b in placement.binds]
    assert all(m["ReadOnly"] for m in binds)
    assert settings.inputs_dir.startswith("/") and settings.inputs_dir != settings.harness_dir


def test_stream_sends_the_same_files_under_the_harness_folder(wheels: list[BuiltWheel]) -> None:
    placement = place(
        wheels, inputs(wheels), Transfer.STREAM, harness_dir="/opt/h", inputs_dir="/opt/in"
    )
    assert placement.wheels[0] == "/opt/h/wheels/a-1.0-py3-none-any.whl"
    assert placement.wheelhouses == ("/opt/h/wheelhouse",)
    assert placement.binds == ()
    assert [e.name for e in placement.entries] == [name for name, _ in inputs(wheels)]


def test_without_a_wheelhouse_pip_gets_no_find_links(wheels: list[BuiltWheel]) -> None:
    placement = place(
        wheels[1:], inputs(wheels[1:]), Transfer.MOUNT, harness_dir="/opt/h", inputs_dir="/opt/in"
    )
    assert placement.wheelhouses == ()
