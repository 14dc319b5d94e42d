"""Which of CPython's own extension modules a wheel can break: those whose library the wheel
carries a copy of and exports (resources/predictors.toml's `[[bundled_library]]` families and
their `users`: rasterio's OpenSSL 3.6 for `_ssl` and `_hashlib`, its liblzma for `_lzma`).
Loaded RTLD_GLOBAL, the copy's names bind the references of such a module loaded after it.

Screening (harness/run/screen.py) reads it to know which pairs a victim's module loaded early
can mend: a pair can break only the modules one of its two wheels exposes. Read from the scan
cache (harness/analysis/scancache.py), keeping only the names of the families, so a wheel with
10⁵ exported names costs little memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.analysis.bundled import LibraryFamily, carried, copies
from harness.analysis.elfscan import with_names
from harness.analysis.scancache import Opened, read_with


def users(family: LibraryFamily) -> frozenset[str]:
    """The CPython modules of a family's `users` ("_ssl, _hashlib")."""
    return frozenset(name.strip() for name in family.users.split(",") if name.strip())


def exposed(path: Path, sha256: str, families: Sequence[LibraryFamily]) -> frozenset[str]:
    """The CPython modules whose library the wheel at `path` carries a copy of."""
    table = tuple(families)
    family = carried(table)

    def users_of(opened: Opened) -> frozenset[str]:
        elves = [
            with_names(facts, (n for n in names if family(n.name))) for facts, names in opened.files
        ]
        found = copies(path.name, elves, opened.modules, table)
        return frozenset().union(*(users(copy.family) for copy in found))

    return read_with(path, sha256, users_of)
