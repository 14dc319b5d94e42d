"""Expand a scenario into cells. Pure: the same scenario and targets give the same cells."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import assert_never

from harness.common.ids import CellId, LogicalId, Variant, global_wheels
from harness.common.verdicts import FailureKind, ImportErrorKind, Verdict
from harness.scenario.covering import Coverage, covering_orders
from harness.scenario.first_use import use_orders
from harness.scenario.load import HOST_TARGET, Expectation, OrderMode, Scenario, Selector


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One fresh interpreter: a wheel order under one target, arch, dlopen and host mode."""

    scenario: str
    target: str
    arch: str
    dlopen: str
    host: str
    order: tuple[str, ...]
    repeat: int
    variant: Variant = field(default_factory=Variant)
    use: tuple[str, ...] = ()  # the exercises' order when it differs from `order`

    @property
    def target_slug(self) -> str:
        if self.target == HOST_TARGET:
            return HOST_TARGET
        return f"{self.target.replace(':', '-').replace('/', '-')}-{self.arch}"

    @property
    def cell_id(self) -> CellId:
        """The cell's id, typed; `id` is its spelling (harness/common/ids.py)."""
        return CellId(
            logical=LogicalId(
                scenario=self.scenario,
                place=self.target_slug,
                variant=self.variant,
                dlopen=self.dlopen,
                host=self.host,
                order=self.order,
                use=self.use,
            ),
            repeat=self.repeat,
        )

    @property
    def group(self) -> str:
        """Cells that share one environment (venv or container) share this key."""
        return self.cell_id.group

    @functools.cached_property
    def id(self) -> str:
        """The id's spelling, kept: results, node ids and batches look cells up by it."""
        return str(self.cell_id)

    @property
    def use_order(self) -> tuple[str, ...]:
        """The order of first use: `use`, or the import order when that is empty."""
        return self.use or self.order

    def global_ids(self) -> frozenset[str]:
        """Wheels whose module is loaded with RTLD_GLOBAL in this cell."""
        return global_wheels(self.dlopen, self.order)


@dataclass(frozen=True, kw_only=True)
class Expected:
    verdict: Verdict
    subkind: ImportErrorKind | None = None
    reason: str = ""

    def matches(self, verdict: Verdict, subkind: ImportErrorKind | None) -> bool:
        if verdict != self.verdict:
            return False
        return self.subkind is None or self.subkind == subkind

    def __str__(self) -> str:
        return f"{self.verdict}:{self.subkind}" if self.subkind else str(self.verdict)


def orders(
    ids: Sequence[str], mode: OrderMode = OrderMode.ALL, cover: int | None = None
) -> tuple[tuple[str, ...], ...]:
    """The import orders of the wheel set: every one (n! of them), both orders of every pair
    (n·(n-1)), or a `cover`-way sequence covering array of them."""
    match mode:
        case OrderMode.ALL:
            return tuple(itertools.permutations(ids))
        case OrderMode.PAIRS:
            return tuple(itertools.permutations(ids, 2))
        case OrderMode.COVER:
            assert cover is not None, "orders = cover needs a strength"
            return covering_orders(ids, cover)
        case _:
            assert_never(mode)


def coverage(scenario: Scenario) -> Coverage:
    """How many orders the scenario runs, against n!."""
    ids = scenario.wheel_ids
    matrix = scenario.matrix
    count = len(orders(ids, matrix.orders, matrix.cover))
    return Coverage(wheels=len(ids), strength=matrix.cover, orders=count)


def plan(
    scenario: Scenario,
    *,
    targets: Sequence[str] | None = None,
    arches: Sequence[str] | None = None,
) -> tuple[Cell, ...]:
    """All cells: target × arch × variant × dlopen × host × order × use × repeat, in that
    nesting; with `[matrix] singletons`, each mode's orders begin with each wheel alone."""
    return tuple(iter_plan(scenario, targets=targets, arches=arches))


def singleton_orders(scenario: Scenario) -> tuple[tuple[str, ...], ...]:
    """The one-wheel orders `[matrix] singletons` adds: each wheel alone, in the scenario's
    wheel order. Empty for a one-wheel set, whose only order is already that wheel alone."""
    ids = scenario.wheel_ids
    if not scenario.matrix.singletons or len(ids) < 2:
        return ()
    return tuple((wheel_id,) for wheel_id in ids)


def iter_plan(
    scenario: Scenario,
    *,
    targets: Sequence[str] | None = None,
    arches: Sequence[str] | None = None,
) -> Iterator[Cell]:
    """The cells of `plan`, one at a time; the orders are worked out once. A singleton (a
    one-wheel order) uses its wheel as imported, so it has no first-use order of its own;
    its id cannot be a real order's, which has two or more wheels."""
    matrix = scenario.matrix
    chosen = orders(scenario.wheel_ids, matrix.orders, matrix.cover)
    exercised = [w.id for w in scenario.wheels if w.exercise]
    sequences = [(single, ()) for single in singleton_orders(scenario)] + [
        (order, use) for order in chosen for use in use_orders(matrix.first_use, order, exercised)
    ]
    return (
        Cell(
            scenario=scenario.name,
            target=target,
            arch=arch,
            dlopen=dlopen,
            host=str(host),
            order=order,
            repeat=repeat,
            variant=variant,
            use=use,
        )
        for target in (targets or matrix.targets)
        for arch in (arches or matrix.arch)
        for variant in scenario.variants
        for dlopen in matrix.dlopen
        for host in matrix.host
        for order, use in sequences
        for repeat in range(1, matrix.repeat + 1)
    )


def selects(selector: Selector, cell: Cell, kind: FailureKind | None = None) -> bool:
    """Whether an expectation's `when` covers this cell. `kind` is the cell's failure kind,
    known only when the run ends (None for a cell that passed, or before then)."""
    if selector.failure_kind and kind not in selector.failure_kind:
        return False
    if selector.target and cell.target not in selector.target:
        return False
    if selector.arch and cell.arch not in selector.arch:
        return False
    if selector.dlopen and cell.dlopen not in selector.dlopen:
        return False
    if selector.host and cell.host not in selector.host:
        return False
    if selector.order and cell.order != selector.order:
        return False
    if selector.toolchain:
        chosen = cell.variant.toolchains
        if any(chosen.get(wheel_id) not in allowed for wheel_id, allowed in selector.toolchain):
            return False
    if selector.before and not in_sequence(cell.order, selector.before):
        return False
    return not selector.used_before or in_sequence(cell.use_order, selector.used_before)


def in_sequence(order: Sequence[str], ids: Sequence[str]) -> bool:
    """Whether every one of `ids` is in `order`, in that sequence. A cell that lacks one of
    them (`orders = "pairs"` imports two wheels of the set) is not selected."""
    position = {wheel_id: index for index, wheel_id in enumerate(order)}
    if any(wheel_id not in position for wheel_id in ids):
        return False
    found = [position[wheel_id] for wheel_id in ids]
    return found == sorted(found)


def expected_for(
    expectations: Sequence[Expectation], cell: Cell, kind: FailureKind | None = None
) -> Expected:
    """The first expectation that selects the cell; `pass` when none does. Before the run
    ends a failing cell's kind is not known: rules on `failure_kind` are then passed over,
    and the runner asks again with the kind when the run ends."""
    for rule in expectations:
        if selects(rule.when, cell, kind):
            return Expected(verdict=rule.verdict, subkind=rule.subkind, reason=rule.reason)
    return Expected(verdict=Verdict.PASS)
