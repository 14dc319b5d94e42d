"""Options `run` and `check` share, and argparse `type=` helpers that check a value as it is read.

A list option takes comma-separated values and may be repeated; the values of every use add
up (`--dlopen local --dlopen global:a` is both modes). A bad value stops argparse with the
option's name and what is wrong, before anything runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from harness.cells.backends import BACKENDS
from harness.cli.progress_view import Mode
from harness.common.ids import DLOPEN_MODES, GLOBAL_ALL, GLOBAL_FIRST, GLOBAL_PREFIX, LOCAL
from harness.common.verdicts import FailureKind
from harness.errors import InputError
from harness.run.attribute import DEFAULT_BUDGET
from harness.run.runner import AUTO, RunRequest
from harness.run.shards import Shard
from harness.scenario import engine_option
from harness.scenario.config import Defaults
from harness.scenario.from_wheels import read_requirements
from harness.scenario.load import ARCHES, HostMode, Scenario


def _items(text: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing; give one or more, e.g. a,b")
    return items


def names(text: str) -> tuple[str, ...]:
    """Comma-separated names (targets)."""
    return _items(text)


def arches(text: str) -> tuple[str, ...]:
    """Comma-separated arches, each one wheelclash knows."""
    found = _items(text)
    for arch in found:
        if arch not in ARCHES:
            raise argparse.ArgumentTypeError(f"unknown arch {arch!r}; valid: {', '.join(ARCHES)}")
    return found


def dlopen_modes(text: str) -> tuple[str, ...]:
    """Comma-separated dlopen modes; which wheel a `global:` mode names is checked later."""
    found = _items(text)
    for mode in found:
        if mode not in (LOCAL, GLOBAL_ALL, GLOBAL_FIRST) and not (
            mode.startswith(GLOBAL_PREFIX) and mode.removeprefix(GLOBAL_PREFIX)
        ):
            raise argparse.ArgumentTypeError(f"{mode!r} is not a dlopen mode; use {DLOPEN_MODES}")
    return found


def host_modes(text: str) -> tuple[str, ...]:
    """Comma-separated host modes."""
    found = _items(text)
    valid = tuple(HostMode)
    for mode in found:
        if mode not in valid:
            raise argparse.ArgumentTypeError(
                f"unknown host mode {mode!r}; valid: {', '.join(valid)}"
            )
    return found


def failure_kinds(text: str) -> tuple[FailureKind, ...]:
    """Comma-separated failure kinds."""
    found = _items(text)
    for kind in found:
        if kind not in set(FailureKind):
            raise argparse.ArgumentTypeError(
                f"unknown failure kind {kind!r}; valid: {', '.join(FailureKind)}"
            )
    return tuple(FailureKind(kind) for kind in found)


def backend(text: str) -> str:
    valid = (AUTO, *BACKENDS)
    if text not in valid:
        raise argparse.ArgumentTypeError(f"unknown backend {text!r}; valid: {', '.join(valid)}")
    return text


def engine(text: str) -> tuple[str, str]:
    """`ARCH=ENGINE`: an arch and its Docker engine (a URL or a docker context name)."""
    arch, sep, spec = text.partition("=")
    why = (
        engine_option.problem(arch, spec, ARCHES)
        if sep
        else "must be ARCH=URL, e.g. aarch64=ssh://arm-box"
    )
    if why:
        raise argparse.ArgumentTypeError(why)
    return arch, spec


def _whole(text: str, least: int) -> int:
    """A whole number of at least `least`, or argparse's error naming what was given."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < least:
        raise argparse.ArgumentTypeError(f"{value}: give {least} or more")
    return value


def positive_int(text: str) -> int:
    return _whole(text, 1)


