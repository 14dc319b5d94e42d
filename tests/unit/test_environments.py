"""Kept environments' names and bookkeeping (harness/cells/backends/environments.py): what
names one, when the least recently used go, and the use records."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from harness.build import wheelhouse
from harness.cells.backends import environments
from harness.cells.backends.environments import Stored

BASE = {
    "image_id": "sha256:aa",
    "wheels": ["1" * 64, "2" * 64],
    "wheelhouse": [("dep-1.0-py3-none-any.whl", "a" * 64)],
    "venv": "/opt/wheelclash/venv",
    "owner": "10000:10000",
}


def key(**changes: object) -> str:
    given = {**BASE, **changes}
    return environments.key(
        str(given["image_id"]),
        list(given["wheels"]),  # type: ignore[call-overload]
        list(given["wheelhouse"]),  # type: ignore[call-overload]
        venv=str(given["venv"]),
        owner=str(given["owner"]),
    )


def test_the_order_of_the_wheels_does_not_name_another_environment() -> None:
    assert key(wheels=["2" * 64, "1" * 64]) == key()


@pytest.mark.parametrize(
    "change",
    [
        {"image_id": "sha256:bb"},
        {"wheels": ["1" * 64, "3" * 64]},
        {"wheels": ["1" * 64]},
        {"wheelhouse": [("dep-1.0-py3-none-any.whl", "b" * 64)]},
        {"wheelhouse": [("dep-1.1-py3-none-any.whl", "a" * 64)]},
        {"wheelhouse": []},
        {"venv": "/opt/other/venv"},
        {"owner": "10002:10002"},
    ],
)
def test_whatever_the_install_depends_on_names_another(change: dict[str, object]) -> None:
    assert key(**change) != key()


def test_a_new_format_names_another(monkeypatch: pytest.MonkeyPatch) -> None:
    before = key()
    monkeypatch.setattr(environments, "FORMAT", environments.FORMAT + 1)
    assert key() != before


def test_names_are_short_and_by_generation() -> None:
    name = environments.volume_name(key(), 2)
    assert name.startswith(environments.PREFIX) and name.endswith("-2") and len(name) < 64
    assert environments.flag_name(name) == f"{name}-complete"


def stored(volume: str, size: int, used: float, complete: bool = True) -> Stored:
    return Stored(volume=volume, image_id="i", complete=complete, size=size, last_used=used)


def test_the_least_recently_used_go_first_until_the_rest_fit() -> None:
    held = [stored("new", 300, 30), stored("old", 300, 10), stored("mid", 300, 20)]
    assert [s.volume for s in environments.beyond(held, 600, keep="")] == ["old"]
    assert [s.volume for s in environments.beyond(held, 250, keep="")] == ["old", "mid", "new"]
    assert environments.beyond(held, 900, keep="") == []


def test_the_one_just_filled_and_incomplete_ones_stay() -> None:
    held = [stored("old", 300, 10), stored("mid", 300, 20), stored("filling", 900, 0, False)]
    # the incomplete one counts for nothing: another run is filling it, or it will be remade
    assert [s.volume for s in environments.beyond(held, 300, keep="old")] == ["mid"]


def test_a_use_is_recorded_with_the_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path))
    assert environments.recorded("v") == (0, None)
    environments.record("v", 4096)
    size, used = environments.recorded("v")
    assert size == 4096 and used is not None
    path = tmp_path / environments.USES / "v"
    os.utime(path, (1000, 1000))
    environments.record("v")  # a later use keeps the size and moves the date
    size, used = environments.recorded("v")
    assert size == 4096 and used is not None and used > 1000


def test_a_wheelhouse_wheel_counts_by_its_content(tmp_path: Path) -> None:
    """A wheelhouse's wheels are named by the sha256 its manifest recorded at download (not
    read again), or, in a folder without one, read from the files: a wheel of the same name
    and size but other bytes names another environment."""
    house = tmp_path / "house"
    house.mkdir()
    (house / "dep-1.0-py3-none-any.whl").write_bytes(b"one")
    read = wheelhouse.digests(house)
    assert read == {"dep-1.0-py3-none-any.whl": hashlib.sha256(b"one").hexdigest()}
    (house / "dep-1.0-py3-none-any.whl").write_bytes(b"two")  # same size, other bytes
    assert wheelhouse.digests(house) != read
    assert key(wheelhouse=list(wheelhouse.digests(house).items())) != key(
        wheelhouse=list(read.items())
    )
    manifest = {"files": {"dep-1.0-py3-none-any.whl": "c" * 64}}
    (house / "wheelhouse.json").write_text(json.dumps(manifest))
    assert wheelhouse.digests(house) == {"dep-1.0-py3-none-any.whl": "c" * 64}
    (house / "wheelhouse.json").write_text("not json")
    assert wheelhouse.digests(house) == {
        "dep-1.0-py3-none-any.whl": hashlib.sha256(b"two").hexdigest()
    }
