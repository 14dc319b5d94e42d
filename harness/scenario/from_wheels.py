"""`wheelclash check` inputs (wheel files and requirements) → a scenario document → a Scenario.

The scenario is written as TOML text and read back by the ordinary loader, so a checked set
is validated exactly like a scenario file, and `--write-scenario` saves the very text that ran.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement

from harness.errors import InputError, InvalidInputFile
from harness.scenario.load import MODULE_RE, NO_TOOLCHAINS, Scenario, load_scenario
from harness.scenario.wheel_contents import read_contents

CHECK_NAME: Final = "check"
OPTION_OF: Final = {
    "matrix.dlopen": "--dlopen",
    "matrix.host": "--host",
    "matrix.arch": "--arch",
    "matrix.targets": "--target",
    "exercise": "--exercise",
}
REQUIREMENT: Final = "a wheel MUST NOT cause other unrelated wheels to segfault"


@dataclass(frozen=True, kw_only=True)
class Input:
    """One thing to check: a local wheel file, or a requirement to download."""

    id: str
    wheel: Path | None = None
    requirement: str = ""


@dataclass(frozen=True, kw_only=True)
class CheckOptions:
    targets: tuple[str, ...] = ()
    arch: tuple[str, ...] = ()
    dlopen: tuple[str, ...] = ("local",)
    host: tuple[str, ...] = ("plain",)
    exercise: str = ""
    repeat: int = 1
    timeout_s: float = 60.0
    victims: bool = True
    pairs: bool = False
    imports: tuple[str, ...] = ()  # `--import ID=module[,module…]`, as given


def _ident(text: str) -> str:
    """A wheel id from a project name: `opencv-python-headless` → `opencv_python_headless`."""
    ident = re.sub(r"[^a-z0-9_]", "_", text.lower()).strip("_") or "wheel"
    return ident if ident[0].isalpha() else f"w_{ident}"


def parse_inputs(raw: Sequence[str], download: bool) -> tuple[Input, ...]:
    """Each argument: an existing `.whl` file, else (with --download) a requirement."""
    inputs: list[Input] = []
    seen: set[str] = set()
    for text in raw:
        path = Path(text)
        if path.suffix == ".whl":
            if not path.is_file():
                raise InputError(f"{text}: no such wheel file; give the path of a .whl file")
            base = _ident(read_contents(path).project)
            item = Input(id="", wheel=path.resolve())
        else:
            try:
                base = _ident(Requirement(text).name)
            except InvalidRequirement as exc:
                raise InputError(
                    f"{text!r} is neither a .whl file nor a requirement ({exc})"
                ) from exc
            if not download:
                raise InputError(
                    f"{text!r} is a requirement; add --download to fetch it (and its "
                    "dependencies) with pip for each target, or pass a .whl file"
                )
            item = Input(id="", requirement=text)
        wheel_id = base
        for number in itertools.count(2):
            if wheel_id not in seen:
                break
            wheel_id = f"{base}_{number}"
        seen.add(wheel_id)
        inputs.append(Input(id=wheel_id, wheel=item.wheel, requirement=item.requirement))
    if len(inputs) < 2:
        raise InputError("give two or more wheels or requirements to check against each other")
    return tuple(inputs)


def modules_by_id(given: Sequence[str], inputs: Sequence[Input]) -> dict[str, tuple[str, ...]]:
    """`--import ID=module[,module…]` (repeatable) → the exact modules to import per wheel id,
    in the order given; InputError naming a bad one and listing the valid ids."""
    ids = [i.id for i in inputs]
    out: dict[str, tuple[str, ...]] = {}
    for text in given:
        wheel_id, equals, listed = text.partition("=")
        wheel_id = wheel_id.strip()
        modules = tuple(m.strip() for m in listed.split(",") if m.strip())
        if not equals or not modules:
            raise InputError(
                f"--import {text!r}: write ID=module[,module…], e.g. --import "
                f"{ids[0]}=pkg,pkg.sub; wheel ids: {', '.join(ids)}"
            )
        if wheel_id not in ids:
            raise InputError(
                f"--import {text!r}: no wheel has the id {wheel_id!r}; wheel ids (from the "
                f"project names): {', '.join(ids)}"
            )
        for module in modules:
            if not MODULE_RE.match(module):
                raise InputError(
                    f"--import {text!r}: {module!r} is not a dotted Python module name"
                )
        out[wheel_id] = tuple(dict.fromkeys((*out.get(wheel_id, ()), *modules)))
    return out


def _value(value: object) -> str:
    """A TOML value: JSON's strings, numbers, booleans and lists are valid TOML."""
    return json.dumps(value)


def document(name: str, inputs: Sequence[Input], options: CheckOptions, base: Path) -> str:
    """The scenario file for a checked set; wheel paths are relative to `base` when inside."""
    names = ", ".join(i.id for i in inputs)
    modules = modules_by_id(options.imports, inputs)
    lines = [
        f"name = {_value(name)}",
        f"description = {_value(f'wheelclash check of {names}')}",
        f"requirement = {_value(REQUIREMENT)}",
    ]
    if options.exercise:
        lines.append(f"exercise = {_value(options.exercise)}")
    for item in inputs:
        lines += ["", "[[wheels]]", f"id = {_value(item.id)}"]
        if item.wheel is not None:
            lines.append(f"wheel = {_value(_relative(item.wheel, base))}")
        else:
            lines.append(f"requirement = {_value(item.requirement)}")
        if item.id in modules:
            lines.append(f"modules = {_value(list(modules[item.id]))}")
    lines += ["", "[matrix]"]
    if options.targets:
        lines.append(f"targets = {_value(list(options.targets))}")
    if options.arch:
        lines.append(f"arch = {_value(list(options.arch))}")
    lines += [
        f"dlopen = {_value(list(options.dlopen))}",
        f"host = {_value(list(options.host))}",
        f"repeat = {options.repeat}",
        f"timeout = {_value(options.timeout_s)}",
        f"victims = {_value(options.victims)}",
        *(['orders = "pairs"'] if options.pairs else []),
        "",
        "[[expect]]",
        'verdict = "pass"',
        "",
    ]
    return "\n".join(lines)


def _relative(path: Path, base: Path) -> str:
    relative = os.path.relpath(path, base.resolve())
    return str(path) if relative.startswith("..") else relative


def scenario_for(inputs: Sequence[Input], options: CheckOptions) -> tuple[Scenario, str]:
    """The scenario to run, loaded from its TOML text, and that text."""
    with tempfile.TemporaryDirectory(prefix="wheelclash-check-") as tmp:
        path = Path(tmp) / f"{CHECK_NAME}.toml"
        text = document(CHECK_NAME, inputs, options, Path(tmp))
        path.write_text(text)
        try:
            return load_scenario(path, NO_TOOLCHAINS), text
        except InvalidInputFile as exc:
            lines = [f"{OPTION_OF.get(p.key, p.key)}: {p.message}" for p in exc.problems]
            raise InputError("check: " + "; ".join(lines)) from exc


def write_scenario(target: Path, inputs: Sequence[Input], options: CheckOptions) -> None:
    """Save what `check` runs as a scenario file that `wheelclash run` accepts."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document(CHECK_NAME, inputs, options, target.parent))
