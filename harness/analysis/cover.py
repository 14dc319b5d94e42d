"""Screening's search in one dlopen mode: the failing wheels and ordered pairs of a group,
found by running sequences that cover the pairs not yet shown clean, and bisecting those that
fail.

Pure: the runs are passed in (`test(part) -> Answer`). The atlas's screening
(harness/run/screen.py) runs each part as one cell, its wheels imported in the part's order.

The model is the one group testing of pairs assumes: a sequence of wheels fails when it holds
a wheel that fails alone (a *singleton*) or an ordered pair (a before b) that fails, and only
then. What is known of a mode's pairs, across groups, is a `Ledger`: the ordered pairs shown
clean (each was in a sequence that passed), those found failing, the singletons, and the
wheels seen passing alone.

`cover` runs, while some ordered pair of the group is neither clean nor failing, the sequence
`sequence` builds: as many of those pairs as it can hold, with no failing pair in it (b
before a where only (a, b) fails; one of the two left out where both orders do). A sequence
that passes shows its pairs clean. One that fails is bisected: its shortest failing prefix
(from the wheel the failing step belongs to, when the probe names one), whose last wheel y
is in the failure; then the shortest part of the wheels before y that fails with y last, whose
last wheel is x: the pair (x, y), or y alone when none is needed. Each failure costs about
two binary searches; a sequence holds no failure already found, so none hides another.

In global-first only a sequence's first wheel is RTLD_GLOBAL, and a pair (f, y) of that mode
is f first. `cover_first` covers, for each wheel f, its pairs (f, y) by sequences f then
others, the others loaded locally, so holding no failing local pair or local singleton
(local mode's ledger) and no wheel that fails alone when global (its pairs are its partner
search's); the prefix search keeps f first, and y is confirmed failing behind f alone, else
the part (f, x, y) is unexplained: it needs three wheels, or f global.

A singleton fails every sequence holding it, so its pairs are searched by how it fails
(`partners`, the caller judging a run failed when it fails otherwise than the wheel alone):
the others loaded before it, then after it, each failing part bisected with it kept in place.
What the model cannot see: a wheel that mends or masks another pair's failure. One way it is
seen: CPython's own modules that the victims' step uses after the wheels (`_ssl`), a wheel
in the cell may load first, where the pair alone would load them after its two (rasterio
then an `ssl` context segfaults behind lightgbm, global-all; with scikit-learn imported
before rasterio, by itself or by lightgbm's import, which imports it when installed, it
passes). Given what each wheel's import loads alone and which modules each wheel's bundled
libraries can break (`Victims`), and what each step of a cell loaded first (`Answer.loaded`),
a passing cell of the global modes shows (x, y) clean only when nothing before y loaded a
module that x or y can break and neither loads itself; the wheels that load fewer go first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

Part = tuple[str, ...]
Pair = tuple[str, str]
Modules = frozenset[str]


@dataclass(frozen=True)
class Answer:
    """What a run of a part showed: whether it failed (as the caller judges), and the wheel
    whose import or exercise step it failed at (None: elsewhere, or passed); `loaded`: the
    wheels whose import loaded CPython's modules first, with those (None: not known)."""

    failed: bool
    at: str | None = None
    loaded: tuple[tuple[str, Modules], ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Victims:
    """What each wheel's import loads of CPython's modules the victims' step uses, run
    alone (`loads`), and which of them its bundled libraries can break (`exposed`,
    harness/analysis/exposure.py). A wheel not named loads none and exposes none."""

    loads: Mapping[str, Modules] = field(default_factory=dict)
    exposed: Mapping[str, Modules] = field(default_factory=dict)

    def load(self, wheel: str) -> Modules:
        return self.loads.get(wheel, frozenset())

    def masks(self, part: Part, a: int, b: int, answer: Answer) -> bool:
        """Whether a passing `part` says nothing of the pair (part[a], part[b]): something
        before part[b] loaded a module that one of the two can break and neither loads (the
        pair alone would load it after both). Two wheels alone are the pair itself."""
        if len(part) <= 2:
            return False
        x, y = part[a], part[b]
        breakable = self.exposed.get(x, frozenset()) | self.exposed.get(y, frozenset())
        if not breakable:
            return False
        if answer.loaded is None:
            present = frozenset().union(*(self.load(w) for w in part[:b]))
        else:
            before = set(part[:b])
            present = frozenset().union(*(m for w, m in answer.loaded if w in before))
        return bool((present - self.load(x) - self.load(y)) & breakable)

    def order(self, wheels: Iterable[str]) -> list[str]:
        """`wheels` in an order that masks few pairs behind a first wheel: those exposing
        modules first (only their pairs can be masked behind a first wheel that exposes
        none), those loading what fewer of the others expose ahead of the rest; then the
        others, those that load fewer of the modules first; in their order otherwise."""
        items = list(wheels)
        exposing = [w for w in items if self.exposed.get(w)]

        def masking(w: str) -> int:
            return sum(bool((self.load(w) - self.load(o)) & self.exposed[o]) for o in exposing)

        def key(w: str) -> tuple[int, int, int]:
            if self.exposed.get(w):
                return (0, masking(w), len(self.load(w)))
            return (1, 0, len(self.load(w)))

        return sorted(items, key=key)


Test = Callable[[Part], Answer]


@dataclass(frozen=True, kw_only=True)
class Ledger:
    """What is known of one mode's ordered pairs and wheels so far."""

    clean: frozenset[Pair] = frozenset()
    bad: frozenset[Pair] = frozenset()
    singles: frozenset[str] = frozenset()
    # wheels that passed alone: not singletons (one that passes in a part may have been mended
    # by a wheel before it)
    passed: frozenset[str] = frozenset()

    def __or__(self, other: Ledger) -> Ledger:
        return Ledger(
            clean=self.clean | other.clean,
            bad=self.bad | other.bad,
            singles=self.singles | other.singles,
            passed=self.passed | other.passed,
        )


@dataclass(frozen=True, kw_only=True)
class Split:
    """What the search of one group in one mode found, and what it cost."""

    singletons: tuple[str, ...] = ()
    pairs: tuple[Pair, ...] = ()  # as loaded: the first wheel before the second
    unexplained: tuple[Part, ...] = ()  # failing parts with no failing singleton or pair
    tests: tuple[Part, ...] = ()  # the parts run, in the order run
    covering: tuple[Part, ...] = ()  # those of `tests` that were covering sequences
    learned: Ledger = field(default_factory=Ledger)

    @property
    def failed(self) -> bool:
        return bool(self.singletons or self.pairs or self.unexplained)

    @property
    def splits(self) -> int:
        """The parts run beyond the covering sequences: the bisections."""
        return len(self.tests) - len(self.covering)


def ordered_pairs(part: Part) -> set[Pair]:
    return set(itertools.combinations(part, 2))


def sequence(wheels: Sequence[str], todo: AbstractSet[Pair], bad: AbstractSet[Pair]) -> Part:
    """A sequence of some of `wheels` holding many pairs of `todo` and none of `bad`: each
    wheel with pairs to do, most first, inserted where it adds the most (the last such place),
    or left out where every place would hold a failing pair. At least one pair of `todo` when
    `todo` is not empty."""
    count = {w: 0 for w in wheels}
    for a, b in todo:
        count[a] += 1
        count[b] += 1
    seq: list[str] = []
    for w in sorted(wheels, key=lambda w: -count[w]):
        if not count[w]:
            continue
        best: tuple[int, int] | None = None
        for pos in range(len(seq) + 1):
            before, after = seq[:pos], seq[pos:]
            if any((x, w) in bad for x in before) or any((w, y) in bad for y in after):
                continue
            gain = sum((x, w) in todo for x in before) + sum((w, y) in todo for y in after)
            if best is None or gain >= best[0]:
                best = (gain, pos)
        if best is not None:
            seq.insert(best[1], w)
    part = tuple(seq)
    if todo and not ordered_pairs(part) & todo:
        return min(todo, key=lambda p: (wheels.index(p[0]), wheels.index(p[1])))
    return part


def arrange(wheels: Sequence[str], bad: AbstractSet[Pair]) -> Part:
    """`wheels` in their order, each placed as late as holds no pair of `bad` (left out when
    no place does)."""
    seq: list[str] = []
    for w in wheels:
        for pos in range(len(seq), -1, -1):
            if not any((x, w) in bad for x in seq[:pos]) and not any(
                (w, y) in bad for y in seq[pos:]
            ):
                seq.insert(pos, w)
                break
    return tuple(seq)


@dataclass
class _Search:
    test: Test
    ledger: Ledger
    tests: list[Part] = field(default_factory=list)
    answers: dict[Part, Answer] = field(default_factory=dict)
    clean: set[Pair] = field(default_factory=set)
    bad: set[Pair] = field(default_factory=set)
    singles: set[str] = field(default_factory=set)
    passed: set[str] = field(default_factory=set)
    blocked: set[Pair] = field(default_factory=set)  # pairs of unexplained parts
    singletons: list[str] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    unexplained: list[Part] = field(default_factory=list)
    covering: list[Part] = field(default_factory=list)
    judge_passed: bool = True  # a wheel that passes alone is not a singleton

    def __post_init__(self) -> None:
        self.clean |= self.ledger.clean
        self.bad |= self.ledger.bad
        self.singles |= self.ledger.singles
        self.passed |= self.ledger.passed

    def run(self, part: Part) -> Answer:
        if part not in self.answers:
            self.tests.append(part)
            self.answers[part] = self.test(part)
            if self.judge_passed and len(part) == 1 and not self.answers[part].failed:
                self.passed |= set(part)
        return self.answers[part]

    def cover(self, part: Part) -> Answer:
        """`run`, for a covering sequence: counted as one when it is run now (a part run
        before, in a bisection, is answered from memory)."""
        if part not in self.answers:
            self.covering.append(part)
        return self.run(part)

    def fails(self, part: Part) -> bool:
        return self.run(part).failed

    def shortest(self, head: Part, items: Part, tail: Part, lo: int, known: Answer) -> int:
        """The smallest j >= lo such that head + items[:j] + tail fails (that with j =
        len(items) does: `known`)."""
        hi = len(items)
        if known.at in items and lo <= items.index(known.at) + 1 <= hi:
            # the failing step was this wheel's: a prefix up to it likely fails
            j = items.index(known.at) + 1
            if j == hi or self.fails((*head, *items[:j], *tail)):
                hi = j
            else:
                lo = j + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.fails((*head, *items[:mid], *tail)):
                hi = mid
            else:
                lo = mid + 1
        return hi

    def alone_fails(self, wheel: str) -> bool:
        """Whether `wheel` fails alone (run alone unless it passed alone before); when it
        does it is added to the singletons."""
        if wheel in self.passed or wheel in self.singles:
            return wheel in self.singles
        if self.fails((wheel,)):
            self.add_single(wheel)
            return True
        return False

    def add_pair(self, pair: Pair) -> None:
        self.bad.add(pair)
        self.pairs.append(pair)

    def add_single(self, wheel: str) -> None:
        self.singles.add(wheel)
        self.singletons.append(wheel)

    def add_unexplained(self, part: Part) -> None:
        self.unexplained.append(part)
        self.blocked |= ordered_pairs(part)

    def diagnose(self, seq: Part, answer: Answer) -> None:
        """A failing sequence's failure: its shortest failing prefix, ending at y; then the
        shortest part of the wheels before it that fails with y last, ending at x."""
        k = self.shortest((), seq, (), 1, answer)
        y, before = seq[k - 1], seq[: k - 1]
        # y alone first: a wheel loaded before it may mend it, which would lead the search
        # below to some wheel before it that does not
        if not before:
            self.add_single(y)
            return
        if self.alone_fails(y):
            return
        j = self.shortest((), before, (y,), 1, Answer(True))
        x = before[j - 1]
        if self.alone_fails(x):
            return
        if j > 1 and not self.fails((x, y)):
            self.add_unexplained((*before[:j], y))
            return
        self.add_pair((x, y))

    def result(self) -> Split:
        learned = Ledger(
            clean=frozenset(self.clean - self.ledger.clean),
            bad=frozenset(self.bad - self.ledger.bad),
            singles=frozenset(self.singles - self.ledger.singles),
            passed=frozenset(self.passed - self.ledger.passed),
        )
        return Split(
            singletons=tuple(self.singletons),
            pairs=tuple(self.pairs),
            unexplained=tuple(self.unexplained),
            tests=tuple(self.tests),
            covering=tuple(self.covering),
            learned=learned,
        )


def cover(wheels: Sequence[str], test: Test, ledger: Ledger = Ledger()) -> Split:
    """Every failing singleton and ordered pair of `wheels` not in `ledger`, in a mode where
    each wheel of a part is loaded the same way (local, global-all)."""
    search = _Search(test=test, ledger=ledger)
    items = list(wheels)
    while True:
        live = [w for w in items if w not in search.singles]
        done = search.clean | search.bad | search.blocked
        todo = {(a, b) for a in live for b in live if a != b and (a, b) not in done}
        if not todo:
            break
        seq = sequence(live, todo, search.bad | search.blocked)
        answer = search.cover(seq)
        if answer.failed:
            search.diagnose(seq, answer)
        else:
            search.clean |= ordered_pairs(seq)
    return search.result()


def cover_first(
    wheels: Sequence[str],
    test: Test,
    ledger: Ledger = Ledger(),
    *,
    local: Ledger = Ledger(),
    same: bool = False,
    victims: Victims | None = None,
) -> Split:
    """Every failing singleton (a wheel failing alone, first) and ordered pair (f, y) of
    `wheels` not in `ledger`, by sequences f then others, so that nothing is loaded before f.
    In global-first the others are loaded locally: `local` is local mode's ledger, whose
    failing pairs and singletons are kept out of them. With `same` (global-all) they are
    loaded as f is, and the mode's own failing pairs are kept out of them; a failure behind
    f that f is not needed for is the pair of two of them. With `victims`, the others are in
    `Victims.order`, and a passing sequence shows (f, y) clean unless `Victims.masks` says
    it says nothing of it; when it shows no pair, f runs with the first such y alone."""
    victims = victims or Victims()
    search = _Search(test=test, ledger=ledger)
    for f in wheels:
        stuck = False
        while f not in search.singles:
            done = search.clean | search.bad | search.blocked
            out = local.singles | search.singles
            todo = [y for y in wheels if y != f and (f, y) not in done and y not in out]
            avoid = local.bad | (search.bad if same else set())
            rest = arrange(victims.order(todo), avoid | {p for p in search.blocked if f not in p})
            if not rest:
                break
            if stuck:  # a sequence of f showed no pair: f and one of them at a time do
                rest = rest[:1]
            seq = (f, *rest)
            answer = search.cover(seq)
            if not answer.failed:
                shown = {(f, y) for i, y in enumerate(seq[1:], 1)
                         if not victims.masks(seq, 0, i, answer)}  # fmt: skip
                search.clean |= shown
                stuck = stuck or not shown
                continue
            k = search.shortest((f,), rest, (), 0, answer)
            if k == 0:
                search.add_single(f)
                break
            y, between = rest[k - 1], rest[: k - 1]
            if search.alone_fails(y):
                continue  # a singleton: its pairs are its partner search's
            if not between or search.fails((f, y)):
                search.add_pair((f, y))
                continue
            j = search.shortest((f,), between, (y,), 1, Answer(True))
            x = between[j - 1]
            if search.alone_fails(x):
                continue
            if same and search.fails((x, y)):
                search.add_pair((x, y))
            else:
                search.add_unexplained((f, x, y))
    return search.result()


def partners(
    wheel: str,
    others: Sequence[str],
    test: Test,
    ledger: Ledger = Ledger(),
    *,
    first: bool = False,
    avoid: Iterable[Pair] = (),
    victims: Victims | None = None,
) -> Split:
    """The pairs of a `wheel` that fails alone, with the wheels of `others`: parts of them
    run with it, `test` judging a run failed when it fails otherwise than `wheel` alone.
    Each part is run after it and before it; a failing part's shortest failing prefix ends at
    its partner. In global-first (`first`) the part after it is loaded locally behind it, the
    global one; before it, each other wheel is the global first one, so each is run with it
    on its own. `ledger`: the mode's, whose failing pairs no part holds; `avoid`: more such
    pairs (global-first: local mode's); `victims`: as `cover_first`'s."""
    victims = victims or Victims()
    search = _Search(test=test, ledger=ledger, judge_passed=False)
    bad = set(ledger.bad) | set(avoid)
    if first:
        # behind another wheel, that one first and global: a cell of the two each
        for other in others:
            behind = (other, wheel)
            if other == wheel or behind in search.clean | search.bad:
                continue
            if search.cover(behind).failed:
                search.add_pair(behind)
            else:
                search.clean.add(behind)
    for side in ("after",) if first else ("after", "before"):
        head, tail = ((wheel,), ()) if side == "after" else ((), (wheel,))

        def pair(other: str, side: str = side) -> Pair:
            return (wheel, other) if side == "after" else (other, wheel)

        stuck = False
        while True:
            done = search.clean | search.bad
            todo = [w for w in others if w != wheel and pair(w) not in done]
            rest = arrange(victims.order(todo), bad)
            if not rest:
                break
            if stuck:  # a part showed no pair: one of them at a time with it does
                rest = rest[:1]
            part = (*head, *rest, *tail)
            answer = search.cover(part)
            if not answer.failed:
                at = part.index(wheel)
                shown = {
                    pair(w)
                    for i, w in enumerate(part)
                    if w != wheel and not victims.masks(part, min(i, at), max(i, at), answer)
                }
                search.clean |= shown
                stuck = stuck or not shown
                continue
            # the shortest failing part, in order: its last wheel is the partner
            k = search.shortest(head, rest, tail, 1, answer)
            search.add_pair(pair(rest[k - 1]))
    return search.result()
