"""Adaptive splitting of a failing group: every failing wheel and failing pair in it, found by
testing parts of it.

Pure: the test is passed in (`fails(part) -> bool`, a part being some of the group's wheels
in the group's order). The atlas's screening (harness/run/screen.py) tests with real cells:
the part imported in the group's order and in its reverse.

The model is the one group testing of pairs assumes: a set of wheels fails when it holds a
failing wheel (a *singleton*) or a failing pair, and only then. Under it the search is
complete: a failing set is halved and each half searched; then the pairs across the halves
are searched in parts of each half that hold none of the failures found (so a failure found
in one half can hide no pair across them); a part crossed with another is halved, the larger
side first, until one wheel faces one wheel. A set that fails when no singleton or pair in it
does is returned as *unexplained*: a failure that needs three or more wheels, or a flake.
What the model cannot see: a wheel that hides another pair's failure (loading it first
mends or masks the pair), so a set holding that pair passes.

A wheel that fails alone (a singleton) fails in every set holding it, so the search above
says nothing of its pairs. `partners` searches them by how it fails instead: a set of other
wheels loaded with it is a *partner* part when the runs fail in some way it does not fail
alone (the attribution's signature: verdict at step), as when a wheel loaded beside it moves
its crash from one victim to another. That is the same test the atlas's attribution makes
of a failing pair cell.

In mode global-first a wheel's role depends on its place: the first wheel of a part is
loaded RTLD_GLOBAL, the others after it RTLD_LOCAL, and the failing pair (w, x) is w first
and global, then x (x after w local: the pair cell (w, x) of that mode). `split_first`
tests each wheel w first with the others after it; a failing one is split keeping w first:
w alone (w fails alone, global), else the others are searched as above, w loaded before
each of their parts, so that a wheel x failing there is the ordered pair (w, x).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from harness.scenario.screen_groups import first_order

Part = tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Split:
    """What the splitting of one group found, and what it cost."""

    singletons: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]  # each in the group's order
    unexplained: tuple[Part, ...]  # failing sets with no failing singleton or pair in them
    tests: tuple[Part, ...]  # the parts tested, in the order tested (the group's own first)
    own: int = 1  # how many of `tests` are the group's own (global-first: one per wheel)

    @property
    def failed(self) -> bool:
        return bool(self.singletons or self.pairs or self.unexplained)

    @property
    def splits(self) -> int:
        """The parts tested beyond the group's own."""
        return max(len(self.tests) - self.own, 0)


@dataclass
class _Search:
    order: dict[str, int]
    test: Callable[[Part], bool]
    known: tuple[frozenset[str], ...]
    singletons: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    unexplained: list[Part] = field(default_factory=list)
    tests: list[Part] = field(default_factory=list)
    answers: dict[Part, bool] = field(default_factory=dict)

    def part(self, items: Iterable[str]) -> Part:
        return tuple(sorted(set(items), key=self.order.__getitem__))

    def defects(self) -> list[frozenset[str]]:
        return [
            *self.known,
            *(frozenset({s}) for s in self.singletons),
            *(frozenset(p) for p in self.pairs),
        ]

    def fails(self, items: Iterable[str]) -> bool:
        """A part holding a failure already found fails without a run; others are tested
        (once each)."""
        part = self.part(items)
        held = set(part)
        if any(d <= held for d in self.defects()):
            return True
        if part not in self.answers:
            self.tests.append(part)
            self.answers[part] = self.test(part)
        return self.answers[part]

    def search(self, items: Part, failing: bool) -> None:
        """Every failure inside `items`, known to fail when `failing`."""
        if not failing and not self.fails(items):
            return
        if len(items) == 1:
            if frozenset(items) not in self.known:
                self.singletons.append(items[0])
            return
        marked = len(self.unexplained)
        first, second = _halves(items)
        self.search(first, False)
        self.search(second, False)
        self.across(first, second)
        self.explain(items, marked)

    def explain(self, items: Part, marked: int) -> None:
        """`items` failed: unexplained when no failure found (or known) is in it and none of
        its parts was marked unexplained since `marked`."""
        held = set(items)
        if len(self.unexplained) == marked and not any(d <= held for d in self.defects()):
            self.unexplained.append(self.part(items))

    def across(self, first: Part, second: Part) -> None:
        """Every failing pair with one wheel in `first` and one in `second`, searched in parts
        of each free of the failures found so far."""
        for left in self.clean_parts(first):
            for right in self.clean_parts(second):
                self.cross(left, right, False)

    def clean_parts(self, items: Part) -> list[Part]:
        """`items` without its failing singletons, dealt greedily into as few parts as hold no
        failing pair found."""
        bad = {next(iter(d)) for d in self.defects() if len(d) == 1}
        pairs = [d for d in self.defects() if len(d) == 2]
        parts: list[list[str]] = []
        for item in items:
            if item in bad:
                continue
            for part in parts:
                if not any(d <= {*part, item} for d in pairs):
                    part.append(item)
                    break
            else:
                parts.append([item])
        return [tuple(p) for p in parts]

    def cross(self, left: Part, right: Part, failing: bool) -> None:
        if not failing and not self.fails((*left, *right)):
            return
        if len(left) == 1 and len(right) == 1:
            found = self.part((*left, *right))
            if frozenset(found) not in self.known:
                self.pairs.append((found[0], found[1]))
            return
        marked = len(self.unexplained)
        if len(left) >= len(right):
            one, two = _halves(left)
            self.cross(one, right, False)
            self.cross(two, right, False)
        else:
            one, two = _halves(right)
            self.cross(left, one, False)
            self.cross(left, two, False)
        self.explain((*left, *right), marked)


