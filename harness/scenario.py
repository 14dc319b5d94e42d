"""Scenario files: TOML in, a validated frozen `Scenario` out, every problem reported at once."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from harness.first_use import DEFAULT as DEFAULT_FIRST_USE
from harness.first_use import FirstUse
from harness.tomlload import Checker, read_toml
from harness.toolchains import Catalogue, load_catalogue
from harness.verdict import ImportErrorKind, Verdict

NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ID_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")
HOST_TARGET: Final = "host"
ARCHES: Final = ("x86_64", "aarch64", "i686", "ppc64le", "s390x")
MAX_EXHAUSTIVE: Final = 6
MAX_VARIANTS: Final = 100


class HostMode(StrEnum):
    """What kind of program hosts the interpreter."""

    PLAIN = "plain"
    PRELOAD_LIBSTDCXX = "preload-libstdcxx"


LOCAL: Final = "local"
GLOBAL_ALL: Final = "global-all"
GLOBAL_PREFIX: Final = "global:"


@dataclass(frozen=True, kw_only=True)
class WheelSpec:
    """One wheel of the set: a fixture built with a toolchain and link modes."""

    id: str
    fixture: str
    fixture_dir: Path
    toolchain: str
    link: tuple[str, ...]
    module: str
    exercise: str | None
    threads: int = 1
    toolchain_options: tuple[str, ...] = ()

    @property
    def link_label(self) -> str:
        return "+".join(self.link)

    @property
    def varies(self) -> bool:
        """Whether the scenario pairs this wheel with several toolchains."""
        return len(self.toolchain_options) > 1


@dataclass(frozen=True, kw_only=True)
class Matrix:
    targets: tuple[str, ...]
    arch: tuple[str, ...]
    dlopen: tuple[str, ...]
    host: tuple[HostMode, ...]
    repeat: int
    timeout_s: float
    victims: bool
    first_use: tuple[FirstUse, ...] = DEFAULT_FIRST_USE


@dataclass(frozen=True, kw_only=True)
class Selector:
    """Which cells an expectation speaks of; an empty field matches everything."""

    target: tuple[str, ...] = ()
    arch: tuple[str, ...] = ()
    dlopen: tuple[str, ...] = ()
    host: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    toolchain: tuple[tuple[str, tuple[str, ...]], ...] = ()
    used_before: tuple[str, ...] = ()

    @property
    def unconditional(self) -> bool:
        return self == Selector()


@dataclass(frozen=True, kw_only=True)
class Expectation:
    when: Selector
    verdict: Verdict
    subkind: ImportErrorKind | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Scenario:
    path: Path
    name: str
    description: str
    requirement: str
    wheels: tuple[WheelSpec, ...]
    matrix: Matrix
    expectations: tuple[Expectation, ...]

    @property
    def wheel_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self.wheels)

    @property
    def variants(self) -> tuple[str, ...]:
        """One label per combination of toolchains (`a=gcc-10+b=gcc-12`); ('',) for one set."""
        varying = [w for w in self.wheels if w.varies]
        if not varying:
            return ("",)
        return tuple(
            "+".join(f"{w.id}={t}" for w, t in zip(varying, combo, strict=True))
            for combo in itertools.product(*(w.toolchain_options for w in varying))
        )

    def variant(self, label: str) -> Scenario:
        """This scenario with each varying wheel's toolchain fixed as the label says."""
        if not label:
            return self
        chosen = variant_toolchains(label)
        wheels = tuple(
            replace(w, toolchain=chosen[w.id], toolchain_options=(chosen[w.id],))
            if w.id in chosen
            else w
            for w in self.wheels
        )
        return replace(self, wheels=wheels)

    def wheel(self, wheel_id: str) -> WheelSpec:
        return next(w for w in self.wheels if w.id == wheel_id)


TOP_KEYS: Final = {"name", "description", "requirement", "wheels", "matrix", "expect"}
WHEEL_KEYS: Final = {"id", "fixture", "toolchain", "link", "module", "exercise", "threads"}
MATRIX_KEYS: Final = {
    "targets",
    "arch",
    "dlopen",
    "host",
    "repeat",
    "timeout",
    "victims",
    "first_use",
}
EXPECT_KEYS: Final = {"when", "verdict", "subkind", "reason"}
WHEN_KEYS: Final = {
    "target",
    "arch",
    "dlopen",
    "host",
    "order",
    "before",
    "toolchain",
    "used_before",
}


