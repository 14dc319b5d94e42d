"""The pieces of a root copy that run no process: its name, the image's command that fills
it, the supervisor's and root_binds.py's refusals of what they cannot use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import paths
from harness.images import mirrors, rootcopy
from tests.unit.helpers import resource_script


def test_a_root_copy_is_named_by_its_mount_points_and_labelled_as_a_mirror() -> None:
    image = "sha256:" + "ab" * 32
    one = rootcopy.key(["/opt/wheelclash-root", "/opt/wheelclash", "/wheelclash", "/tmp"])
    same = rootcopy.key(["/tmp", "/wheelclash", "/opt/wheelclash", "/opt/wheelclash-root"])
    other = rootcopy.key(["/opt/wheelclash-root", "/opt/harness", "/wheelclash", "/tmp"])
    assert one == same != other and one.startswith("/:")
    name = mirrors.volume_name(image, one, 0, slug="root")
    assert name.startswith("wheelclash-mirror-abababababababab-root-")
    assert name != mirrors.volume_name(image, other, 0, slug="root")
    assert all(c.isalnum() or c in "_.-" for c in name)  # what the engine takes


def test_the_fill_copies_one_filesystem_and_makes_the_mount_points() -> None:
    command = rootcopy.fill_command("/opt/root copy", ["/opt/wheelclash", "/tmp"])
    assert command[:2] == ["sh", "-c"]
    assert command[2] == (
        "cp -a -x /. '/opt/root copy'/ && "
        "mkdir -p '/opt/root copy/opt/wheelclash' '/opt/root copy/tmp'"
    )


def test_the_supervisor_enters_only_an_absolute_root() -> None:
    supervisor = resource_script(paths.SUPERVISOR)
    with pytest.raises(SystemExit, match=r"--root takes an absolute folder, not 'root'"):
        supervisor.enter_root("root")


def test_root_binds_refuses_a_place_missing_from_the_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binds = resource_script(paths.ROOT_BINDS)
    (tmp_path / "copy").mkdir()
    (tmp_path / "there").mkdir()
    code = binds.main(["root_binds.py", str(tmp_path / "copy"), str(tmp_path / "there")])
    said = json.loads(capsys.readouterr().out)
    assert code == 1 and said["bound"] == []
    assert said["error"] == f"{tmp_path}/copy{tmp_path}/there is missing from the root copy"
    # a place the container lacks is left out, and nothing is bound
    code = binds.main(["root_binds.py", str(tmp_path / "copy"), str(tmp_path / "absent")])
    assert code == 0 and json.loads(capsys.readouterr().out) == {"bound": []}


def test_cache_lists_a_root_copy_as_the_root_filesystem() -> None:
    assert rootcopy.described(rootcopy.key(["/opt/wheelclash-root"])) == "the root filesystem"
    assert rootcopy.described("/usr/lib") == "/usr/lib"


def test_enter_root_refuses_what_it_cannot_use(capsys: pytest.CaptureFixture[str]) -> None:
    enter = resource_script(paths.ENTER_ROOT)
    assert enter.main(["enter_root.py", "/r", "10000:10000"]) == 2
    assert "usage: enter_root.py ROOT UID:GID COMMAND" in capsys.readouterr().err
    assert enter.main(["enter_root.py", "/r", "builder", "pip"]) == 2
    assert "UID:GID must be two numbers, not 'builder'" in capsys.readouterr().err
