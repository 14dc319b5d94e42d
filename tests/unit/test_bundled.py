"""The bundled-library table and the collision rules, on ELF facts given as data (the same
predictor on compiled objects: tests/integration/test_bundled_library.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.bundled import LibraryFamily, collisions, copies, family_of, parse_families
from harness.analysis.elfscan import ElfFacts, Exported
from harness.analysis.explain import load_predictors
from harness.errors import InvalidInputFile
from harness.scenario.tomlload import Checker

ZLIB = LibraryFamily(name="zlib", patterns=("(inflate|deflate)", "crc32$"), min_symbols=3)
SSL = LibraryFamily(
    name="OpenSSL", patterns=("SSL_", "EVP_"), min_symbols=2, system=("libssl.so.3",), users="_ssl"
)
FAMILIES = (ZLIB, SSL)


def elf(path: str, *names: str) -> ElfFacts:
    exported = tuple(Exported(name=n, bind="STB_GLOBAL", kind="STT_FUNC", size=8) for n in names)
    return ElfFacts(path=path, exported=exported)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("inflate", "zlib"),
        ("inflateInit2_", "zlib"),
        ("deflateBound", "zlib"),
        ("crc32", "zlib"),
        ("crc32c_extend", None),
        ("SSL_CTX_new", "OpenSSL/BoringSSL"),
        ("EVP_DigestInit_ex", "OpenSSL/BoringSSL"),
        ("d2i_X509", "OpenSSL/BoringSSL"),
        ("png_create_read_struct", "libpng"),
        ("TIFFOpen", "libtiff"),
        ("xmlParseFile", "libxml2"),
        ("XML_ParserCreate", "expat"),
        ("_ZN6google8protobuf7Message8CopyFromERKS1_", "protobuf"),
        ("_ZNK6google8protobuf7Message11GetTypeNameEv", "protobuf"),
        ("_ZTVN6google8protobuf7MessageE", "protobuf"),
        ("GOMP_parallel", "OpenMP runtime"),
        ("cblas_dgemm", "OpenBLAS/BLAS"),
        ("dgemm_", "OpenBLAS/BLAS"),
        ("scipy_cblas_dgemm64_", None),  # numpy's prefixed OpenBLAS: its own names
        ("GEOSGeom_destroy_r", "GEOS"),
        ("proj_create", "PROJ"),
        # fiona's and rasterio's renamed copies (real names from their 1.10.1 / 1.4.4 wheels)
        ("internal_proj_create", "PROJ"),
        ("internal_geod_direct", "PROJ"),
        ("_ZN5osgeo12internalproj2io12WKTFormatter6createEv", "PROJ"),
        ("_ZTVN5osgeo12internalproj6crs3CRSE", "PROJ"),
        ("GDALOpen", "GDAL"),
        ("sqlite3_open_v2", "SQLite"),
        ("ffi_call", "libffi"),
        ("lzma_code", "xz/lzma"),
        ("BZ2_bzCompress", "bzip2"),
        ("ZSTD_compress", "zstd"),
        ("LZ4_compress_default", "LZ4"),
        ("WebPDecode", "libwebp"),
        ("jpeg_read_header", "libjpeg"),
        ("PyInit_zlib", None),
    ],
)
def test_the_table_recognises_a_library_by_its_names(name: str, family: str | None) -> None:
    found = family_of(name, load_predictors().bundled)
    assert (found.name if found else None) == family


def test_a_copy_needs_min_symbols_and_names_its_files() -> None:
    few = copies(
        "w", [elf("m.so", "inflate", "deflate", "inflate_1.2")], frozenset({"m.so"}), FAMILIES
    )
    assert few == ()  # a version node (inflate_1.2) is not one of the library's names
    elves = [
        elf("w/m.so", "inflate", "SSL_new"),
        elf("w.libs/libz-0a1b2c3d.so.1", "deflate", "crc32"),
    ]
    (copy,) = copies("w", elves, frozenset({"w/m.so"}), FAMILIES)
    assert copy.family == ZLIB and copy.names == {"inflate", "deflate", "crc32"}
    assert copy.libraries == {"libz-0a1b2c3d.so.1"}  # the vendored library, not the module
    assert copy.files_with(frozenset({"crc32"})) == ("libz-0a1b2c3d.so.1",)


def test_collisions_both_ways_and_with_the_system(tmp_path: Path) -> None:
    one = copies(
        "one", [elf("one.so", "inflate", "deflate", "crc32")], frozenset({"one.so"}), FAMILIES
    )
    two = copies(
        "two",
        [elf("two.so", "inflate", "deflate", "crc32", "SSL_new", "EVP_x")],
        frozenset(),
        FAMILIES,
    )
    found = collisions([one, two], [tmp_path])
    pairs = {(c.mine.wheel_id, c.other.wheel_id if c.other else "system") for c in found}
    assert pairs == {("one", "two"), ("two", "one"), ("two", "system")}
    system = next(c for c in found if c.other is None)
    assert system.names == {"SSL_new", "EVP_x"} and system.source.startswith("by name pattern")
    assert system.libraries == {"two.so", "libssl.so.3"}  # two.so is a vendored library here
    zlib = next(c for c in found if c.mine.wheel_id == "one")
    assert zlib.files == {"one.so", "two.so"} and zlib.libraries == {"two.so"}


def test_bad_rows_are_reported_by_key(tmp_path: Path) -> None:
    check = Checker(tmp_path / "predictors.toml")
    doc = {
        "bundled_library": [
            {"name": "x", "patterns": ["(unclosed"], "min_symbols": 0},
            {"name": "y", "patterns": [], "colour": "red"},
            "not a table",
        ]
    }
    assert len(parse_families(check, doc)) == 2
    with pytest.raises(InvalidInputFile) as raised:
        check.raise_if_any()
    text = str(raised.value)
    for key in (
        "bundled_library[0].patterns[0]",
        "bundled_library[0].min_symbols",
        "bundled_library[1].patterns",
        "bundled_library[1].colour",
        "bundled_library[2]",
    ):
        assert key in text, text
    assert "predictors.toml" in text