def variant_toolchains(label: str) -> dict[str, str]:
    """`a=gcc-10+b=gcc-12` → {"a": "gcc-10", "b": "gcc-12"}."""
    return dict(part.split("=", 1) for part in label.split("+")) if label else {}


def fixture_roots(scenario_path: Path) -> tuple[Path, ...]:
    """Where fixture names are looked up: `fixtures/cpp` beside the scenario's folder or one
    of the two above it (for scenarios in subfolders), then in the working directory."""
    parents = scenario_path.resolve().parents
    roots = [parent / "fixtures" / "cpp" for parent in list(parents)[1:4]]
    roots.append(Path.cwd() / "fixtures" / "cpp")
    return tuple(dict.fromkeys(roots))


def load_scenario(path: Path, catalogue: Catalogue | None = None) -> Scenario:
    """Read and validate one scenario file; raise `InvalidInputFile` listing every problem."""
    catalogue = catalogue or load_catalogue()
    document = read_toml(path)
    check = Checker(path)
    check.unknown_keys(document, TOP_KEYS, "")
    name = check.string(document, "name", "name")
    if name and not NAME_RE.match(name):
        check.add("name", "use lower-case letters, digits and dashes (it becomes part of cell ids)")
    description = check.string(document, "description", "description")
    requirement = check.string(document, "requirement", "requirement", "")

    wheels = _wheels(document.get("wheels"), check, catalogue, fixture_roots(path))
    ids = tuple(w.id for w in wheels)
    matrix = _matrix(check.table(document, "matrix", "matrix"), check, ids)
    varying = {w.id: w.toolchain_options for w in wheels if w.varies}
    expectations = _expectations(document.get("expect", []), check, ids, varying)
    check.raise_if_any()
    return Scenario(
        path=path,
        name=name,
        description=description,
        requirement=requirement,
        wheels=wheels,
        matrix=matrix,
        expectations=expectations,
    )


def _wheels(
    raw: Any, check: Checker, catalogue: Catalogue, roots: tuple[Path, ...]
) -> tuple[WheelSpec, ...]:
    if not isinstance(raw, list) or not raw:
        check.add("wheels", "needs at least one [[wheels]] table (two or more to find conflicts)")
        return ()
    wheels: list[WheelSpec] = []
    seen: set[str] = set()
    for index, row in enumerate(raw):
        key = f"wheels[{index}]"
        if not isinstance(row, dict):
            check.add(key, "must be a table")
            continue
        check.unknown_keys(row, WHEEL_KEYS, key)
        wheel_id = check.string(row, "id", f"{key}.id")
        if wheel_id and not ID_RE.match(wheel_id):
            check.add(f"{key}.id", "use a lower-case letter, then letters, digits or _")
        elif wheel_id in seen:
            check.add(f"{key}.id", f"duplicate id {wheel_id!r}; each wheel needs its own")
        seen.add(wheel_id)
        fixture = check.string(row, "fixture", f"{key}.fixture")
        fixture_dir = next((r / fixture for r in roots if (r / fixture).is_dir()), None)
        if fixture and fixture_dir is None:
            known = sorted({p.name for r in roots if r.is_dir() for p in r.iterdir() if p.is_dir()})
            check.add(
                f"{key}.fixture",
                f"no fixture {fixture!r} in {' or '.join(map(str, roots))}; "
                f"known fixtures: {', '.join(known) or 'none'}",
            )
        options = check.strings(row, "toolchain", f"{key}.toolchain", ("gcc",))
        link = check.strings(row, "link", f"{key}.link", ("shared",))
        for toolchain in options:
            if toolchain not in catalogue.toolchains:
                check.add(
                    f"{key}.toolchain",
                    f"unknown toolchain {toolchain!r}; "
                    f"valid: {', '.join(sorted(catalogue.toolchains))}",
                )
                continue
            problem = catalogue.check_combination(catalogue.toolchains[toolchain], link)
            if problem:
                check.add(f"{key}.link", problem)
        if len(set(options)) != len(options) or not options:
            check.add(f"{key}.toolchain", "list each toolchain once, at least one")
        module = check.string(row, "module", f"{key}.module", f"wc_{fixture}_{wheel_id}")
        if module and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", module):
            check.add(f"{key}.module", "must be a valid Python module name")
        exercise = row.get("exercise")
        if exercise is not None and (not isinstance(exercise, str) or not exercise.isidentifier()):
            check.add(f"{key}.exercise", "must name a function of the module, e.g. 'exercise'")
            exercise = None
        threads = check.integer(row, "threads", f"{key}.threads", 1, 1)
        wheels.append(
            WheelSpec(
                id=wheel_id,
                fixture=fixture,
                fixture_dir=fixture_dir or Path(fixture),
                toolchain=options[0] if options else "",
                toolchain_options=options,
                link=link,
                module=module,
                exercise=exercise,
                threads=threads,
            )
        )
    modules = [w.module for w in wheels]
    for dup in sorted({m for m in modules if modules.count(m) > 1}):
        check.add("wheels", f"two wheels build module {dup!r}; give one a `module` name")
    variants = 1
    for wheel in wheels:
        variants *= max(1, len(wheel.toolchain_options))
    if variants > MAX_VARIANTS:
        check.add(
            "wheels", f"the toolchain lists make {variants} wheel sets; at most {MAX_VARIANTS}"
        )
    if len(wheels) > MAX_EXHAUSTIVE:
        check.add(
            "wheels",
            f"{len(wheels)} wheels make {len(wheels)}! orders; at most {MAX_EXHAUSTIVE} are "
            "supported until sequence covering arrays land; split the set",
        )
    return tuple(wheels)


