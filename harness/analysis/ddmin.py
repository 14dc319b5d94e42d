"""Delta debugging: a smallest failing subsequence of a sequence, found by testing parts of it.

Pure: the test is passed in. `wheelclash minimize` (harness/run/minimize.py) and attribution
(harness/analysis/attribution.py) test with real cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def ddmin(items: Sequence[str], fails: Callable[[tuple[str, ...]], bool]) -> tuple[str, ...]:
    """Zeller's ddmin: a 1-minimal subsequence of `items` (relative order kept) that fails."""
    current = tuple(items)
    chunks = 2
    while len(current) >= 2:
        size = -(-len(current) // chunks)
        parts = [current[i : i + size] for i in range(0, len(current), size)]
        for part in parts:
            if fails(part):
                current, chunks = part, 2
                break
        else:
            for part in parts:
                rest = tuple(x for x in current if x not in part)
                if rest and fails(rest):
                    current, chunks = rest, max(chunks - 1, 2)
                    break
            else:
                if chunks >= len(current):
                    break
                chunks = min(len(current), chunks * 2)
    return current
