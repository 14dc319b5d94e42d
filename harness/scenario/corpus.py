"""Atlas corpus files: TOML in, a validated frozen `Corpus` out, every problem reported at once.

A corpus lists the wheels `wheelclash atlas` pairs: one `[[wheel]]` table each, with a pinned
`requirement` (or, for tests and local builds, a `wheel` file), optionally the modules to
import and a short exercise of its native code. The keys are data
(harness/resources/corpus_keys.toml); a bad file gets the file, the key and what to do, like a
bad scenario file.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from harness import paths
from harness.common.ids import SCENARIO_NAME_RE, WHEEL_ID_RE
from harness.scenario.from_wheels import wheel_id_for
from harness.scenario.load import MODULE_RE
from harness.scenario.tomlload import Checker, read_toml

PINNED_OPERATORS: Final = ("==", "===")
# Between the two wheel ids of a pair's scenario name: `fiona--rasterio`.
PAIR_SEPARATOR: Final = "--"


@dataclass(frozen=True, kw_only=True)
class CorpusKey:
    name: str
    kind: str
    description: str
    default: Any = None


@functools.cache
def corpus_keys() -> dict[str, dict[str, CorpusKey]]:
    """The keys of a corpus file by table (`top`, `wheel`), from corpus_keys.toml."""
    document = read_toml(paths.CORPUS_KEYS)
    check = Checker(paths.CORPUS_KEYS)
    out: dict[str, dict[str, CorpusKey]] = {}
    for table, keys in document.items():
        out[table] = {}
        for name, raw in keys.items():
            where = f"{table}.{name}"
            check.unknown_keys(raw, {"kind", "description", "default"}, where)
            out[table][name] = CorpusKey(
                name=name,
                kind=check.string(raw, "kind", f"{where}.kind"),
                description=check.string(raw, "description", f"{where}.description"),
                default=raw.get("default"),
            )
    check.raise_if_any()
    return out


@dataclass(frozen=True, kw_only=True)
class CorpusWheel:
    """One wheel of the corpus: where it comes from, what to import, how to use it."""

    id: str
    project: str  # the canonical project name
    requirement: str = ""  # a pinned requirement, or
    wheel: Path | None = None  # a local .whl file (absolute)
    imports: tuple[str, ...] = ()  # empty: the wheel's public packages, read from it
    exercise: str = ""
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Corpus:
    path: Path
    name: str
    description: str
    timeout_s: float
    victims: bool
    wheels: tuple[CorpusWheel, ...]

    def pairs(self) -> Iterator[tuple[CorpusWheel, CorpusWheel]]:
        """Every unordered pair, in corpus order; each runs in both orders."""
        return itertools.combinations(self.wheels, 2)

    def wheel(self, wheel_id: str) -> CorpusWheel:
        return next(w for w in self.wheels if w.id == wheel_id)


def pair_name(a: str, b: str) -> str:
    """The scenario name of the pair of wheel ids `a` and `b`, the same in either order:
    `fiona--rasterio`. A scenario name has no `_`, so a wheel id's become `-`."""
    first, second = sorted((a, b))
    return f"{first.replace('_', '-')}{PAIR_SEPARATOR}{second.replace('_', '-')}"