def dlopen_problem(mode: str, ids: tuple[str, ...]) -> str | None:
    """Why `mode` is not a dlopen mode for these wheel ids, or None."""
    if mode in (LOCAL, GLOBAL_ALL):
        return None
    if mode.startswith(GLOBAL_PREFIX):
        wheel_id = mode.removeprefix(GLOBAL_PREFIX)
        if wheel_id in ids:
            return None
        return f"{mode!r} names no wheel; wheel ids: {', '.join(ids)}"
    return f"{mode!r} is not a dlopen mode; use local, global-all or global:<wheel id>"


def _matrix(table: dict[str, Any], check: Checker, ids: tuple[str, ...]) -> Matrix:
    check.unknown_keys(table, MATRIX_KEYS, "matrix")
    targets = check.strings(table, "targets", "matrix.targets", (HOST_TARGET,))
    arch = check.strings(table, "arch", "matrix.arch", ("x86_64",))
    for value in arch:
        if value not in ARCHES:
            check.add("matrix.arch", f"unknown arch {value!r}; valid: {', '.join(ARCHES)}")
    dlopen = check.strings(table, "dlopen", "matrix.dlopen", (LOCAL,))
    for mode in dlopen:
        problem = dlopen_problem(mode, ids)
        if problem:
            check.add("matrix.dlopen", problem)
    hosts = check.strings(table, "host", "matrix.host", (HostMode.PLAIN,))
    for host in hosts:
        if host not in set(HostMode):
            check.add("matrix.host", f"unknown host mode {host!r}; valid: {', '.join(HostMode)}")
    first_use = check.strings(table, "first_use", "matrix.first_use", DEFAULT_FIRST_USE)
    for value in first_use:
        if value not in set(FirstUse):
            check.add("matrix.first_use", f"unknown mode {value!r}; valid: {', '.join(FirstUse)}")
    return Matrix(
        first_use=tuple(FirstUse(v) for v in first_use if v in set(FirstUse)) or DEFAULT_FIRST_USE,
        targets=targets,
        arch=arch,
        dlopen=dlopen,
        host=tuple(HostMode(h) for h in hosts if h in set(HostMode)),
        repeat=check.integer(table, "repeat", "matrix.repeat", 1, 1),
        timeout_s=check.number(table, "timeout", "matrix.timeout", 30.0),
        victims=check.boolean(table, "victims", "matrix.victims", True),
    )


