"""Link modes that carry compile flags reach the build script's spec, and the cache key."""

from __future__ import annotations

from pathlib import Path

from harness.build.builders import build_spec
from harness.build.toolchains import load_catalogue
from harness.build.wheels import cache_key
from harness.scenario.load import WheelSpec


def spec(link: tuple[str, ...]) -> WheelSpec:
    return WheelSpec(
        id="a",
        fixture="healthy",
        fixture_dir=Path(__file__).parent,
        toolchain="gcc",
        link=link,
        module="wc_a",
        exercise=None,
    )


def document(link: tuple[str, ...]) -> dict[str, object]:
    catalogue = load_catalogue()
    modes = [catalogue.link_modes[name] for name in link]
    return build_spec(
        spec(link),
        catalogue.toolchain("gcc"),
        modes,
        source="src",
        out="out",
        python="python3",
        arch="x86_64",
        pyinit_map="map",
    )


def test_compile_modes_add_cxxflags_only() -> None:
    assert document(("shared",))["cxxflags"] == []
    assert document(("no-gnu-unique",))["cxxflags"] == ["-fno-gnu-unique"]
    both = document(("hidden", "version-script"))
    assert both["cxxflags"] == ["-fvisibility=hidden", "-fvisibility-inlines-hidden"]
    assert both["ldflags"] == ["-Wl,--version-script={pyinit_only_map}"]


def test_compile_modes_change_the_cache_key() -> None:
    catalogue = load_catalogue()
    toolchain = catalogue.toolchain("gcc")
    keys = {
        cache_key(spec((n,)), toolchain, [catalogue.link_modes[n]], "host:g++")
        for n in ("shared", "no-gnu-unique", "hidden")
    }
    assert len(keys) == 3


def test_no_gnu_unique_is_refused_with_libcxx() -> None:
    catalogue = load_catalogue()
    problem = catalogue.check_combination(catalogue.toolchain("clang-libcxx"), ["no-gnu-unique"])
    assert problem is not None and "libstdc++" in problem
