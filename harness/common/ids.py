"""Cell ids and toolchain variants: one type each that formats and parses them.

A cell id names one fresh interpreter of a run. Results files, pytest node ids and `--select`
patterns all spell it this way, so the spelling never changes:

    <scenario>/<place>[/<variant>]/<dlopen>/<host>/<order>[/use:<order>]#<repeat>

- scenario: the scenario's name (lower-case letters, digits, dashes);
- place: `host`, or the target with `:` and `/` turned into `-`, then `-<arch>`;
- variant: only when the scenario pairs wheels across toolchains: `a=gcc-10+b=gcc-12`;
- dlopen: `local`, `global-all`, `global-first` (the first wheel of the order) or
  `global:<wheel id>`;
- host: the host mode (`plain`, `preload-libstdcxx`);
- order: the wheel ids in import order, comma-separated;
- use: the order of first use, only when it is not the import order;
- repeat: 1, 2, ….

`call-once/debian-bookworm-x86_64/global:a/plain/b,a#1` is one. The id without `#<repeat>`
names the logical cell, whose repeats are samples of one thing (`LogicalId`). The part up to
the variant is the group: the cells that share one environment (a venv or a container).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Self

from harness.errors import InputError

SCENARIO_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
WHEEL_ID_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")
# A toolchain name as a variant spells it: none of the variant's or the id's separators.
TOOLCHAIN_RE: Final = re.compile(r"^[^\s+=/#,]+$")
# The place and the host mode are single segments of the id.
SEGMENT_RE: Final = re.compile(r"^[^\s/#,]+$")

LOCAL: Final = "local"
GLOBAL_ALL: Final = "global-all"
GLOBAL_FIRST: Final = "global-first"  # the first wheel of each order is RTLD_GLOBAL
GLOBAL_PREFIX: Final = "global:"
# Every dlopen mode, as messages and help texts spell the choices.
DLOPEN_MODES: Final = f"{LOCAL}, {GLOBAL_ALL}, {GLOBAL_FIRST} or {GLOBAL_PREFIX}<wheel id>"
USE_PREFIX: Final = "use:"

CELL_ID_GRAMMAR: Final = (
    "a cell id reads <scenario>/<place>[/<variant>]/<dlopen>/<host>/<order>[/use:<order>]"
    "#<repeat>, e.g. call-once/debian-bookworm-x86_64/global:a/plain/b,a#1; copy one from "
    "results.json or `wheelclash run --print-plan`"
)
VARIANT_GRAMMAR: Final = "a variant reads <wheel id>=<toolchain>+…, e.g. a=gcc-10+b=gcc-12"


class MalformedId(InputError, ValueError):
    """A cell id or variant that does not follow the grammar; the message says what is wrong."""

    def __init__(self, text: str, reason: str, *, variant: bool = False) -> None:
        self.text = text
        self.reason = reason
        what, grammar = ("variant", VARIANT_GRAMMAR) if variant else ("cell id", CELL_ID_GRAMMAR)
        super().__init__(f"{text!r} is not a {what}: {reason}; {grammar}")


@dataclass(frozen=True, kw_only=True)
class Variant:
    """The toolchain of each wheel the scenario pairs across toolchains; empty for one set.

    Spelled `a=gcc-10+b=gcc-12`: (wheel id, toolchain) pairs in the scenario's wheel order.
    """

    choices: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise MalformedId(str(self), problem, variant=True)

    def _problem(self) -> str:
        seen: set[str] = set()
        for wheel_id, toolchain in self.choices:
            if not WHEEL_ID_RE.match(wheel_id):
                return f"{wheel_id!r} is not a wheel id (a lower-case letter, then a-z, 0-9, _)"
            if not TOOLCHAIN_RE.match(toolchain):
                return f"{toolchain!r} is not a toolchain name"
            if wheel_id in seen:
                return f"the variant names wheel {wheel_id!r} twice"
            seen.add(wheel_id)
        return ""

    def __bool__(self) -> bool:
        return bool(self.choices)

    def __str__(self) -> str:
        return "+".join(f"{wheel_id}={toolchain}" for wheel_id, toolchain in self.choices)

    @property
    def toolchains(self) -> dict[str, str]:
        """Wheel id → toolchain."""
        return dict(self.choices)

    @classmethod
    def parse(cls, text: str) -> Self:
        """`a=gcc-10+b=gcc-12` → the variant; '' → the empty one (a single wheel set)."""
        if not text:
            return cls()
        choices = []
        for part in text.split("+"):
            wheel_id, equals, toolchain = part.partition("=")
            if not equals:
                raise MalformedId(text, f"{part!r} is not <wheel id>=<toolchain>", variant=True)
            choices.append((wheel_id, toolchain))
        try:
            return cls(choices=tuple(choices))
        except MalformedId as exc:
            raise MalformedId(text, exc.reason, variant=True) from None


def _order_problem(order: tuple[str, ...], what: str) -> str:
    if not order:
        return f"the {what} lists no wheel"
    for wheel_id in order:
        if not WHEEL_ID_RE.match(wheel_id):
            return (
                f"{wheel_id!r} in the {what} is not a wheel id (a lower-case letter, then a-z, "
                "0-9, _)"
            )
    if len(set(order)) != len(order):
        return f"the {what} names a wheel twice"
    return ""


def _dlopen_problem(dlopen: str) -> str:
    if dlopen in (LOCAL, GLOBAL_ALL, GLOBAL_FIRST):
        return ""
    if dlopen.startswith(GLOBAL_PREFIX) and WHEEL_ID_RE.match(dlopen.removeprefix(GLOBAL_PREFIX)):
        return ""
    return f"{dlopen!r} is not a dlopen mode ({DLOPEN_MODES})"


def global_wheels(dlopen: str, order: Sequence[str]) -> frozenset[str]:
    """The wheels of `order` whose modules a cell in mode `dlopen` loads RTLD_GLOBAL: every
    one (global-all), the first (global-first), the one named (global:<id>), or none."""
    if dlopen == GLOBAL_ALL:
        return frozenset(order)
    if dlopen == GLOBAL_FIRST:
        return frozenset(order[:1])
    if dlopen.startswith(GLOBAL_PREFIX):
        return frozenset({dlopen.removeprefix(GLOBAL_PREFIX)})
    return frozenset()


@dataclass(frozen=True, kw_only=True)
class LogicalId:
    """A cell without its repeat number: every repeat of it, and the same cell in other runs."""

    scenario: str
    place: str
    variant: Variant = field(default_factory=Variant)
    dlopen: str
    host: str
    order: tuple[str, ...]
    use: tuple[str, ...] = ()  # the first-use order, when it is not the import order

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise MalformedId(str(self), problem)

    def _problem(self) -> str:
        if not SCENARIO_NAME_RE.match(self.scenario):
            return f"{self.scenario!r} is not a scenario name (a-z, 0-9 and -)"
        if not SEGMENT_RE.match(self.place):
            return f"{self.place!r} is not a place (host, or <target>-<arch>)"
        problem = _dlopen_problem(self.dlopen)
        if problem:
            return problem
        if not SEGMENT_RE.match(self.host):
            return f"{self.host!r} is not a host mode"
        problem = _order_problem(self.order, "order")
        if problem or not self.use:
            return problem
        problem = _order_problem(self.use, "first-use order")
        if problem:
            return problem
        strangers = [w for w in self.use if w not in self.order]
        return f"the first-use order names {strangers[0]!r}, not imported" if strangers else ""

    @property
    def group(self) -> str:
        """`<scenario>/<place>[/<variant>]`: the cells sharing one environment share it."""
        where = f"{self.scenario}/{self.place}"
        return f"{where}/{self.variant}" if self.variant else where

    @property
    def tail(self) -> str:
        """`<dlopen>/<host>/<order>[/use:<order>]`: what tells the cells of a group apart."""
        use = f"/{USE_PREFIX}{','.join(self.use)}" if self.use else ""
        return f"{self.dlopen}/{self.host}/{','.join(self.order)}{use}"

    def __str__(self) -> str:
        return f"{self.group}/{self.tail}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """The logical cell `text` names (an id without #<repeat>); MalformedId saying why
        when it names none."""
        if "#" in text:
            raise MalformedId(text, "a logical cell id has no '#' (that starts the repeat)")
        parts = text.split("/")
        use: tuple[str, ...] = ()
        if len(parts) > 1 and parts[-1].startswith(USE_PREFIX):
            use = tuple(parts.pop().removeprefix(USE_PREFIX).split(","))
        match parts:
            case [scenario, place, variant_text, dlopen, host, order]:
                if not variant_text:
                    raise MalformedId(text, "its variant part is empty")
            case [scenario, place, dlopen, host, order]:
                variant_text = ""
            case _:
                raise MalformedId(
                    text,
                    f"{len(parts)} /-separated parts (before any use: part), where there are 5, "
                    "or 6 with a variant",
                )
        try:
            variant = Variant.parse(variant_text)
            return cls(
                scenario=scenario,
                place=place,
                variant=variant,
                dlopen=dlopen,
                host=host,
                order=tuple(order.split(",")),
                use=use,
            )
        except MalformedId as exc:
            raise MalformedId(text, exc.reason) from None


@dataclass(frozen=True, kw_only=True)
class CellId:
    """One cell of a run: a logical cell and which repeat of it."""

    logical: LogicalId
    repeat: int

    def __post_init__(self) -> None:
        if isinstance(self.repeat, bool) or self.repeat < 1:
            raise MalformedId(str(self), "the repeat is a whole number from 1")

    @property
    def group(self) -> str:
        """The logical cell's group (`LogicalId.group`)."""
        return self.logical.group

    def __str__(self) -> str:
        return f"{self.logical}#{self.repeat}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """The cell `text` names; MalformedId saying why when it names none."""
        head, hash_sign, repeat = text.rpartition("#")
        if not hash_sign:
            raise MalformedId(text, "it does not end in #<repeat>")
        if "#" in head:
            raise MalformedId(text, "it holds more than one '#'")
        if not (repeat.isascii() and repeat.isdigit()) or repeat.startswith("0"):
            raise MalformedId(
                text, f"the repeat {repeat!r} is not a whole number from 1 (no leading zeros)"
            )
        try:
            return cls(logical=LogicalId.parse(head), repeat=int(repeat))
        except MalformedId as exc:
            raise MalformedId(text, exc.reason) from None
