"""t-way sequence covering arrays: few import orders in which every order of any t wheels shows.

A sequence covering array SCA(N; t, n) is a list of N permutations of n symbols such that
every ordered choice of t distinct symbols appears, left to right but not necessarily
adjacent, in at least one of them (Kuhn, Higdon, Lawrence, Kacker and Lei, "Combinatorial
Methods for Event Sequence Testing", ICST 2012; Chee, Colbourn, Horsley and Zhou,
"Sequence Covering Arrays", SIAM J. Discrete Math. 27, 2013).

The construction is the greedy one of Kuhn et al.: rows are added in pairs, a permutation
and its reverse (the reverse covers exactly the mirror images of what the permutation
covers, so an order and its reverse are already a 2-way array). Each new pair is the one
covering most still-uncovered t-sequences among seeded random permutations and
permutations grown symbol by symbol, then improved by swapping two symbols while that
covers more; rows that turn out redundant at the end are dropped. Pure and deterministic:
the same (n, t) always gives the same rows.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness import paths
from harness.scenario.tomlload import Checker, read_toml

# Search effort per added pair of rows. Scoring a row costs C(n, t) set look-ups; random
# candidates get about SCORE_BUDGET look-ups in all, swap-climbing runs while one pass of
# it costs at most CLIMB_BUDGET. These keep n = 20, t = 3 to seconds.
GROWN: Final = 8
MIN_RANDOM: Final = 8
MAX_RANDOM: Final = 200
SCORE_BUDGET: Final = 40_000
CLIMB_BUDGET: Final = 250_000


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """How the orders of a wheel set were chosen, for the report."""

    wheels: int
    strength: int | None
    orders: int

    @property
    def permutations(self) -> int:
        return math.factorial(self.wheels)

    def to_json(self) -> dict[str, int | None]:
        return {
            "wheels": self.wheels,
            "strength": self.strength,
            "orders": self.orders,
            "permutations": self.permutations,
            "published_best": self.published_best,
        }

    @property
    def published_best(self) -> int | None:
        return published().best(self.wheels, self.strength) if self.strength else None

    def describe(self) -> str:
        every = f"{self.permutations:,}"
        if self.strength is None or self.orders == self.permutations:
            return f"{self.orders} orders: all {every} permutations of {self.wheels} wheels"
        best = self.published_best
        versus = f"best published {best}" if best else "no published size to compare"
        return (
            f"{self.orders} orders of {every} ({self.wheels}!): a {self.strength}-way sequence "
            f"covering array, every order of any {self.strength} wheels appears ({versus})"
        )


def covering_orders(ids: Sequence[str], strength: int) -> tuple[tuple[str, ...], ...]:
    """Orders of `ids` covering every ordering of every `strength` of them; all n! when
    strength >= n (nothing smaller can cover then)."""
    n = len(ids)
    if strength >= n:
        return tuple(itertools.permutations(ids))
    return tuple(tuple(ids[i] for i in row) for row in sca_rows(n, strength))


@functools.cache
def sca_rows(n: int, strength: int) -> tuple[tuple[int, ...], ...]:
    """A sequence covering array of strength `strength` over range(n), as index rows."""
    if strength < 1 or n < 1:
        raise ValueError(f"need n >= 1 and strength >= 1, got n={n}, strength={strength}")
    identity = tuple(range(n))
    if strength == 1 or n == 1:
        return (identity,)
    if strength >= n:
        return tuple(itertools.permutations(identity))
    uncovered = set(itertools.permutations(identity, strength))
    rows: list[tuple[int, ...]] = []
    rng = random.Random(f"wheelclash-sca-{n}-{strength}")
    best = identity
    while uncovered:
        if rows:
            best = _next_row(n, strength, uncovered, rng)
        for row in (best, best[::-1]):
            rows.append(row)
            uncovered.difference_update(itertools.combinations(row, strength))
    return _drop_redundant(rows, strength)


def _next_row(
    n: int, strength: int, uncovered: set[tuple[int, ...]], rng: random.Random
) -> tuple[int, ...]:
    """The best of some random and some greedily grown candidates, improved by swaps while
    a swap gains; how many of each is bounded by the cost of scoring one row."""
    per_row = math.comb(n, strength)
    candidates = [_grow(n, strength, uncovered, rng) for _ in range(GROWN)]
    for _ in range(max(MIN_RANDOM, min(MAX_RANDOM, SCORE_BUDGET // per_row))):
        shuffled = list(range(n))
        rng.shuffle(shuffled)
        candidates.append(tuple(shuffled))
    best = max(candidates, key=lambda row: _gain(row, strength, uncovered))
    if per_row * math.comb(n, 2) > CLIMB_BUDGET:
        return best
    score = _gain(best, strength, uncovered)
    improved = True
    while improved:
        improved = False
        for i, j in itertools.combinations(range(n), 2):
            swapped = list(best)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            gained = _gain(tuple(swapped), strength, uncovered)
            if gained > score:
                best, score, improved = tuple(swapped), gained, True
    return best


def _gain(row: tuple[int, ...], strength: int, uncovered: set[tuple[int, ...]]) -> int:
    """Uncovered sequences the row and its reverse would cover."""
    return sum(
        (c in uncovered) + (c[::-1] in uncovered) for c in itertools.combinations(row, strength)
    )


def _grow(
    n: int, strength: int, uncovered: set[tuple[int, ...]], rng: random.Random
) -> tuple[int, ...]:
    """One permutation, symbol by symbol, each the one completing most uncovered sequences
    (in the row, ending with it; in the reverse row, starting with it); ties at random."""
    remaining = list(range(n))
    placed: list[int] = [remaining.pop(rng.randrange(n))]
    while remaining:
        scores = []
        for symbol in remaining:
            gained = 0
            for prefix in itertools.combinations(placed, strength - 1):
                forward = (*prefix, symbol)
                gained += (forward in uncovered) + (forward[::-1] in uncovered)
            scores.append(gained)
        top = max(scores)
        choice = rng.choice([s for s, score in zip(remaining, scores, strict=True) if score == top])
        remaining.remove(choice)
        placed.append(choice)
    return tuple(placed)


def _drop_redundant(rows: Sequence[tuple[int, ...]], strength: int) -> tuple[tuple[int, ...], ...]:
    """Without the rows (latest first) whose every sequence another kept row also covers."""
    counts: Counter[tuple[int, ...]] = Counter()
    for row in rows:
        counts.update(itertools.combinations(row, strength))
    kept = list(rows)
    for row in reversed(rows):
        covered = list(itertools.combinations(row, strength))
        if all(counts[c] > 1 for c in covered):
            kept.remove(row)
            counts.subtract(covered)
    return tuple(kept)


def uncovered(rows: Iterable[Sequence[str]], ids: Sequence[str], strength: int) -> int:
    """How many ordered `strength`-sequences of `ids` no row shows (0 for a covering set)."""
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        seen.update(itertools.combinations(row, strength))
    return math.perm(len(ids), strength) - len(seen & set(itertools.permutations(ids, strength)))


@dataclass(frozen=True, kw_only=True)
class Published:
    """Best published sizes, by strength then wheel count (resources/sca_published.toml)."""

    source: str
    sizes: Mapping[int, Mapping[int, int]]

    def best(self, n: int, strength: int) -> int | None:
        return self.sizes.get(strength, {}).get(n)


@functools.cache
def published(path: Path = paths.RESOURCES / "sca_published.toml") -> Published:
    """The shipped table of published sizes, validated on load."""
    document = read_toml(path)
    check = Checker(path)
    check.unknown_keys(document, {"source", "strength"}, "")
    source = check.string(document, "source", "source")
    sizes: dict[int, dict[int, int]] = {}
    for strength, table in check.table(document, "strength", "strength").items():
        key = f"strength.{strength}"
        row = check.table(table, "sizes", f"{key}.sizes") if isinstance(table, dict) else {}
        if not strength.isdigit() or not row:
            check.add(key, "use [strength.<t>] with sizes = { <n> = <rows>, ... }")
            continue
        for n, size in row.items():
            if not n.isdigit() or not isinstance(size, int) or size < 1:
                check.add(f"{key}.sizes.{n}", "wheel counts map to positive row counts")
                continue
            sizes.setdefault(int(strength), {})[int(n)] = size
    check.raise_if_any()
    return Published(source=source, sizes=sizes)