def non_negative_int(text: str) -> int:
    return _whole(text, 0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: give a positive number of seconds")
    return value


def shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file; check the path")
    return path


def requirements_file(text: str) -> tuple[str, ...]:
    """The requirements of a file, one a line; a bad line is an input error naming the file
    and the line (raised through argparse, which passes on anything but its own errors)."""
    return read_requirements(existing_file(text))


def add_placement(parser: argparse.ArgumentParser) -> None:
    """Where the cells run: backend, targets, arches, engines and how many groups at once."""
    group = parser.add_argument_group("where cells run")
    group.add_argument(
        "--backend",
        type=backend,
        default=None,
        help="auto (docker when an engine answers and the scenarios name container targets, "
        "else local), local (this machine's Python) or docker; default from "
        "[tool.wheelclash] in pyproject.toml, else auto",
    )
    group.add_argument(
        "--target",
        type=names,
        action="extend",
        metavar="T[,T…]",
        help="targets replacing the scenarios' own, e.g. debian:trixie (repeatable); default "
        "from [tool.wheelclash] targets",
    )
    group.add_argument(
        "--arch",
        type=arches,
        action="extend",
        metavar="A[,A…]",
        help="arches replacing the scenarios' own (docker backend), e.g. aarch64 (repeatable); "
        "a foreign arch runs under qemu-user unless --engine maps it",
    )
    group.add_argument(
        "--engine",
        type=engine,
        action="append",
        metavar="ARCH=ENGINE",
        help="run ARCH's cells on another Docker engine: a URL (ssh://user@arm-box, "
        "tcp://host:2376, unix:///path.sock) or a docker context name (repeatable; added to "
        "[tool.wheelclash] engines)",
    )
    group.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="run N cells at once: N groups (one venv or container each), and with fewer "
        "groups than N, a group's cells in several batches in its environment (default 1)",
    )


def add_output(parser: argparse.ArgumentParser) -> None:
    """Where results go and what is printed."""
    group = parser.add_argument_group("results")
    group.add_argument("--results", type=Path, default=None, help="results root (default: results)")
    group.add_argument("--json", action="store_true", help="print results.json to stdout")
    group.add_argument("--print-plan", action="store_true", help="list the cells and stop")


def add_attribution(parser: argparse.ArgumentParser) -> None:
    """How much attribution may run when the cells have finished."""
    group = parser.add_argument_group("attribution")
    group.add_argument(
        "--attribution-budget",
        type=non_negative_int,
        default=DEFAULT_BUDGET,
        metavar="N",
        help="at most N extra runs, in all, to find each failing cell's culprits: wheels run "
        "alone where the run has no singleton cells, subsets of larger cells (pairs first); "
        f"when they run out the smallest failing set found stands (default {DEFAULT_BUDGET})",
    )


def add_progress(parser: argparse.ArgumentParser) -> None:
    """`--progress {auto,tty,plain,none}` and `-q/--quiet` (the same as `--progress none`);
    `progress_mode` reads them."""
    group = parser.add_argument_group("progress (on stderr)")
    group.add_argument(
        "--progress",
        type=Mode,
        choices=list(Mode),
        default=Mode.AUTO,
        help="tty: a live display per stage (counts, elapsed, ETA, failures by verdict); "
        "plain: a line as each stage starts and ends, and on the cells every 30 s; none: "
        "nothing; auto (default): tty when stderr is a terminal, else plain",
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", help="show no progress (as --progress none)"
    )


def progress_mode(args: argparse.Namespace) -> Mode:
    mode: Mode = Mode.NONE if args.quiet else args.progress
    return mode


@dataclass(frozen=True, kw_only=True)
class Placement:
    """The placement options as given, completed from `[tool.wheelclash]`."""

    backend: str
    targets: tuple[str, ...] | None  # None: the scenarios' own
    arches: tuple[str, ...] | None  # None: the scenarios' own
    engines: Mapping[str, str]  # arch -> Docker engine
    jobs: int
    results: Path

    @classmethod
    def from_args(cls, args: argparse.Namespace, defaults: Defaults) -> Self:
        return cls(
            backend=args.backend or defaults.backend,
            targets=tuple(args.target) if args.target else defaults.targets,
            arches=tuple(args.arch) if args.arch else None,
            engines={**defaults.engines, **dict(args.engine or ())},
            jobs=args.jobs,
            results=args.results or defaults.results,
        )

    def request(self, loaded: tuple[Scenario, ...], **more: Any) -> RunRequest:
        """A run of the scenarios made in memory (`loaded`) here, as this command was
        started; `more` sets the request's other fields."""
        return RunRequest(
            scenarios=more.pop("scenarios", ()),
            loaded=loaded,
            backend=self.backend,
            results_root=self.results,
            command=tuple(sys.argv),
            jobs=self.jobs,
            engines=self.engines,
            **more,
        )
