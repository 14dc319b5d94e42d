"""An independent check of sequence covering arrays, for the tests.

The generator (harness/scenario/covering.py) tracks the set of ordered t-tuples still uncovered.
This checker works the other way round: for every t-subset of the symbols it reads off, in
each row, the order in which those t symbols appear (by sorting them on their positions in
the row) and requires all t! orders of the subset among the rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence


def missing_orders(
    rows: Sequence[Sequence[str]], symbols: Sequence[str], strength: int
) -> list[tuple[str, ...]]:
    """Every ordered t-sequence of `symbols` that no row shows, as a subsequence."""
    positions = []
    for row in rows:
        assert sorted(row) == sorted(symbols), f"row {row} is not a permutation of {symbols}"
        positions.append({symbol: at for at, symbol in enumerate(row)})
    missing: list[tuple[str, ...]] = []
    for subset in itertools.combinations(symbols, strength):
        shown = {tuple(sorted(subset, key=where.__getitem__)) for where in positions}
        if len(shown) < math.factorial(strength):
            missing += sorted(set(itertools.permutations(subset)) - shown)
    return missing
