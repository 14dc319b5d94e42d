"""The bundled-library predictor on shared objects this test compiles: a copy of zlib-like and
OpenSSL-like API exported from an extension module or a vendored library, against the same
names hidden, against another wheel's copy, and against a "system" library of the same SONAME
in a folder standing for the machine's library folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.analysis.explain import Finding, Predictors, explain, load_predictors
from tests.integration.test_explain import compile_so, pack

ZLIB = ("inflate", "inflateInit_", "inflateEnd", "deflate", "deflateInit_", "deflateEnd", "crc32")
SSL = (
    tuple(f"SSL_{verb}" for verb in ("new", "free", "read", "write", "connect", "accept"))
    + tuple(f"EVP_{verb}" for verb in ("DigestInit", "DigestUpdate", "DigestFinal", "MD_CTX_new"))
    + tuple(f"X509_{verb}" for verb in ("new", "free", "verify", "get_subject_name"))
    + tuple(f"BIO_{verb}" for verb in ("new", "free", "read", "write", "ctrl", "puts"))
)


def api(names: tuple[str, ...], module: str) -> str:
    body = "".join(
        f'extern "C" int {name}(int x) {{ return x + {i}; }}\n' for i, name in enumerate(names)
    )
    return body + f'extern "C" int PyInit_{module}() {{ return {names[0]}(1); }}\n'


def table(search: Path) -> Predictors:
    """The real predictor table, with `search` standing for the machine's library folders."""
    search.mkdir(exist_ok=True)
    return replace(load_predictors(), runtime_search=(search,))


def bundled(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.predictor == "bundled-library"]


def test_two_wheels_exporting_one_library_interpose_both_ways(tmp_path: Path) -> None:
    one = compile_so(tmp_path, "zone", api(ZLIB, "zone"))
    two = compile_so(tmp_path, "ztwo", api(ZLIB, "ztwo"))
    hidden = compile_so(tmp_path, "zhid", api(ZLIB, "zhid"), "-fvisibility=hidden")
    first = pack(tmp_path, "zone", {"zone.abi3.so": one})
    second = pack(tmp_path, "ztwo", {"ztwo.abi3.so": two})
    third = pack(tmp_path, "zhid", {"zhid.abi3.so": hidden})
    found = bundled(
        explain([("one", first), ("two", second), ("hid", third)], table(tmp_path / "sys"))
    )
    pairs = [f for f in found if f.before]
    assert {(f.wheel_id, f.before, f.rtld_global) for f in pairs} == {
        ("one", ("one", "two"), "one"),
        ("two", ("two", "one"), "two"),
    }
    assert {f.mechanism for f in found} == {"interposition"}
    assert pairs[0].symbols == frozenset(ZLIB)
    assert pairs[0].files == {"zone.abi3.so", "ztwo.abi3.so"}
    assert pairs[0].libraries == frozenset()  # extension modules: only their zlib frames count
    detail = next(f.detail for f in pairs if f.wheel_id == "one")
    assert detail.startswith(
        "zone.abi3.so: 7 exported zlib names that two exports too (ztwo.abi3.so;"
    )
    assert "e.g. crc32, deflate, inflate" in detail
    assert "with one loaded RTLD_GLOBAL before two" in detail
    # The hidden copy exports nothing but PyInit: no finding names it.
    assert all(f.wheel_id != "hid" and "hid" not in f.before for f in found)


def test_a_vendored_library_against_the_system_copy_of_its_soname(tmp_path: Path) -> None:
    system = tmp_path / "sys"
    system.mkdir()
    # The "system" libssl exports every name but SSL_accept; the wheel's copy exports them all.
    compile_so(system, "libssl", api(SSL[:5] + SSL[6:], "sys"), "-Wl,-soname,libssl.so.3")
    (system / "libssl.so").rename(system / "libssl.so.3")
    vendored = compile_so(
        tmp_path, "libssl-0a1b2c3d", api(SSL, "v"), "-Wl,-soname,libssl-0a1b2c3d.so.3"
    )
    module = compile_so(tmp_path, "m", 'extern "C" int PyInit_m() { return 0; }\n')
    wheel = pack(
        tmp_path, "tls", {"tls/m.abi3.so": module, "tls.libs/libssl-0a1b2c3d.so.3": vendored}
    )
    found = bundled(explain([("tls", wheel)], table(system)))
    assert len(found) == 1
    hit = found[0]
    assert hit.rtld_global == "tls" and hit.before == ()
    assert hit.symbols == frozenset(SSL) - {"SSL_accept"}
    assert hit.libraries == {"libssl-0a1b2c3d.so.3", "libssl.so.3"}
    assert f"the system's libssl.so.3 exports too (read from {system}" in hit.detail
    assert "before CPython's _ssl, _hashlib loads it" in hit.detail
    # Without a system copy to read, the family's patterns stand for the system's names.
    by_pattern = bundled(explain([("tls", wheel)], table(tmp_path / "empty")))
    assert by_pattern[0].symbols == frozenset(SSL)
    assert "by name pattern; not found on this machine" in by_pattern[0].detail


def test_too_few_names_are_not_a_bundled_copy(tmp_path: Path) -> None:
    # Two wheels that each export crc32 and adler32 only (checksum helpers, not zlib).
    few = ("crc32", "adler32")
    wheels = [
        pack(tmp_path, name, {f"{name}.abi3.so": compile_so(tmp_path, name, api(few, name))})
        for name in ("cone", "ctwo")
    ]
    assert bundled(explain([("one", wheels[0]), ("two", wheels[1])], table(tmp_path / "s"))) == []
