"""Real fixture wheels from a real build backend, and the content-hash cache."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from harness.build.provenance import read_stamp
from harness.build.toolchains import load_catalogue
from harness.build.wheels import build_wheel
from harness.common import cachedir
from harness.common.cachedir import Kind
from harness.common.digests import file_sha256
from harness.errors import ToolchainUnavailable
from harness.scenario.load import WheelSpec
from tests.integration.conftest import REPO

FIXTURES = REPO / "fixtures" / "cpp"


def spec(wheel_id: str, toolchain: str, *link: str, fixture: str = "healthy") -> WheelSpec:
    return WheelSpec(
        id=wheel_id,
        fixture=fixture,
        fixture_dir=FIXTURES / fixture,
        toolchain=toolchain,
        link=link or ("shared",),
        module=f"wc_test_{wheel_id}",
        exercise="exercise",
    )


@pytest.mark.parametrize("toolchain", ["gcc", "clang-libstdcxx", "clang-libcxx"])
def test_each_host_toolchain_builds_an_abi3_wheel(
    toolchain: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path))
    built = build_wheel(spec(toolchain.replace("-", "_"), toolchain), load_catalogue())
    if toolchain == "clang-libcxx":
        # libc++ is not in the manylinux policies: auditwheel would graft it, so it stays linux.
        assert built.path.name.endswith("-cp38-abi3-linux_x86_64.whl")
        assert built.audit.startswith("needs libc++.so.1")
    else:
        assert re.search(r"-cp38-abi3-manylinux_2_\d+_x86_64\.whl$", built.path.name)
        assert built.audit.endswith("; retagged")
    assert built.sha256 == file_sha256(built.path)
    with zipfile.ZipFile(built.path) as wheel:
        names = wheel.namelist()
    assert any(n.startswith(built.module) and n.endswith(".abi3.so") for n in names)
    assert built.compiler and built.toolchain == toolchain


def test_second_build_is_a_cache_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path))
    catalogue = load_catalogue()
    first = build_wheel(spec("n", "gcc", "nonshared", "version-script"), catalogue)
    stamp = first.path.stat().st_mtime_ns
    marker = cachedir.marker(Kind.WHEEL, first.cache_key)
    os.utime(marker, (1e9, 1e9))  # last used in 2001
    with caplog.at_level(logging.INFO, logger="harness.build.wheels"):
        second = build_wheel(spec("n", "gcc", "nonshared", "version-script"), catalogue)
    assert second == first and second.path.stat().st_mtime_ns == stamp
    assert marker.stat().st_mtime > time.time() - 600  # the hit is its last use (cache list)
    assert "cached" in caplog.text and "pip" not in caplog.text
    other = build_wheel(spec("n", "gcc", "nonshared"), catalogue)
    assert other.cache_key != first.cache_key and other.sha256 != first.sha256


def test_missing_compiler_is_a_runbook_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "toolchains.toml"
    table.write_text(
        '[toolchains.gcc-404]\ncxx = "g++-404"\nruntime = "libstdc++"\npackages = ["g++-404"]\n'
        '[link_modes.shared]\nruntimes = ["libstdc++"]\n'
    )
    catalogue = load_catalogue(table)
    with pytest.raises(ToolchainUnavailable, match=r"apt-get install g\+\+-404"):
        build_wheel(spec("x", "gcc-404"), catalogue)


def test_libcxx_toolchain_really_compiles_and_links_against_libcxx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Newer setuptools compiles C++ with CXXFLAGS: -stdlib=libc++ must reach the compiler."""
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path))
    built = build_wheel(spec("libcxx", "clang-libcxx"), load_catalogue())
    with zipfile.ZipFile(built.path) as wheel:
        [name] = [n for n in wheel.namelist() if n.endswith(".so")]
        (tmp_path / "m.so").write_bytes(wheel.read(name))
    dynamic = subprocess.run(
        ["readelf", "-dW", "--dyn-syms", str(tmp_path / "m.so")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "[libc++.so.1]" in dynamic and "libstdc++" not in dynamic
    assert "__cxx11" not in dynamic  # no libstdc++ std::string symbols


def test_provenance_is_in_the_results_and_in_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path))
    built = build_wheel(spec("prov", "gcc", "nonshared"), load_catalogue())
    assert built.elf_comment.startswith("GCC: (Debian")
    assert built.builder == "host" and built.builder_id.startswith("host:g++")
    stamped = read_stamp(built.path)
    assert stamped["toolchain"] == "gcc" and stamped["link"] == "nonshared"
    assert stamped["compiler"] == built.compiler and stamped["elf_comment"] == built.elf_comment
    assert stamped["audit"] == built.audit
    # The stamped wheel is still a wheel that pip installs, RECORD and all.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(built.path),
        ],
        check=True,
    )
    record = next(target.glob("*.dist-info/RECORD")).read_text()
    assert "wheelclash.json,sha256=" in record