def _pinned(text: str) -> str:
    """Why `text` is not a pinned requirement, or ''."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        return f"{text!r} is not a requirement ({exc}); write name==version"
    if requirement.url:
        return f"{text!r} is a URL requirement; give name==version, or a local file as `wheel`"
    specifiers = list(requirement.specifier)
    pinned = (
        len(specifiers) == 1
        and specifiers[0].operator in PINNED_OPERATORS
        and "*" not in specifiers[0].version
    )
    if not pinned:
        return (
            f"{text!r} is not pinned; an atlas edition must say which version it ran: write "
            f"{requirement.name}==<version>"
        )
    return ""


def _wheel_entry(
    raw: Any, index: int, check: Checker, base: Path, allowed: set[str]
) -> CorpusWheel | None:
    key = f"wheel[{index}]"
    if not isinstance(raw, dict):
        check.add(key, "must be a table: write [[wheel]] and its keys under it")
        return None
    check.unknown_keys(raw, allowed, key)
    has_requirement, has_wheel = "requirement" in raw, "wheel" in raw
    if has_requirement == has_wheel:
        check.add(
            key,
            "give exactly one of requirement (a pinned name==version) and wheel (a local .whl "
            "file)",
        )
        return None
    project = ""
    requirement = ""
    wheel: Path | None = None
    if has_requirement:
        requirement = check.string(raw, "requirement", f"{key}.requirement")
        problem = _pinned(requirement) if requirement else ""
        if problem:
            check.add(f"{key}.requirement", problem)
        elif requirement:
            project = canonicalize_name(Requirement(requirement).name)
    else:
        text = check.string(raw, "wheel", f"{key}.wheel")
        if text:
            wheel = (base / text).resolve()
            if not text.endswith(".whl"):
                check.add(f"{key}.wheel", f"{text!r} is not a .whl file name")
            elif not wheel.is_file():
                check.add(
                    f"{key}.wheel", f"no such file {wheel}; the path is relative to the corpus"
                )
            else:
                try:
                    project = str(parse_wheel_filename(wheel.name)[0])
                except InvalidWheelFilename as exc:
                    check.add(f"{key}.wheel", f"{text!r} is not a wheel file name ({exc})")
    wheel_id = check.string(raw, "id", f"{key}.id", wheel_id_for(project) if project else "")
    if "id" in raw and wheel_id and not WHEEL_ID_RE.match(wheel_id):
        check.add(f"{key}.id", f"{wheel_id!r}: a lower-case letter, then a-z, 0-9 and _")
    imports = check.strings(raw, "imports", f"{key}.imports")
    if "imports" in raw and not imports:
        check.add(f"{key}.imports", "lists no module; leave it out to import the public packages")
    for module in imports:
        if not MODULE_RE.match(module):
            check.add(f"{key}.imports", f"{module!r} is not a dotted Python module name")
    exercise = check.string(raw, "exercise", f"{key}.exercise", "")
    if exercise:
        try:
            compile(exercise, f"{key}.exercise", "exec")
        except SyntaxError as exc:
            check.add(
                f"{key}.exercise", f"is not Python: {exc.msg} (line {exc.lineno} of the code)"
            )
    note = check.string(raw, "note", f"{key}.note", "")
    if not project or not wheel_id:
        return None
    return CorpusWheel(
        id=wheel_id,
        project=project,
        requirement=requirement,
        wheel=wheel,
        imports=imports,
        exercise=exercise,
        note=note,
    )


def _duplicates(wheels: list[tuple[int, CorpusWheel]], check: Checker) -> None:
    first_of_id: dict[str, int] = {}
    first_of_project: dict[str, int] = {}
    for index, wheel in wheels:
        if wheel.id in first_of_id:
            check.add(
                f"wheel[{index}].id",
                f"{wheel.id!r} is the id of wheel[{first_of_id[wheel.id]}] too; give one of "
                "them another `id`",
            )
        else:
            first_of_id[wheel.id] = index
        if wheel.project in first_of_project:
            check.add(
                f"wheel[{index}]",
                f"{wheel.project} is wheel[{first_of_project[wheel.project]}] too; a pair of "
                "two versions of one project cannot be installed together, keep one",
            )
        else:
            first_of_project[wheel.project] = index
    names: dict[str, tuple[str, str]] = {}
    for (_, a), (_, b) in itertools.combinations(wheels, 2):
        name = pair_name(a.id, b.id)
        if name in names and set(names[name]) != {a.id, b.id}:
            check.add(
                "wheel",
                f"the pairs {'/'.join(names[name])} and {a.id}/{b.id} would share the scenario "
                f"name {name!r}; give one wheel another `id`",
            )
        names.setdefault(name, (a.id, b.id))


def load_corpus(path: Path) -> Corpus:
    """The corpus in `path`, or one `InvalidInputFile` listing every problem in it."""
    document = read_toml(path)
    keys = corpus_keys()
    check = Checker(path)
    check.unknown_keys(document, set(keys["top"]), "")
    name = check.string(document, "name", "name", path.stem.lower().replace("_", "-"))
    if name and not SCENARIO_NAME_RE.match(name):
        told = "name" in document
        check.add(
            "name",
            f"{name!r}{'' if told else ' (from the file name)'}: use lower-case letters, digits "
            'and dashes, e.g. name = "popular-wheels"',
        )
    description = check.string(document, "description", "description", "")
    timeout = check.number(document, "timeout", "timeout", keys["top"]["timeout"].default)
    victims = check.boolean(document, "victims", "victims", keys["top"]["victims"].default)
    raw = document.get("wheel")
    entries: list[tuple[int, CorpusWheel]] = []
    if not isinstance(raw, list):
        check.add("wheel", "missing: list the wheels as [[wheel]] tables")
    else:
        for index, item in enumerate(raw):
            found = _wheel_entry(item, index, check, path.parent, set(keys["wheel"]))
            if found is not None:
                entries.append((index, found))
        if len(raw) < 2:
            check.add("wheel", f"holds {len(raw)} wheel(s); an atlas pairs two or more")
    _duplicates(entries, check)
    check.raise_if_any()
    return Corpus(
        path=path,
        name=name,
        description=description,
        timeout_s=timeout,
        victims=victims,
        wheels=tuple(w for _, w in entries),
    )
