"""resources/docker.toml: the confinement it sets up, and a bad one's errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import paths
from harness.cells.backends.docker import load_settings, size_bytes
from harness.errors import InvalidInputFile


def test_the_shipped_settings_leave_the_probes_only_fixed_size_scratch() -> None:
    settings = load_settings()
    held = settings.confinement
    assert held.read_only and held.init_user == "0:0"
    assert held.user != settings.supervisor_user
    assert {s.path for s in held.scratch} == {settings.workdir, settings.cells, "/tmp"}
    assert all(s.owner in ("", held.user) for s in held.scratch)
    scratch = sum(size_bytes(s.size) or 0 for s in held.scratch)
    assert 0 < scratch < (size_bytes(held.memory) or 0)
    # The venv and scripts are on the harness's volume, never in the probes' scratch.
    assert settings.venv.startswith(settings.harness_dir + "/")
    assert held.volumes == (settings.harness_dir,)
    # Mirrors are read-only copies of the image's own folders (images/mirrors.py).
    assert settings.mirrored == ("/usr/lib", "/usr/bin") and held.mirrors == ()
    # A root copy is mounted apart from everything the containers have of their own.
    assert settings.root_copy == "/opt/wheelclash-root"
    assert settings.root_copy not in (settings.harness_dir, settings.inputs_dir, settings.workdir)
    # Installed environments are kept, up to a size on the engine's disk.
    assert settings.kept_environments == 20 << 30


@pytest.mark.parametrize(
    ("text", "size"),
    [("256m", 256 << 20), ("1g", 1 << 30), ("1G", 1 << 30), ("4096", 4096), ("8k", 8192)],
)
def test_sizes_are_read_as_the_engine_reads_them(text: str, size: int) -> None:
    assert size_bytes(text) == size


@pytest.mark.parametrize("text", ["", "1.5g", "g", "-1m", "1t"])
def test_what_is_not_a_size(text: str) -> None:
    assert size_bytes(text) is None


def settings_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (paths.RESOURCES / "docker.toml").read_text()
    assert old in text
    path = tmp_path / "docker.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('cells = "1g"', 'cells = "2g"', r"container\.scratch: the scratch folders .* memory"),
        ('tmp = "256m"', 'tmp = "lots"', r"container\.scratch\.tmp: must be a size"),
        ('user = "10001:10001"', 'user = "0:0"', r"container\.user: must be \"uid:gid\""),
        (
            'supervisor_user = "10000:10000"',
            'supervisor_user = "10001:10001"',
            r"container\.supervisor_user: must differ from container\.user",
        ),
        ('tmp = "256m"', 'tmp = "256m"\nvar = "1m"', r"container\.scratch\.var: unknown key"),
        (
            'mirrored = ["/usr/lib", "/usr/bin"]',
            'mirrored = ["usr/lib"]',
            r"container\.mirrored: must list absolute folders .* \(has 'usr/lib'\)",
        ),
        (
            'mirrored = ["/usr/lib", "/usr/bin"]',
            'mirrored = ["/opt/wheelclash"]',
            r"container\.mirrored: must list absolute folders of the image other than",
        ),
        ('mirrored = ["/usr/lib", "/usr/bin"]', "mirrored = 3", r"container\.mirrored: must be"),
        (
            'root_copy = "/opt/wheelclash-root"',
            'root_copy = "/"',
            r"container\.root_copy: must be \"\" or an absolute folder other than / .* \(is '/'\)",
        ),
        (
            'root_copy = "/opt/wheelclash-root"',
            'root_copy = "opt/root"',
            r"container\.root_copy: .* \(is 'opt/root'\)",
        ),
        (
            'root_copy = "/opt/wheelclash-root"',
            'root_copy = "/opt/wheelclash"',
            r"container\.root_copy: .* the harness's own",
        ),
        (
            'kept_environments = "20g"',
            'kept_environments = "lots"',
            r"container\.kept_environments: must be a size such as \"20g\", or \"0\" .*'lots'",
        ),
        (
            'kept_environments = "20g"',
            "kept_environments = 20",
            r"container\.kept_environments: must be a string \(is a int\)",
        ),
    ],
)
def test_a_bad_setting_is_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = settings_with(tmp_path, old, new)
    with pytest.raises(InvalidInputFile, match=message) as raised:
        load_settings(path)
    assert str(path) in str(raised.value)
