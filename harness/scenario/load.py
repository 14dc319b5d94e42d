"""Scenario files: TOML in, a validated frozen `Scenario` out, every problem reported at once."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol, assert_never

from packaging.requirements import InvalidRequirement, Requirement

from harness.common.ids import (
    DLOPEN_MODES,
    GLOBAL_ALL,
    GLOBAL_FIRST,
    GLOBAL_PREFIX,
    LOCAL,
    SCENARIO_NAME_RE,
    WHEEL_ID_RE,
    Variant,
)
from harness.common.verdicts import FailureKind, ImportErrorKind, Verdict
from harness.errors import InputError
from harness.scenario import vocabulary
from harness.scenario.first_use import DEFAULT as DEFAULT_FIRST_USE
from harness.scenario.first_use import FirstUse
from harness.scenario.tomlload import Checker, read_toml
from harness.scenario.user_imports import imports_for

HOST_TARGET: Final = "host"
ARCHES: Final = ("x86_64", "aarch64", "i686", "ppc64le", "s390x")
MAX_EXHAUSTIVE: Final = 6
# With `orders = { cover = t }`: strengths and wheel counts the covering-array search handles
# in seconds (harness/scenario/covering.py).
COVER_STRENGTHS: Final = (2, 3, 4)
MAX_COVERED: Final = 32
MAX_VARIANTS: Final = 100


class ToolchainTable(Protocol):
    """What loading checks wheels against: `harness.build.toolchains.Catalogue`, passed in by
    the caller so that this stage does not reach into the build stage."""

    @property
    def toolchains(self) -> Mapping[str, Any]: ...

    def check_combination(self, toolchain: Any, links: Sequence[str]) -> str | None: ...


@dataclass(frozen=True)
class _NoToolchains:
    """The table of a scenario made only of given wheels (`check`): no toolchain is valid."""

    toolchains: Mapping[str, Any] = field(default_factory=dict)

    def check_combination(self, toolchain: Any, links: Sequence[str]) -> str | None:
        return "no toolchains are available here"


NO_TOOLCHAINS: Final = _NoToolchains()


class HostMode(StrEnum):
    """What kind of program hosts the interpreter."""

    PLAIN = "plain"
    PRELOAD_LIBSTDCXX = "preload-libstdcxx"


class OrderMode(StrEnum):
    """`[matrix] orders`: which import orders run. `cover` is spelled `{ cover = t }`."""

    ALL = "all"  # every order of the whole set (n!)
    PAIRS = "pairs"  # both orders of every pair (n·(n-1))
    COVER = "cover"  # a t-way sequence covering array (`Matrix.cover` is t)


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
    wheel: Path | None = None  # a given .whl file, used as it is instead of a built fixture
    requirement: str = ""  # a requirement downloaded ahead into a wheelhouse (`pip download`)
    constraints: tuple[Path, ...] = ()  # the scenario's pip constraint files, for that download
    modules: tuple[str, ...] = ()  # what to import, when more than `module`

    @property
    def prebuilt(self) -> bool:
        """Whether the wheel is given (a file or a requirement) rather than built."""
        return self.wheel is not None or bool(self.requirement)

    @property
    def imports(self) -> tuple[str, ...]:
        """The modules a cell imports for this wheel, in this order."""
        return self.modules or ((self.module,) if self.module else ())

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
    orders: OrderMode = OrderMode.ALL
    cover: int | None = None  # the strength t when `orders` is cover
    first_use: tuple[FirstUse, ...] = DEFAULT_FIRST_USE
    singletons: bool = False  # also run each wheel alone (plan.py), for attribution

    def __post_init__(self) -> None:
        assert (self.orders == OrderMode.COVER) == (self.cover is not None), self


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
    failure_kind: tuple[FailureKind, ...] = ()  # known when the run ends (attribution)

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
    exercise: str = ""  # Python code run after every import and exercise (a first use)

    @property
    def wheel_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self.wheels)

    @property
    def variants(self) -> tuple[Variant, ...]:
        """One per combination of toolchains (`a=gcc-10+b=gcc-12`); the empty one for one set."""
        varying = [w for w in self.wheels if w.varies]
        return tuple(
            Variant(choices=tuple((w.id, t) for w, t in zip(varying, combo, strict=True)))
            for combo in itertools.product(*(w.toolchain_options for w in varying))
        )

    def variant(self, variant: Variant) -> Scenario:
        """This scenario with each varying wheel's toolchain fixed as the variant says."""
        if not variant:
            return self
        chosen = variant.toolchains
        wheels = tuple(
            replace(w, toolchain=chosen[w.id], toolchain_options=(chosen[w.id],))
            if w.id in chosen
            else w
            for w in self.wheels
        )
        return replace(self, wheels=wheels)

    def wheel(self, wheel_id: str) -> WheelSpec:
        return next(w for w in self.wheels if w.id == wheel_id)


