"""How a wheel set reaches its container without passing through the controller's memory.

On an engine on this machine (a unix socket) each wheel file is bound into the container,
read-only: nothing is copied. A remote engine (tcp, ssh) cannot see this machine's files, so
the wheels go in as a tar streamed from disk (`harness.images.tarstream`), a block at a time.
`WHEELCLASH_WHEEL_TRANSFER=mount|stream` overrides the choice.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final, assert_never

from harness.build.wheels import BuiltWheel
from harness.errors import InputError
from harness.images import engines
from harness.images.containers import Bind
from harness.images.tarstream import Entry

logger = logging.getLogger(__name__)

ENV: Final = "WHEELCLASH_WHEEL_TRANSFER"
WHEELS: Final = "wheels"  # the set's own wheels, under the inputs' root
WHEELHOUSE: Final = "wheelhouse"  # the wheels pip may take their dependencies from


class Transfer(StrEnum):
    MOUNT = "mount"
    STREAM = "stream"


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where the container finds the wheels, and how they get there: binds to add to the
    container (mount) or tar entries to stream under the harness's folder (stream)."""

    transfer: Transfer
    wheels: tuple[str, ...]  # the container's path of each wheel of the set, in order
    wheelhouses: tuple[str, ...]  # folders for pip's --find-links; () when none
    binds: tuple[Bind, ...] = ()
    entries: tuple[Entry, ...] = ()  # relative to the harness's folder


def is_local(engine_url: str) -> bool:
    """Whether the engine shares this machine's filesystem: its own unix socket."""
    return engine_url == engines.DEFAULT or engine_url.startswith(("unix://", "/"))


def inputs(wheels: Sequence[BuiltWheel]) -> list[tuple[str, Path]]:
    """(path under the inputs' root, file on disk) of the set's wheels and of every wheel in
    their wheelhouses; each name once (the first wheelhouse that has a name gives it)."""
    found: dict[str, Path] = {}
    for wheel in wheels:
        found.setdefault(f"{WHEELS}/{wheel.path.name}", wheel.path)
    for house in sorted({w.wheelhouse for w in wheels if w.wheelhouse}):
        for path in sorted(Path(house).glob("*.whl")):
            found.setdefault(f"{WHEELHOUSE}/{path.name}", path)
    return list(found.items())


def unreadable(files: Sequence[Path]) -> Path | None:
    """The first file the container's users could not read through a bind (not readable by
    others, or not a file), or None."""
    for path in files:
        try:
            mode = path.stat().st_mode
        except OSError:
            return path
        if not stat.S_ISREG(mode) or not mode & stat.S_IROTH:
            return path
    return None


def choose(
    engine_url: str, files: Sequence[Path], environ: Mapping[str, str] = os.environ
) -> Transfer:
    """Mount on a local engine when every file can be bound, else stream; or what `ENV` says."""
    asked = environ.get(ENV, "").strip()
    if asked and asked not in set(Transfer):
        raise InputError(
            f"the environment variable {ENV} is {asked!r}: it must be 'mount' or 'stream'",
            hint=f"unset {ENV} to bind the wheels on an engine on this machine and stream them "
            "to a remote one, or set it to one of those two.",
        )
    blocked = unreadable(files)
    if asked == Transfer.MOUNT:
        if blocked is not None:
            raise InputError(
                f"{ENV}=mount, but {blocked} is not a file others may read, so the "
                "container's users could not read it through a bind",
                hint=f"`chmod o+r {blocked}`, or set {ENV}=stream to copy the wheels in.",
            )
        return Transfer.MOUNT
    if asked == Transfer.STREAM or not is_local(engine_url):
        return Transfer.STREAM
    if blocked is not None:
        logger.info("streaming the wheels in: %s is not readable by others", blocked)
        return Transfer.STREAM
    return Transfer.MOUNT


def place(
    wheels: Sequence[BuiltWheel],
    files: Sequence[tuple[str, Path]],
    transfer: Transfer,
    *,
    harness_dir: str,
    inputs_dir: str,
) -> Placement:
    """Where the set's wheels and wheelhouses (`files`, from `inputs(wheels)`) are in the
    container, for `transfer`."""
    root = inputs_dir if transfer is Transfer.MOUNT else harness_dir
    houses = (f"{root}/{WHEELHOUSE}",) if any(w.wheelhouse for w in wheels) else ()
    paths = tuple(f"{root}/{WHEELS}/{w.path.name}" for w in wheels)
    match transfer:
        case Transfer.MOUNT:
            binds = tuple(Bind(source=path, target=f"{root}/{name}") for name, path in files)
            return Placement(transfer=transfer, wheels=paths, wheelhouses=houses, binds=binds)
        case Transfer.STREAM:
            entries = tuple(Entry(name=name, source=path) for name, path in files)
            return Placement(transfer=transfer, wheels=paths, wheelhouses=houses, entries=entries)
        case _:
            assert_never(transfer)
