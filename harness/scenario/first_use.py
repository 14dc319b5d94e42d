"""First-use order, an axis apart from import order: in which order the exercises run.

Several mechanisms depend on which module uses the shared runtime first, not on which one
was imported first. `[matrix] first_use` lists modes: `import` (the default: exercises run
in import order), `reverse` (reverse import order) and `every` (every order of the wheels
that have an exercise). A cell whose use order is its import order keeps the id it always
had; any other gets a `use:<ids>` segment (harness/common/ids.py). Pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from enum import StrEnum
from typing import Final, assert_never


class FirstUse(StrEnum):
    IMPORT = "import"
    REVERSE = "reverse"
    EVERY = "every"


DEFAULT: Final = (FirstUse.IMPORT,)


def _orders_for(mode: FirstUse, in_import_order: tuple[str, ...]) -> list[tuple[str, ...]]:
    match mode:
        case FirstUse.IMPORT:
            return [in_import_order]
        case FirstUse.REVERSE:
            return [tuple(reversed(in_import_order))]
        case FirstUse.EVERY:
            return list(itertools.permutations(in_import_order))
        case _:
            assert_never(mode)


def use_orders(
    modes: Sequence[FirstUse], order: Sequence[str], exercised: Sequence[str]
) -> tuple[tuple[str, ...], ...]:
    """The distinct use orders of one import order; () stands for "as imported".

    `exercised` are the wheel ids that have an exercise; only they are used.
    """
    in_import_order = tuple(w for w in order if w in set(exercised))
    seen: dict[tuple[str, ...], None] = {}
    for mode in modes:
        for use in _orders_for(mode, in_import_order):
            seen[() if use == in_import_order else use] = None
    return tuple(seen)