# The keys each table accepts, with their kinds and defaults, are data:
# resources/scenario_keys.toml (harness/scenario/vocabulary.py), also behind the JSON Schema.
MODULE_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
IDENTIFIER_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WHEEL_SUFFIX: Final = ".whl"


def keys(table: str) -> set[str]:
    """The keys a table of the file accepts (`top` for the document itself)."""
    return vocabulary.tables()[table].names


def fixture_roots(scenario_path: Path) -> tuple[Path, ...]:
    """Where fixture names are looked up: `fixtures/cpp` beside the scenario's folder or one
    of the two above it (for scenarios in subfolders), then in the working directory."""
    parents = scenario_path.resolve().parents
    roots = [parent / "fixtures" / "cpp" for parent in list(parents)[1:4]]
    roots.append(Path.cwd() / "fixtures" / "cpp")
    return tuple(dict.fromkeys(roots))


def load_scenario(path: Path, catalogue: ToolchainTable, cover: int | None = None) -> Scenario:
    """Read and validate one scenario file; raise `InvalidInputFile` listing every problem.
    `catalogue` is the toolchain table (`harness.build.toolchains.load_catalogue()`), against
    which toolchain names and link modes are checked. `cover` (the CLI's --cover) replaces the
    file's `[matrix] orders`."""
    document = read_toml(path)
    check = Checker(path)
    check.unknown_keys(document, keys("top"), "")
    name = check.string(document, "name", "name")
    if isinstance(document.get("name"), str) and not SCENARIO_NAME_RE.match(name):
        check.add("name", "use lower-case letters, digits and dashes (it becomes part of cell ids)")
    description = check.string(document, "description", "description")
    requirement = check.string(document, "requirement", "requirement", "")

    wheels = _wheels(document.get("wheels"), check, catalogue, fixture_roots(path), path.parent)
    wheels = _constrained(
        wheels, check.strings(document, "constraints", "constraints"), check, path
    )
    ids = tuple(w.id for w in wheels)
    matrix = _matrix(check.table(document, "matrix", "matrix"), check, ids)
    if cover is not None:
        matrix = replace(matrix, orders=OrderMode.COVER, cover=cover)
    _check_orders(matrix, len(wheels), check, "--cover" if cover else "matrix.orders")
    varying = {w.id: w.toolchain_options for w in wheels if w.varies}
    expectations = _expectations(document.get("expect", []), check, ids, varying)
    exercise = check.string(document, "exercise", "exercise", "")
    if exercise:
        try:
            compile(exercise, f"{path}:exercise", "exec")
        except SyntaxError as exc:
            check.add("exercise", f"is not valid Python: {exc.msg} (line {exc.lineno})")
    check.raise_if_any()
    return Scenario(
        path=path,
        name=name,
        description=description,
        requirement=requirement,
        wheels=wheels,
        matrix=matrix,
        expectations=expectations,
        exercise=exercise,
    )


def _constrained(
    wheels: tuple[WheelSpec, ...], names: tuple[str, ...], check: Checker, path: Path
) -> tuple[WheelSpec, ...]:
    """The wheels, each requirement carrying the scenario's constraint files (relative to it)."""
    files = tuple((path.parent / name).resolve() for name in names)
    for file in files:
        if not file.is_file():
            check.add("constraints", f"no file at {file}; give the path of a pip constraints file")
    if files and not any(w.requirement for w in wheels):
        check.add(
            "constraints",
            "constrains only what is downloaded, and no wheel is given as a `requirement`",
        )
    return tuple(replace(w, constraints=files) if w.requirement else w for w in wheels)


