"""The wheel cache's folders as entries: sizes without reading, last use from the marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli.cache import human_size, parse_age
from harness.common import cachedir
from harness.common.cachedir import Kind
from harness.common.locking import file_lock
from harness.errors import InputError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path))
    return tmp_path


def test_ages() -> None:
    assert parse_age("30d") == 30 * 86400
    assert parse_age("1.5h") == 5400
    assert parse_age("2w") == 14 * 86400
    for bad in ("30", "d", "-1d", "30 days", "1y"):
        with pytest.raises(InputError, match="like 30d or 12h"):
            parse_age(bad)
    assert human_size(999) == "999 B" and human_size(1_500_000) == "1.5 MB"


def test_entries_marker_dates_and_sizes(cache: Path) -> None:
    folder = cachedir.entry_dir(Kind.WHEEL, "k1")
    folder.mkdir(parents=True)
    (folder / "x-1.0-py3-none-any.whl").write_bytes(b"x" * 10_000)
    os.link(folder / "x-1.0-py3-none-any.whl", folder / "same-inode")  # counted once
    marker = cachedir.marker(Kind.WHEEL, "k1")
    marker.write_text("{}")
    os.utime(marker, (1e9, 1e9))
    half = cachedir.entry_dir(Kind.WHEELHOUSE, "k2" + cachedir.PARTIAL)
    half.mkdir(parents=True)
    (cachedir.folder(Kind.VENV)).mkdir()
    found = {(e.kind, e.key): e for e in cachedir.entries()}
    assert set(found) == {(Kind.WHEEL, "k1"), (Kind.WHEELHOUSE, "k2.partial")}
    wheel = found[(Kind.WHEEL, "k1")]
    assert wheel.last_used == 1e9 and wheel.what == "x-1.0-py3-none-any.whl"
    assert 10_000 <= wheel.size < 2 * 10_000 + 3 * 4096
    assert found[(Kind.WHEELHOUSE, "k2.partial")].what == "0 wheel(s)"
    cachedir.mark_used(Kind.WHEEL, "k1")
    assert marker.stat().st_mtime > 1e9


def test_remove_takes_the_makers_lock(cache: Path) -> None:
    cachedir.entry_dir(Kind.WHEELHOUSE, "k3.partial").mkdir(parents=True)
    (entry,) = cachedir.entries()
    with file_lock(cachedir.lock_name(Kind.WHEELHOUSE, "k3")):  # the download under way
        assert cachedir.remove(entry) is False
    assert entry.path.is_dir()
    assert cachedir.remove(entry) is True
    assert not entry.path.exists()
