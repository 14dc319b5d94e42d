"""`wheelclash check` inputs (wheel files and requirements) → a scenario document → a Scenario.

The scenario is written as TOML text and read back by the ordinary loader, so a checked set
is validated exactly like a scenario file, and `--write-scenario` saves the very text that ran.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import tomli_w
from packaging.requirements import InvalidRequirement, Requirement

from harness.errors import InputError, InvalidInputFile, Problem
from harness.scenario.load import MODULE_RE, NO_TOOLCHAINS, OrderMode, Scenario, load_scenario
from harness.scenario.wheel_contents import read_contents

CHECK_NAME: Final = "check"
OPTION_OF: Final = {
    "matrix.dlopen": "--dlopen",
    "matrix.host": "--host",
    "matrix.arch": "--arch",
    "matrix.targets": "--target",
    "matrix.timeout": "--timeout",
    "matrix.repeat": "--repeat",
    "exercise": "--exercise",
    "constraints": "--constraint",
}
# A comment in a requirements file: from `#` at the start of a line or after a blank.
COMMENT: Final = re.compile(r"(^|\s)#.*$")
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
    singletons: bool = True  # each wheel alone too, for attribution
    pairs: bool = False
    cover: int | None = None  # orders: a t-way sequence covering array (not with `pairs`)
    constraints: tuple[Path, ...] = ()  # pip constraint files for downloading requirements
    imports: tuple[str, ...] = ()  # `--import ID=module[,module…]`, as given


def wheel_id_for(text: str) -> str:
    """A wheel id from a project name: `opencv-python-headless` → `opencv_python_headless`."""
    ident = re.sub(r"[^a-z0-9_]", "_", text.lower()).strip("_") or "wheel"
    return ident if ident[0].isalpha() else f"w_{ident}"


def read_requirements(path: Path) -> tuple[str, ...]:
    """The requirements of a file: one a line; `#` comments and blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputFile([Problem(path, "", f"cannot be read ({exc})")]) from exc
    found: list[str] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, 1):
        text = COMMENT.sub("", line).strip()
        if not text:
            continue
        if text.startswith("-"):
            why = "pip options are not read here; give requirements only (constraint files: "
            problems.append(Problem(path, f"line {number}", why + "--constraint FILE)"))
            continue
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            problems.append(
                Problem(path, f"line {number}", f"{text!r} is not a requirement ({exc})")
            )
            continue
        found.append(text)
    if problems:
        raise InvalidInputFile(problems)
    if not found:
        raise InvalidInputFile([Problem(path, "", "holds no requirement; give one a line")])
    return tuple(found)


def _parse_input(text: str, download: bool) -> tuple[str, Input]:
    """One argument: an existing `.whl` file, else (with `download`) a requirement; with the
    wheel id it suggests."""
    path = Path(text)
    if path.suffix == ".whl":
        if not path.is_file():
            raise InputError(f"{text}: no such wheel file; give the path of a .whl file")
        return wheel_id_for(read_contents(path).project), Input(id="", wheel=path.resolve())
    try:
        base = wheel_id_for(Requirement(text).name)
    except InvalidRequirement as exc:
        raise InputError(f"{text!r} is neither a .whl file nor a requirement ({exc})") from exc
    if not download:
        raise InputError(
            f"{text!r} is a requirement; add --download to fetch it (and its "
            "dependencies) with pip for each target, or pass a .whl file"
        )
    return base, Input(id="", requirement=text)


def parse_inputs(
    raw: Sequence[str], download: bool, requirements: Sequence[str] = (), least: int = 2
) -> tuple[Input, ...]:
    """Each argument: an existing `.whl` file, else (with --download) a requirement; then
    `requirements` (read from --requirements files), which are always downloaded. Fewer
    than `least` is an input error."""
    inputs: list[Input] = []
    seen: set[str] = set()
    parsed = [_parse_input(text, download) for text in raw]
    parsed += [_parse_input(text, True) for text in requirements]
    for base, item in parsed:
        wheel_id = base
        for number in itertools.count(2):
            if wheel_id not in seen:
                break
            wheel_id = f"{base}_{number}"
        seen.add(wheel_id)
        inputs.append(Input(id=wheel_id, wheel=item.wheel, requirement=item.requirement))
    if len(inputs) < least:
        raise InputError(
            "give two or more wheels or requirements to check against each other"
            if least == 2
            else "give a wheel or requirement to check against the corpus"
        )
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


def document(
    name: str, inputs: Sequence[Input], options: CheckOptions, base: Path, description: str = ""
) -> str:
    """The scenario file for a checked set; wheel paths are relative to `base` when inside.

    Written by a TOML writer, so any text (a wheel path, an exercise) and any number the
    options hold come out as TOML that the loader reads back unchanged, or rejects by key."""
    names = ", ".join(i.id for i in inputs)
    modules = modules_by_id(options.imports, inputs)
    head: dict[str, object] = {
        "name": name,
        "description": description or f"wheelclash check of {names}",
        "requirement": REQUIREMENT,
    }
    if options.exercise:
        head["exercise"] = options.exercise
    if options.constraints:
        head["constraints"] = [_relative(path.resolve(), base) for path in options.constraints]
    wheels: list[dict[str, object]] = []
    for item in inputs:
        if item.wheel is not None:
            wheels.append({"id": item.id, "wheel": _relative(item.wheel, base)})
        else:
            wheels.append({"id": item.id, "requirement": item.requirement})
        if item.id in modules:
            wheels[-1]["modules"] = list(modules[item.id])
    matrix: dict[str, object] = {}
    if options.targets:
        matrix["targets"] = list(options.targets)
    if options.arch:
        matrix["arch"] = list(options.arch)
    matrix |= {
        "dlopen": list(options.dlopen),
        "host": list(options.host),
        "repeat": options.repeat,
        "timeout": options.timeout_s,
        "victims": options.victims,
        "singletons": options.singletons,
    }
    if options.pairs:
        matrix["orders"] = str(OrderMode.PAIRS)
    elif options.cover is not None:
        matrix["orders"] = {"cover": options.cover}
    return tomli_w.dumps(
        {**head, "wheels": wheels, "matrix": matrix, "expect": [{"verdict": "pass"}]}
    )


def _relative(path: Path, base: Path) -> str:
    relative = os.path.relpath(path, base.resolve())
    return str(path) if relative.startswith("..") else relative


def scenario_for(
    inputs: Sequence[Input], options: CheckOptions, name: str = CHECK_NAME, description: str = ""
) -> tuple[Scenario, str]:
    """The scenario to run, loaded from its TOML text, and that text."""
    with tempfile.TemporaryDirectory(prefix="wheelclash-check-") as tmp:
        path = Path(tmp) / f"{name}.toml"
        text = document(name, inputs, options, Path(tmp), description)
        path.write_text(text)
        try:
            return load_scenario(path, NO_TOOLCHAINS), text
        except InvalidInputFile as exc:
            lines = [f"{OPTION_OF.get(p.key, p.key)}: {p.message}" for p in exc.problems]
            raise InputError(f"{name}: " + "; ".join(lines)) from exc


def write_scenario(target: Path, inputs: Sequence[Input], options: CheckOptions) -> None:
    """Save what `check` runs as a scenario file that `wheelclash run` accepts."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document(CHECK_NAME, inputs, options, target.parent))