def _halves(items: Part) -> tuple[Part, Part]:
    middle = (len(items) + 1) // 2
    return items[:middle], items[middle:]


def split_group(
    group: Sequence[str],
    fails: Callable[[Part], bool],
    *,
    known: Iterable[Iterable[str]] = (),
    failing: bool = False,
) -> Split:
    """The failing singletons and pairs of `group`, found by testing parts of it with
    `fails` (each part at most once; a part holding a failure already found, or one of
    `known`, counts as failing without a test). `failing`: the group is known to fail, so
    its own test is skipped."""
    search = _Search(
        order={item: index for index, item in enumerate(group)},
        test=fails,
        known=tuple(frozenset(k) for k in known),
    )
    items = tuple(group)
    if failing:
        search.answers[items] = True
    if items:
        search.search(items, failing)
    return Split(
        singletons=tuple(search.singletons),
        pairs=tuple(search.pairs),
        unexplained=tuple(search.unexplained),
        tests=tuple(search.tests),
        own=1 if search.tests[:1] == [items] else 0,
    )


def split_first(
    group: Sequence[str],
    fails: Callable[[Part], bool],
    *,
    known: Iterable[Sequence[str]] = (),
    known_local: Iterable[Iterable[str]] = (),
    behind: Iterable[str] = (),
) -> Split:
    """global-first: the failing singletons (a wheel failing alone, loaded first and global)
    and ordered pairs (w, x) of `group`, found by testing with `fails` parts whose first
    wheel is the global one: for each wheel w, w then the others in the group's order; where
    that fails, w alone, and when w alone passes, the others searched with `split_group`, w
    loaded before each of their parts. A failing pair or unexplained part in that search
    comes back as the unexplained part (w, ...): it needs w global, or three wheels.

    `known`: ordered failures found before in this mode, (w,) or (w, x). `known_local`:
    wheels and pairs that fail loaded RTLD_LOCAL (local mode's), which fail wherever they
    come after the global wheel. A part holding either fails without a test. `behind`:
    wheels left out of every part after the global wheel (the caller tries each of them
    behind each first wheel on its own); they are still tried first."""
    items = tuple(group)
    left_out = set(behind)
    first_known = [tuple(k) for k in known]
    local = [frozenset(k) for k in known_local]
    singletons: list[str] = []
    pairs: list[tuple[str, str]] = []
    unexplained: list[Part] = []
    tests: list[Part] = []
    answers: dict[Part, bool] = {}
    own = 0

    def test(part: Part) -> bool:
        if part not in answers:
            tests.append(part)
            answers[part] = fails(part)
        return answers[part]

    for first in items:
        if (first,) in first_known:
            continue  # every part with it first fails: nothing to learn here
        rest = tuple(w for w in first_order(items, first)[1:] if w not in left_out)
        held = set(rest)
        inner: list[tuple[str, ...]] = [
            (k[1],) for k in first_known if len(k) == 2 and k[0] == first and k[1] in held
        ]
        inner += [tuple(k) for k in local if k <= held]
        if not inner:
            own += 1
            if not test((first, *rest)):
                continue
        if test((first,)):
            singletons.append(first)
            continue

        def after(part: Part, first: str = first) -> bool:
            return test((first, *part))

        found = split_group(rest, after, known=inner, failing=True)
        pairs += [(first, x) for x in found.singletons]
        unexplained += [(first, *p) for p in (*found.pairs, *found.unexplained)]
    return Split(
        singletons=tuple(singletons),
        pairs=tuple(pairs),
        unexplained=tuple(unexplained),
        tests=tuple(tests),
        own=own,
    )


def partners(
    wheel: str,
    others: Sequence[str],
    fails_as: Callable[[Part], frozenset[Hashable]],
    alone: frozenset[Hashable],
    *,
    known: Iterable[Iterable[str]] = (),
) -> Split:
    """The pairs (wheel, x) of a `wheel` that fails alone, for x in `others`: the parts of
    `others` whose runs with `wheel` (`fails_as(part)`: the signatures of the runs that
    failed) fail in a way outside `alone`, its signatures alone, searched with
    `split_group`. Two wheels of `others` that do it only together come back as the
    unexplained part (wheel, x, y). `known`: failures among `others` (of this mode), which
    would fail their parts whatever `wheel` does; a part holding one is searched, not run.
    `tests` are the parts of `others` tested."""

    def differs(part: Part) -> bool:
        return bool(fails_as(part) - alone)

    found = split_group(others, differs, known=known)
    return Split(
        singletons=(),
        pairs=tuple((wheel, x) for x in found.singletons),
        unexplained=tuple((wheel, *p) for p in (*found.pairs, *found.unexplained)),
        tests=found.tests,
        own=found.own,
    )