def _wheels(
    raw: Any, check: Checker, catalogue: ToolchainTable, roots: tuple[Path, ...], base: Path
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
        if "wheel" in row or "requirement" in row:
            wheels.append(_prebuilt(row, check, key, base, seen))
            continue
        check.unknown_keys(row, keys("wheel"), key)
        wheel_id = check.string(row, "id", f"{key}.id")
        bad_id = isinstance(row.get("id"), str) and not WHEEL_ID_RE.match(wheel_id)
        if bad_id:
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
        # A module name made from a bad id is that id's problem, reported once above.
        derived = "module" not in row
        valid_module = IDENTIFIER_RE.match(module)
        if (
            isinstance(row.get("module", module), str)
            and not valid_module
            and not (bad_id and derived)
        ):
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
    modules = [m for w in wheels for m in w.imports]
    for dup in sorted({m for m in modules if modules.count(m) > 1}):
        check.add("wheels", f"two wheels build module {dup!r}; give one a `module` name")
    variants = 1
    for wheel in wheels:
        variants *= max(1, len(wheel.toolchain_options))
    if variants > MAX_VARIANTS:
        check.add(
            "wheels", f"the toolchain lists make {variants} wheel sets; at most {MAX_VARIANTS}"
        )
    return tuple(wheels)


def _prebuilt(
    row: dict[str, Any], check: Checker, key: str, base: Path, seen: set[str]
) -> WheelSpec:
    """A [[wheels]] row naming a given wheel: `wheel = "x.whl"` or `requirement = "numpy"`."""
    check.unknown_keys(row, keys("prebuilt"), key)
    wheel_id = check.string(row, "id", f"{key}.id")
    if isinstance(row.get("id"), str) and not WHEEL_ID_RE.match(wheel_id):
        check.add(f"{key}.id", "use a lower-case letter, then letters, digits or _")
    elif wheel_id in seen:
        check.add(f"{key}.id", f"duplicate id {wheel_id!r}; each wheel needs its own")
    seen.add(wheel_id)
    wheel: Path | None = None
    requirement = ""
    if "wheel" in row and "requirement" in row:
        check.add(key, "give either `wheel` (a .whl file) or `requirement`, not both")
    elif "wheel" in row:
        wheel = base / check.string(row, "wheel", f"{key}.wheel")
        if wheel.suffix != WHEEL_SUFFIX or not wheel.is_file():
            check.add(f"{key}.wheel", f"no wheel file at {wheel}; give the path of a .whl file")
    else:
        requirement = check.string(row, "requirement", f"{key}.requirement")
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            check.add(f"{key}.requirement", f"not a requirement specifier: {exc}")
    modules = check.strings(row, "modules", f"{key}.modules")
    for module in modules:
        if not MODULE_RE.match(module):
            check.add(f"{key}.modules", f"{module!r} is not a dotted Python module name")
    if wheel is not None and not modules and wheel.is_file():
        try:
            modules = imports_for(wheel)
        except InputError as exc:
            check.add(f"{key}.wheel", str(exc))
            modules = ("",)
        if not modules:
            check.add(f"{key}.wheel", nothing_to_import(wheel.name))
    exercise = row.get("exercise")
    if exercise is not None and (not isinstance(exercise, str) or not exercise.isidentifier()):
        check.add(f"{key}.exercise", "must name a function of the first module, e.g. 'exercise'")
        exercise = None
    return WheelSpec(
        id=wheel_id,
        fixture="",
        fixture_dir=Path(),
        toolchain="",
        link=(),
        module=modules[0] if modules else "",
        modules=tuple(m for m in modules if m),
        exercise=exercise,
        threads=check.integer(row, "threads", f"{key}.threads", 1, 1),
        wheel=wheel.resolve() if wheel is not None and wheel.is_file() else wheel,
        requirement=requirement,
    )


def nothing_to_import(wheel: str) -> str:
    """The problem of a wheel without a package or module to import (only data, or only
    tests): what the loader and the runner say."""
    return (
        f"{wheel} holds no Python package or module to import (only data or tests?); "
        "name what to import with `modules` (check: --import ID=module), or, when it is only "
        "another wheel's dependency (nvidia-nccl-cu12 of xgboost), leave it out and give that "
        "wheel as a requirement with --download (a `requirement` row), so pip installs it"
    )


def _check_orders(matrix: Matrix, n: int, check: Checker, key: str) -> None:
    """Every order (n!) up to MAX_EXHAUSTIVE wheels; beyond that pairs or a covering array."""
    cover = matrix.cover
    match matrix.orders:
        case OrderMode.ALL:
            if n > MAX_EXHAUSTIVE:
                check.add(
                    "wheels",
                    f"{n} wheels make {n}! orders; every order is run for at most "
                    f"{MAX_EXHAUSTIVE} wheels; set `[matrix] orders = {{ cover = 3 }}` (or "
                    '--cover 3) to run a sequence covering array instead, orders = "pairs" for '
                    "both orders of every pair, or split the set",
                )
            return
        case OrderMode.PAIRS:
            return
        case OrderMode.COVER:
            assert cover is not None
        case _:
            assert_never(matrix.orders)
    if cover not in COVER_STRENGTHS:
        check.add(key, f"cover must be one of {', '.join(map(str, COVER_STRENGTHS))}")
    elif n > MAX_COVERED:
        check.add("wheels", f"{n} wheels; a covering array handles at most {MAX_COVERED}")
    elif cover >= n and n > MAX_EXHAUSTIVE:
        check.add(key, f"cover = {cover} with {n} wheels means all {n}! orders; use less")


def _orders(raw: Any, check: Checker) -> dict[str, Any]:
    """`orders = "all"` (the default), `"pairs"` or `{ cover = t }`, as Matrix fields."""
    if raw is None:
        return {"orders": OrderMode.ALL, "cover": None}
    if raw in (OrderMode.ALL, OrderMode.PAIRS):
        return {"orders": OrderMode(raw), "cover": None}
    if isinstance(raw, dict) and set(raw) == {OrderMode.COVER}:
        value = raw[OrderMode.COVER]
        if isinstance(value, int) and not isinstance(value, bool):
            return {"orders": OrderMode.COVER, "cover": value}
    check.add(
        "matrix.orders",
        'use "all" (every order), "pairs" (both orders of every pair) or { cover = t } (a '
        f"t-way sequence covering array, t in {', '.join(map(str, COVER_STRENGTHS))})",
    )
    return {"orders": OrderMode.ALL, "cover": None}


def dlopen_problem(mode: str, ids: tuple[str, ...]) -> str | None:
    """Why `mode` is not a dlopen mode for these wheel ids, or None."""
    if mode in (LOCAL, GLOBAL_ALL, GLOBAL_FIRST):
        return None
    if mode.startswith(GLOBAL_PREFIX):
        wheel_id = mode.removeprefix(GLOBAL_PREFIX)
        if wheel_id in ids:
            return None
        return f"{mode!r} names no wheel; wheel ids: {', '.join(ids)}"
    return f"{mode!r} is not a dlopen mode; use {DLOPEN_MODES}"


def _matrix(table: dict[str, Any], check: Checker, ids: tuple[str, ...]) -> Matrix:
    check.unknown_keys(table, keys("matrix"), "matrix")
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
        singletons=check.boolean(table, "singletons", "matrix.singletons", False),
        **_orders(table.get("orders"), check),
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
        check.unknown_keys(row, keys("expect"), key)
        when = _selector(
            check.table(row, "when", f"{key}.when"), check, f"{key}.when", ids, varying
        )
        verdict = check.string(row, "verdict", f"{key}.verdict")
        if isinstance(row.get("verdict"), str) and verdict not in set(Verdict):
            check.add(f"{key}.verdict", f"unknown verdict {verdict!r}; valid: {', '.join(Verdict)}")
            verdict = ""
        subkind = row.get("subkind")
        if subkind is not None and subkind not in tuple(ImportErrorKind):
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
    check.unknown_keys(table, keys("when"), key)
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
    kinds = check.strings(table, "failure_kind", f"{key}.failure_kind")
    for value in kinds:
        if value not in set(FailureKind):
            check.add(
                f"{key}.failure_kind",
                f"unknown failure kind {value!r}; valid: {', '.join(FailureKind)}",
            )
    return Selector(
        failure_kind=tuple(FailureKind(k) for k in kinds if k in set(FailureKind)),
        used_before=used_before,
        toolchain=tuple(toolchain),
        target=check.strings(table, "target", f"{key}.target"),
        arch=check.strings(table, "arch", f"{key}.arch"),
        dlopen=dlopen,
        host=host,
        order=order,
        before=before,
    )
