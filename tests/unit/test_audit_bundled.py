"""Which bundled libraries the audit names, and which it flags as colliding."""

from __future__ import annotations

import pytest

from harness.build.audit import bundled_libraries, bundled_note


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["m.abi3.so", "m-1.0.dist-info/RECORD"], []),
        (["m.abi3.so", "m.libs/libfoo.so.1"], ["libfoo.so.1"]),
        (
            ["m.cpython-311-x86_64-linux-gnu.so", "m.libs/libfoo-6b597bf1.so.1"],
            ["libfoo-6b597bf1.so.1"],
        ),
        (
            ["pkg/_native.abi3.so", "pkg.libs/libbar.so", "pkg.libs/libfoo.so.1.2"],
            ["libbar.so", "libfoo.so.1.2"],
        ),
    ],
)
def test_bundled_libraries(names: list[str], expected: list[str]) -> None:
    assert bundled_libraries(names) == expected


def test_note_flags_only_unhashed_sonames() -> None:
    assert bundled_note([]) == ""
    hashed = bundled_note(["libfoo-6b597bf1.so.1"])
    assert hashed == "; bundles libfoo-6b597bf1.so.1"
    plain = bundled_note(["libfoo.so.1"])
    assert plain.startswith("; bundles libfoo.so.1 (libfoo.so.1 not under a hashed name")
