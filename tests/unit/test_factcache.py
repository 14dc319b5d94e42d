"""Target facts kept per image (harness/images/factcache.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.images import factcache


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path))
    return tmp_path / factcache.FOLDER


def test_facts_are_kept_by_image(cache: Path) -> None:
    assert factcache.read("sha256:aa") is None
    factcache.write("sha256:aa", {"python": "3.11.2", "tags": ["cp311-cp311-linux_x86_64"]})
    assert factcache.read("sha256:aa") == {"python": "3.11.2", "tags": ["cp311-cp311-linux_x86_64"]}
    assert factcache.read("sha256:bb") is None
    assert [p.name for p in cache.iterdir()] == [f"aa-{factcache._script_hash()}.json"]


def test_a_damaged_file_is_read_again(cache: Path) -> None:
    factcache.write("sha256:aa", {"python": "3.11.2"})
    (path,) = cache.iterdir()
    path.write_text('{"python": ')
    assert factcache.read("sha256:aa") is None
    path.write_text("[1, 2]")
    assert factcache.read("sha256:aa") is None


def test_the_facts_of_images_gone_are_forgotten(cache: Path) -> None:
    for image in ("sha256:aa", "sha256:bb", "sha256:cc"):
        factcache.write(image, {"python": image})
    assert factcache.forget_others({"sha256:bb"}) == 2
    assert factcache.read("sha256:bb") == {"python": "sha256:bb"}
    assert factcache.read("sha256:aa") is None and factcache.read("sha256:cc") is None