def _expectations(
    raw: Any, check: Checker, ids: tuple[str, ...], varying: dict[str, tuple[str, ...]]
) -> tuple[Expectation, ...]:
    if not isinstance(raw, list):
        check.add("expect", "must be an array of tables: [[expect]]")
        return ()
    out: list[Expectation] = []
    for index, row in enumerate(raw):
        key = f"expect[{index}]"
        if not isinstance(row, dict):
            check.add(key, "must be a table")
            continue
        check.unknown_keys(row, EXPECT_KEYS, key)
        when = _selector(
            check.table(row, "when", f"{key}.when"), check, f"{key}.when", ids, varying
        )
        verdict = check.string(row, "verdict", f"{key}.verdict")
        if verdict and verdict not in set(Verdict):
            check.add(f"{key}.verdict", f"unknown verdict {verdict!r}; valid: {', '.join(Verdict)}")
            verdict = ""
        subkind = row.get("subkind")
        if subkind is not None and subkind not in set(ImportErrorKind):
            check.add(f"{key}.subkind", f"must be one of {', '.join(ImportErrorKind)}")
            subkind = None
        if subkind is not None and verdict != Verdict.IMPORT_ERROR:
            check.add(f"{key}.subkind", "only an import-error verdict has a subkind")
        if out and out[-1].when.unconditional:
            check.add(key, "comes after the unconditional default expectation, so it never applies")
        out.append(
            Expectation(
                when=when,
                verdict=Verdict(verdict or Verdict.PASS),
                subkind=ImportErrorKind(subkind) if subkind else None,
                reason=check.string(row, "reason", f"{key}.reason", ""),
            )
        )
    return tuple(out)


def _selector(
    table: dict[str, Any],
    check: Checker,
    key: str,
    ids: tuple[str, ...],
    varying: dict[str, tuple[str, ...]],
) -> Selector:
    check.unknown_keys(table, WHEN_KEYS, key)
    order = check.strings(table, "order", f"{key}.order")
    if order and sorted(order) != sorted(ids):
        check.add(
            f"{key}.order",
            f"must list every wheel id once ({', '.join(ids)}); "
            "use `before = [x, y]` to say only that x is imported before y",
        )
    before = check.strings(table, "before", f"{key}.before")
    unknown = [b for b in before if b not in ids]
    if unknown or len(set(before)) != len(before) or len(before) == 1:
        check.add(
            f"{key}.before", f"must list two or more distinct wheel ids from {', '.join(ids)}"
        )
    dlopen = check.strings(table, "dlopen", f"{key}.dlopen")
    for mode in dlopen:
        problem = dlopen_problem(mode, ids)
        if problem:
            check.add(f"{key}.dlopen", problem)
    host = check.strings(table, "host", f"{key}.host")
    for value in host:
        if value not in set(HostMode):
            check.add(f"{key}.host", f"unknown host mode {value!r}; valid: {', '.join(HostMode)}")
    toolchain: list[tuple[str, tuple[str, ...]]] = []
    for wheel_id, value in check.table(table, "toolchain", f"{key}.toolchain").items():
        where = f"{key}.toolchain.{wheel_id}"
        if wheel_id not in varying:
            check.add(
                where,
                "only wheels with a list of toolchains can be selected: "
                f"{', '.join(varying) or 'none'}",
            )
            continue
        chosen = check.strings({"v": value}, "v", where)
        unknown = [t for t in chosen if t not in varying[wheel_id]]
        if unknown:
            check.add(
                where,
                f"{', '.join(unknown)} not in wheel {wheel_id!r}'s toolchains: "
                f"{', '.join(varying[wheel_id])}",
            )
        toolchain.append((wheel_id, chosen))
    used_before = check.strings(table, "used_before", f"{key}.used_before")
    if used_before and (
        len(set(used_before)) != len(used_before)
        or len(used_before) == 1
        or any(u not in ids for u in used_before)
    ):
        check.add(
            f"{key}.used_before", f"must list two or more distinct wheel ids from {', '.join(ids)}"
        )
    return Selector(
        used_before=used_before,
        toolchain=tuple(toolchain),
        target=check.strings(table, "target", f"{key}.target"),
        arch=check.strings(table, "arch", f"{key}.arch"),
        dlopen=dlopen,
        host=host,
        order=order,
        before=before,
    )
