"""Wheel cache entries written by another harness version are read or rebuilt, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from harness.build.wheels import BuiltWheel, cached_wheel


def entry(tmp_path: Path, **changes: object) -> Path:
    wheel = tmp_path / "wc_x-1.0-cp38-abi3-linux_x86_64.whl"
    wheel.write_bytes(b"PK")
    data: dict[str, object] = {
        "wheel_id": "a",
        "module": "wc_x",
        "fixture": "healthy",
        "toolchain": "gcc",
        "link": "shared",
        "path": str(wheel),
        "sha256": "0" * 64,
        "compiler": "g++ (Debian 12.2.0-14) 12.2.0",
        "elf_comment": "GCC: (Debian 12.2.0-14) 12.2.0",
        "builder": "host",
        "builder_id": "host:12.2.0",
        "audit": "manylinux_2_17",
        "cache_key": "k",
    }
    data.update(changes)
    meta = tmp_path / "wheel.json"
    meta.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    return meta


def test_an_entry_of_this_version_is_read(tmp_path: Path) -> None:
    wheel = cached_wheel(entry(tmp_path))
    assert isinstance(wheel, BuiltWheel) and wheel.module == "wc_x"


def test_fields_a_newer_version_added_are_ignored(tmp_path: Path) -> None:
    wheel = cached_wheel(entry(tmp_path, wheelhouse="/somewhere"))
    assert wheel is not None and wheel.toolchain == "gcc"


def test_an_entry_missing_a_field_or_garbled_is_a_miss(tmp_path: Path) -> None:
    assert cached_wheel(entry(tmp_path, compiler=None)) is None
    meta = entry(tmp_path)
    meta.write_text("{not json")
    assert cached_wheel(meta) is None


def test_an_entry_whose_wheel_file_is_gone_is_a_miss(tmp_path: Path) -> None:
    meta = entry(tmp_path)
    next(tmp_path.glob("*.whl")).unlink()
    assert cached_wheel(meta) is None
    assert cached_wheel(tmp_path / "absent.json") is None
